"""Undoing a review decision from the console: the same officer within the window, audited, the prior state back."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage.models import Alert, AuditEvent, Checkin
from supervision.reviews import UNDO_WINDOW
from tests.console.conftest import PASSWORD, Console
from tests.console.helpers import audit_actions, make_alert, make_checkin
from tests.factories import make_officer


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _state(db_session: Any, checkin_id: int) -> tuple[Any, ...]:
    db_session.rollback()
    row = db_session.get(Checkin, checkin_id, populate_existing=True)
    return (row.status, row.review_decision, row.review_note, row.reviewed_by_id, row.reviewed_at)


def test_accept_offers_undo_and_the_same_officer_takes_it_back(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    before = _state(db_session, checkin.id)

    page = _text(officer_console.post(f"/console/checkins/{checkin.id}/review",
                                      {"decision": "accept", "next": "/console/"}, follow_redirects=True))

    # The confirmation carries the undo button (a CSRF-protected form), in the notice area fixed to the window.
    assert f'action="/console/checkins/{checkin.id}/review/undo"' in page
    assert re.search(r'<div class="notices"[^>]*>.*签到 #\d+ 已确认通过.*撤销', page, re.S)
    assert _state(db_session, checkin.id)[0] == "accepted"
    clock.advance(UNDO_WINDOW - timedelta(seconds=5))

    undone = officer_console.post(f"/console/checkins/{checkin.id}/review/undo", {"next": "/console/"})

    assert undone.status_code == 303 and undone.headers["Location"].endswith(f"/console/#checkin-{checkin.id}")
    assert _state(db_session, checkin.id) == before
    queue = _text(officer_console.get("/console/"))
    assert f'id="checkin-{checkin.id}"' in queue and f"已撤销对签到 #{checkin.id} 的审核结论" in queue
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "checkin.review_undone"))
    assert (event.actor_id, event.target_id, event.person_id) == (world.officer.id, str(checkin.id), world.person.id)
    assert event.details["undone"]["status"] == "accepted" and event.details["restored"]["status"] == "needs_review"
    # Reviewable again: a new decision is taken as usual.
    again = officer_console.post(f"/console/checkins/{checkin.id}/review", {"decision": "accept", "next": "/console/"})
    assert again.status_code == 303 and _state(db_session, checkin.id)[0] == "accepted"


def test_undo_of_a_rejection_withdraws_the_alert_it_raised(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    officer_console.post(f"/console/checkins/{checkin.id}/review",
                         {"decision": "reject", "note": "不是本人", "next": "/console/"})
    db_session.rollback()
    raised = db_session.scalars(select(Alert.id).where(Alert.dedupe_key == f"face_mismatch:checkin:{checkin.id}")).all()
    assert len(raised) == 1

    officer_console.post(f"/console/checkins/{checkin.id}/review/undo", {"next": "/console/"})

    assert _state(db_session, checkin.id) == ("needs_review", None, None, None, None)
    assert db_session.get(Alert, raised[0]) is None
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "checkin.review_undone"))
    assert event.details["withdrawn_alert_ids"] == raised


def test_undo_of_a_confirmed_auto_rejection_restores_rejected(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now(), status="rejected")

    officer_console.post(f"/console/checkins/{checkin.id}/review",
                         {"decision": "reject", "note": "确认违规", "next": "/console/?status=rejected"})
    assert _state(db_session, checkin.id)[0] == "confirmed_violation"
    officer_console.post(f"/console/checkins/{checkin.id}/review/undo", {"next": "/console/?status=rejected"})

    assert _state(db_session, checkin.id) == ("rejected", None, None, None, None)


def test_undo_after_the_window_is_refused_with_a_message(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    officer_console.post(f"/console/checkins/{checkin.id}/review", {"decision": "accept", "next": "/console/"})
    decided = _state(db_session, checkin.id)
    clock.advance(UNDO_WINDOW + timedelta(seconds=1))

    page = _text(officer_console.post(f"/console/checkins/{checkin.id}/review/undo", {"next": "/console/"},
                                      follow_redirects=True))

    assert f"无法撤销对签到 #{checkin.id} 的审核：已超过可撤销的时限。" in page
    assert _state(db_session, checkin.id) == decided
    assert "checkin.review_undone" not in [a for a, _, _ in audit_actions(db_session)]


def test_another_officer_cannot_undo_the_decision(app, officer_console, world, db_session, blobs, clock):
    make_officer(db_session, world.office, "officer3", password=PASSWORD)
    db_session.commit()
    checkin = make_checkin(db_session, blobs, world.person, clock.now())
    officer_console.post(f"/console/checkins/{checkin.id}/review", {"decision": "accept", "next": "/console/"})
    decided = _state(db_session, checkin.id)
    colleague = Console(app.test_client())
    assert colleague.login("officer3").status_code == 303

    page = _text(colleague.post(f"/console/checkins/{checkin.id}/review/undo", {"next": "/console/"},
                                follow_redirects=True))

    assert "只有作出该决定的工作人员本人可以撤销" in page
    assert _state(db_session, checkin.id) == decided
    # An officer of another office does not learn that the check-in exists.
    outsider = Console(app.test_client())
    assert outsider.login("officer2").status_code == 303
    assert outsider.post(f"/console/checkins/{checkin.id}/review/undo", {"next": "/console/"}).status_code == 404
    # Nor does a post without the CSRF token change anything.
    assert colleague.client.post(f"/console/checkins/{checkin.id}/review/undo", data={}).status_code == 400
    assert _state(db_session, checkin.id) == decided


def test_nothing_to_undo_on_an_undecided_check_in(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())

    page = _text(officer_console.post(f"/console/checkins/{checkin.id}/review/undo", {"next": "/console/"},
                                      follow_redirects=True))

    assert "该签到没有可撤销的审核结论" in page
    assert _state(db_session, checkin.id)[0] == "needs_review"


def test_a_form_error_is_shown_next_to_its_form(officer_console, world, db_session, blobs, clock):
    checkin = make_checkin(db_session, blobs, world.person, clock.now())

    page = _text(officer_console.post(f"/console/checkins/{checkin.id}/review",
                                      {"decision": "reject", "note": "", "next": "/console/"},
                                      follow_redirects=True))

    card = page.split(f'id="checkin-{checkin.id}"', 1)[1].split("</article>", 1)[0]
    form_at = card.index('class="decide"')
    assert 0 <= card.index("拒绝签到必须填写理由") < form_at
    assert page.count("拒绝签到必须填写理由") == 1  # not repeated in the notice area


def _alert(db_session: Any, alert_id: int) -> tuple[Any, ...]:
    db_session.rollback()
    row = db_session.get(Alert, alert_id, populate_existing=True)
    return (row.status, row.resolution, row.resolution_note, row.resolved_by_id, row.resolved_at)


def test_a_bulk_dismissal_can_be_undone_by_the_same_officer(officer_console, world, db_session, clock):
    first, second = make_alert(db_session, world.person, clock.now()), make_alert(db_session, world.person, clock.now())
    before = [_alert(db_session, first.id), _alert(db_session, second.id)]

    page = _text(officer_console.post("/console/alerts/dismiss", {"alert_id": [str(first.id), str(second.id)],
                                                                  "note": "同一次缺席，已说明"}, follow_redirects=True))

    undo = re.search(r'action="(/console/alerts/undo\?ids=[^"]+)"', page)
    assert undo is not None and "已忽略 2 条预警" in page
    assert _alert(db_session, first.id)[0] == "resolved"
    clock.advance(UNDO_WINDOW - timedelta(seconds=1))
    reopened = _text(officer_console.post(undo.group(1).replace("&amp;", "&"), {"next": "/console/alerts"},
                                          follow_redirects=True))

    assert "已撤销，2 条预警重新打开" in reopened
    assert [_alert(db_session, first.id), _alert(db_session, second.id)] == before
    undone = [(a, t) for a, t, _ in audit_actions(db_session) if a == "alert.resolution_undone"]
    assert undone == [("alert.resolution_undone", str(first.id)), ("alert.resolution_undone", str(second.id))]


def test_undoing_an_alert_resolution_is_refused_for_others_late_or_with_a_sanction(app, officer_console, world,
                                                                                    db_session, clock):
    make_officer(db_session, world.office, "officer3", password=PASSWORD)
    db_session.commit()
    dismissed, sanctioned = make_alert(db_session, world.person, clock.now()), make_alert(db_session, world.person,
                                                                                          clock.now())
    officer_console.post(f"/console/alerts/{dismissed.id}/resolve", {"action": "dismiss", "note": "误报"})
    officer_console.post(f"/console/alerts/{sanctioned.id}/resolve", {"action": "admonition", "note": "未按时报到"})
    colleague = Console(app.test_client())
    assert colleague.login("officer3").status_code == 303

    refused = _text(colleague.post(f"/console/alerts/undo?ids={dismissed.id}", follow_redirects=True))
    assert "无法撤销：只有作出该决定的工作人员本人可以撤销" in refused
    with_sanction = _text(officer_console.post(f"/console/alerts/undo?ids={sanctioned.id}", follow_redirects=True))
    assert "已记录奖惩决定，不能撤销" in with_sanction
    clock.advance(UNDO_WINDOW + timedelta(seconds=1))
    late = _text(officer_console.post(f"/console/alerts/undo?ids={dismissed.id}", follow_redirects=True))
    assert "已超过可撤销的时限" in late
    assert _alert(db_session, dismissed.id)[0] == "resolved" and _alert(db_session, sanctioned.id)[0] == "resolved"
    assert "alert.resolution_undone" not in [a for a, _, _ in audit_actions(db_session)]

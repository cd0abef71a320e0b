"""Sanction suggestions follow the local guidance; decisions are audited and a warning makes the level strict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storage.models import AuditEvent
from supervision import sanctions
from supervision.accounts import actor_for_account, actor_for_person
from supervision.duties import DutyPolicy
from supervision.errors import Forbidden, ValidationFailed
from supervision.sanctions import Absence, suggest_sanction
from tests.factories import make_person
from tests.supervision.conftest import LONG_AGO
from tests.supervision.helpers import add_checkin

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@dataclass
class Fact:
    kind: str
    decided_at: datetime
    corrected_at: datetime | None = None


def absent(days: float) -> Absence:
    return Absence(since=NOW - timedelta(days=days), missed_windows=max(1, int(days)))


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def kind_of(absence: Absence | None = None, history: list[Fact] | None = None) -> str | None:
    suggestion = suggest_sanction(absence=absence, history=history or [], now=NOW)
    return suggestion.kind if suggestion else None


def test_nothing_to_suggest_for_a_compliant_person():
    assert kind_of() is None


@pytest.mark.parametrize(("days", "kind", "rule"), [
    (0.5, "admonition", "absent_up_to_10_days"),
    (10, "admonition", "absent_up_to_10_days"),
    (10.1, "warning", "absent_over_10_days"),
    (30, "warning", "absent_over_10_days"),
    (30.5, "revocation_request", "absent_over_1_month"),
])
def test_absence_thresholds(days, kind, rule):
    suggestion = suggest_sanction(absence=absent(days), history=[], now=NOW)
    assert suggestion is not None
    assert (suggestion.kind, suggestion.rule) == (kind, rule)


def test_a_step_already_taken_for_this_absence_is_not_suggested_again():
    admonished = [Fact("admonition", days_ago(3))]
    assert kind_of(absent(5), admonished) is None
    # The absence goes on past 10 days: the next step is due despite the admonition.
    assert kind_of(absent(12), admonished) == "warning"
    # A sanction from before this absence does not cover it.
    assert kind_of(absent(5), [Fact("admonition", days_ago(40), corrected_at=days_ago(35))]) == "admonition"


def test_two_uncorrected_admonitions_call_for_a_warning():
    two = [Fact("admonition", days_ago(60)), Fact("admonition", days_ago(20))]
    suggestion = suggest_sanction(absence=None, history=two, now=NOW)
    assert suggestion is not None
    assert (suggestion.kind, suggestion.rule, suggestion.since) == ("warning", "two_uncorrected_admonitions",
                                                                    days_ago(20))
    corrected = [Fact("admonition", days_ago(60), corrected_at=days_ago(50)), Fact("admonition", days_ago(20))]
    assert kind_of(None, corrected) is None
    assert kind_of(None, [*two, Fact("warning", days_ago(10))]) is None


def test_two_uncorrected_warnings_call_for_revocation():
    two = [Fact("warning", days_ago(90)), Fact("warning", days_ago(30))]
    assert kind_of(None, two) == "revocation_request"
    assert kind_of(None, [two[0], Fact("warning", days_ago(30), corrected_at=days_ago(5))]) is None
    assert kind_of(None, [*two, Fact("revocation_request", days_ago(1))]) is None


def test_the_strongest_open_step_wins():
    history = [Fact("admonition", days_ago(60)), Fact("admonition", days_ago(40))]
    assert kind_of(absent(3), history) == "warning"
    warnings = [Fact("warning", days_ago(60)), Fact("warning", days_ago(40))]
    assert kind_of(absent(3), warnings) == "revocation_request"


def test_absence_is_found_from_missed_windows(db_session, office):
    person = make_person(db_session, office, "P300", supervision_level="strict", created_at=LONG_AGO)
    policy = DutyPolicy()
    # Checked in every day until 14 days ago (Shanghai 10:00), then nothing.
    for back in range(14, 40):
        add_checkin(db_session, person, NOW.replace(hour=2) - timedelta(days=back))
    absence = sanctions.find_absence(session=db_session, person=person, now=NOW, policy=policy)
    assert absence is not None
    assert absence.since == datetime(2026, 11, 17, 0, 0, tzinfo=UTC)  # the next morning's window opened
    assert absence.missed_windows == 13  # the window of the 30th is still open at 20:00 Shanghai
    suggestion = sanctions.suggest_next_step(session=db_session, person=person, now=NOW, policy=policy)
    assert suggestion is not None and suggestion.kind == "warning"


def test_no_absence_after_a_recent_checkin(db_session, office):
    person = make_person(db_session, office, "P301", supervision_level="ordinary", created_at=LONG_AGO)
    add_checkin(db_session, person, NOW - timedelta(days=1))
    assert sanctions.find_absence(session=db_session, person=person, now=NOW, policy=DutyPolicy()) is None


def audit_actions(session, person_id):
    session.rollback()
    return [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.person_id == person_id)
                                              .order_by(AuditEvent.id))]


def test_warning_moves_the_person_to_strict(db_session, office, officer):
    person = make_person(db_session, office, "P302", supervision_level="ordinary", created_at=LONG_AGO)
    actor = actor_for_account(officer)
    sanction = sanctions.record_sanction(session=db_session, actor=actor, person=person, kind="warning",
                                         note="Missed three check-ins.", now=NOW, policy=DutyPolicy())
    db_session.commit()
    assert person.supervision_level == "strict"
    assert (sanction.decided_by_id, sanction.decided_at, sanction.note) == (officer.id, NOW, "Missed three check-ins.")
    assert audit_actions(db_session, person.id) == ["sanction.recorded", "person.level_changed"]


def test_second_admonition_moves_the_person_to_strict(db_session, office, officer):
    person = make_person(db_session, office, "P303", supervision_level="lenient", created_at=LONG_AGO)
    actor = actor_for_account(officer)
    first = sanctions.record_sanction(session=db_session, actor=actor, person=person, kind="admonition",
                                      note="First.", now=NOW)
    assert person.supervision_level == "lenient"
    sanctions.correct_sanction(session=db_session, actor=actor, person_id=person.id, sanction_id=first.id,
                               note="Reported on time since.", now=NOW)
    sanctions.record_sanction(session=db_session, actor=actor, person=person, kind="admonition", note="Second.",
                              now=NOW)
    assert person.supervision_level == "lenient"  # the first one was corrected
    sanctions.record_sanction(session=db_session, actor=actor, person=person, kind="admonition", note="Third.",
                              now=NOW)
    assert person.supervision_level == "strict"


def test_a_decision_needs_a_note_and_an_officer(db_session, person, officer):
    actor = actor_for_account(officer)
    with pytest.raises(ValidationFailed):
        sanctions.record_sanction(session=db_session, actor=actor, person=person, kind="warning", note="  ", now=NOW)
    with pytest.raises(ValidationFailed):
        sanctions.record_sanction(session=db_session, actor=actor, person=person, kind="fine", note="x", now=NOW)
    with pytest.raises(Forbidden):
        sanctions.record_sanction(session=db_session, actor=actor_for_person(person), person=person, kind="warning",
                                  note="x", now=NOW)

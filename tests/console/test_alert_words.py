"""The alerts inbox in words: one absence with its count and period, and why a sanction is suggested, in zh and en."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from storage.models import Alert
from supervision.sweep import run_sweep
from tests.console.helpers import make_alert
from tests.factories import make_person


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def test_an_absence_reads_as_one_alert_with_its_count_and_period(app, officer_console, world, db_session, clock):
    absent = make_person(db_session, world.office, "P300", name="赵六", supervision_level="strict",
                         created_at=clock.now() - timedelta(days=20), start_date=date(2020, 1, 1))
    db_session.commit()
    run_sweep(session=db_session, now=clock.now(), settings=app.config["CHECKIN"])
    db_session.commit()
    [alert] = db_session.scalars(select(Alert).where(Alert.person_id == absent.id)).all()
    count = alert.evidence["missed_windows"]
    assert count >= 2  # the sweep looks back 72 hours

    page = _text(officer_console.get("/console/alerts"))

    card = page.split(f'id="alert-{alert.id}"', 1)[1].split("</article>", 1)[0]
    assert f"连续 {count} 次未签到：" in card and " 至 " in card
    assert "period_start" not in card and "window_start" not in card and "+08:00" not in card
    # The suggested step says why in Chinese, with the days out of contact.
    assert "已脱管" in card and "Out of contact" not in card
    person_page = _text(officer_console.get(f"/console/persons/{absent.id}"))
    assert f"连续 {count} 次未签到" in person_page and "Out of contact" not in person_page

    officer_console.get("/console/lang/en")
    english = _text(officer_console.get("/console/alerts"))
    assert f"{count} missed check-in windows in a row, " in english and "Out of contact for " in english


def test_an_old_one_window_alert_still_reads_in_words(officer_console, world, db_session, clock):
    alert = make_alert(db_session, world.person, clock.now())
    alert.evidence = {"date": "2026-11-30", "window_start": "2026-11-30T08:00:00+08:00",
                      "window_end": "2026-11-30T20:00:00+08:00", "level": "strict"}
    db_session.commit()

    card = _text(officer_console.get("/console/alerts")).split(f'id="alert-{alert.id}"', 1)[1]

    assert "未签到 1 次：2026-11-30 08:00 至 2026-11-30 20:00" in card.split("</article>", 1)[0]

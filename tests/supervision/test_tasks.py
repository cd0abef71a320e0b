"""Random spot checks: drawn per level from a recorded seed, so every draw can be replayed and checked."""

from __future__ import annotations

import random

from sqlalchemy import select

from storage.models import AuditEvent
from supervision import tasks
from supervision.actors import SYSTEM
from tests.factories import make_person
from tests.supervision.conftest import LONG_AGO, MONDAY_11H

POLICY = tasks.SpotCheckPolicy(random_rates={"strict": 0.5, "ordinary": 0.25, "lenient": 0.0})


def test_random_draw_is_recorded_and_replayable(db_session, office, other_office):
    people = [make_person(db_session, (office, other_office)[n % 2], f"R{n:02d}",
                          supervision_level=("strict", "ordinary", "lenient")[n % 3], created_at=LONG_AGO)
              for n in range(30)]
    busy = people[0]
    tasks.create_spot_check(session=db_session, actor=SYSTEM, person=busy, now=MONDAY_11H, policy=POLICY)
    draw = tasks.draw_spot_checks(session=db_session, actor=SYSTEM, now=MONDAY_11H, policy=POLICY, seed=42)
    db_session.commit()

    # Replay: one number per eligible person in id order, picked when below the level's rate.
    rng = random.Random(42)
    expected = {}
    for person in sorted(people[1:], key=lambda p: p.id):
        number = rng.random()
        if number < POLICY.random_rates[person.supervision_level]:
            expected[person.id] = number
    assert draw.draws == expected and expected
    assert draw.eligible == 29
    assert sorted(task.person_id for task in draw.tasks) == sorted(expected)
    assert all(task.due_at == MONDAY_11H + POLICY.respond_within for task in draw.tasks)
    assert not any(p.supervision_level == "lenient" for p in people if p.id in expected)

    events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.action == tasks.RANDOM_DRAW)))
    assert sorted(e.office_id for e in events) == sorted([office.id, other_office.id])
    logged = {int(k): v for e in events for k, v in e.details["selected"].items()}
    assert logged == expected and {e.details["seed"] for e in events} == {42}
    created = list(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "task.created",
                                                               AuditEvent.details["origin"].as_string() == "random")))
    assert {e.person_id: e.details["draw"] for e in created} == expected


def test_an_unseeded_draw_still_records_its_seed(db_session, office):
    make_person(db_session, office, "R99", supervision_level="strict", created_at=LONG_AGO)
    draw = tasks.draw_spot_checks(session=db_session, actor=SYSTEM, now=MONDAY_11H, policy=POLICY)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == tasks.RANDOM_DRAW))
    assert event is not None and event.details["seed"] == draw.seed

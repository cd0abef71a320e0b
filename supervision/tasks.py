"""Spot checks (随机抽查): officer-triggered or drawn at random, answered with a check-in before a deadline."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.enums import PersonStatus, SupervisionLevel, TaskKind, TaskStatus
from storage.models import Person, Task
from supervision import messages
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.errors import Conflict, RuleViolation, ValidationFailed
from supervision.locks import lock_person
from supervision.paging import keyset
from supervision.scope import get_in_scope, office_condition

PHONE_TASK_KINDS = (TaskKind.SPOT_CHECK, TaskKind.VIDEO_INSPECTION)
RANDOM_DRAW = "task.random_draw"


def _default_rates() -> dict[str, float]:
    return {SupervisionLevel.STRICT: 0.2, SupervisionLevel.ORDINARY: 0.05, SupervisionLevel.LENIENT: 0.0}


@dataclass(frozen=True)
class SpotCheckPolicy:
    """Deadlines of spot checks and the chance per random draw that a person of a level is picked."""

    respond_within: timedelta = timedelta(minutes=60)
    min_respond_within: timedelta = timedelta(minutes=5)
    max_respond_within: timedelta = timedelta(hours=24)
    # A task counts as missed only this long after its deadline, so an answer still uploading is not lost.
    grace: timedelta = timedelta(minutes=10)
    random_rates: Mapping[str, float] = field(default_factory=_default_rates)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SpotCheckPolicy:
        """Build the policy from CHECKIN_* settings (values may be strings, as from the environment)."""
        rates = config.get("SPOT_CHECK_RANDOM_RATES") or {}
        if isinstance(rates, str):
            rates = json.loads(rates) if rates.strip() else {}
        merged = _default_rates()
        merged.update({str(level): float(rate) for level, rate in rates.items()})
        for level, rate in merged.items():
            if level not in {member.value for member in SupervisionLevel} or not 0.0 <= rate <= 1.0:
                raise ValueError(f"SPOT_CHECK_RANDOM_RATES: {level}={rate} (levels strict/ordinary/lenient, 0..1)")
        return cls(respond_within=timedelta(minutes=float(config.get("SPOT_CHECK_RESPOND_MINUTES", 60))),
                   grace=timedelta(minutes=float(config.get("SPOT_CHECK_GRACE_MINUTES", 10))),
                   random_rates=merged)


def _has_open_spot_check(session: Session, person_id: int, now: datetime) -> bool:
    return session.scalar(select(Task.id).where(Task.person_id == person_id, Task.kind == TaskKind.SPOT_CHECK,
                                                Task.status == TaskStatus.OPEN, Task.due_at > now).limit(1)) is not None


def create_spot_check(*, session: Session, actor: Actor, person: Person, now: datetime, policy: SpotCheckPolicy,
                      respond_within: timedelta | None = None) -> Task:
    """Ask the person to check in within a deadline (default from the policy); audit-logged."""
    within = policy.respond_within if respond_within is None else respond_within
    if not policy.min_respond_within <= within <= policy.max_respond_within:
        low, high = (int(d.total_seconds() // 60) for d in (policy.min_respond_within, policy.max_respond_within))
        raise ValidationFailed({"respond_within_minutes": [f"Use {low} to {high} minutes."]})
    if person.status != PersonStatus.ACTIVE:
        raise RuleViolation("The person is no longer under supervision.", code="person_not_active")
    # Two officers pressing the button at once: the second waits for the lock, then sees the first one's task.
    lock_person(session, person.id)
    if _has_open_spot_check(session, person.id, now):
        raise Conflict("The person already has an open spot check.", code="spot_check_open")
    task = Task(person_id=person.id, office_id=person.office_id, kind=TaskKind.SPOT_CHECK, status=TaskStatus.OPEN,
                created_by_id=actor.id if actor.is_staff else None, created_at=now, due_at=now + within)
    session.add(task)
    session.flush()
    record_event(session=session, actor=actor, action=AuditAction.TASK_CREATED, at=now, person_id=person.id,
                 office_id=person.office_id, target_type="task", target_id=task.id,
                 details={"kind": task.kind, "origin": "officer", "due_at": task.due_at.isoformat(),
                          "respond_within_minutes": within.total_seconds() / 60})
    messages.on_tasks_created(session=session, tasks=[task], now=now)
    return task


def list_open_tasks(*, session: Session, person_id: int) -> list[Task]:
    """The person's open spot checks and video inspections, earliest deadline first (overdue ones included)."""
    stmt = select(Task).where(Task.person_id == person_id, Task.status == TaskStatus.OPEN,
                              Task.kind.in_(PHONE_TASK_KINDS))
    return list(session.scalars(stmt.order_by(Task.due_at, Task.id)))


def list_tasks(*, session: Session, actor: Actor, status: str | None = None, person_id: int | None = None,
               kind: str | None = None, after_id: int | None = None, limit: int = 50) -> list[Task]:
    """Tasks in the actor's scope, newest first."""
    stmt = select(Task).where(office_condition(actor, Task.office_id))
    if status:
        stmt = stmt.where(Task.status == status)
    if person_id is not None:
        stmt = stmt.where(Task.person_id == person_id)
    if kind:
        stmt = stmt.where(Task.kind == kind)
    return keyset(session, stmt, Task.id, after_id=after_id, limit=limit)


def get_task(*, session: Session, actor: Actor, task_id: int) -> Task:
    """One task the actor may see (persons: their own), else NotFound."""
    return get_in_scope(session, actor, Task, task_id, what="task")


@dataclass
class SpotCheckDraw:
    """The outcome of one random draw: enough to replay it and check it was fair."""

    seed: int
    eligible: int
    tasks: list[Task]
    draws: dict[int, float]


def _still_free(session: Session, tasks: list[Task], *, now: datetime) -> list[Task]:
    # Lock the picked persons (in id order, so two draws cannot deadlock) and look again: an officer's spot check
    # made since the first look wins, as lock_person makes every other "one open spot check" writer wait.
    for task in sorted(tasks, key=lambda t: t.person_id):
        lock_person(session, task.person_id)
    if not tasks:
        return tasks
    busy = set(session.scalars(select(Task.person_id).where(
        Task.person_id.in_([task.person_id for task in tasks]), Task.kind == TaskKind.SPOT_CHECK,
        Task.status == TaskStatus.OPEN, Task.due_at > now)))
    return [task for task in tasks if task.person_id not in busy]


def draw_spot_checks(*, session: Session, actor: Actor, now: datetime, policy: SpotCheckPolicy,
                     seed: int | None = None, office_id: int | None = None) -> SpotCheckDraw:
    """Pick persons at random by level and give each picked one a spot check; the seed and every draw are audited."""
    seed = secrets.randbits(63) if seed is None else seed
    stmt = select(Person.id, Person.office_id, Person.supervision_level).where(Person.status == PersonStatus.ACTIVE)
    if office_id is not None:
        stmt = stmt.where(Person.office_id == office_id)
    busy = set(session.scalars(select(Task.person_id).where(Task.kind == TaskKind.SPOT_CHECK,
                                                            Task.status == TaskStatus.OPEN, Task.due_at > now)))
    # Person id order and one number per eligible person make the draw reproducible from the seed alone.
    rng = random.Random(seed)
    tasks: list[Task] = []
    draws: dict[int, float] = {}
    per_office: dict[int, dict[str, Any]] = {}
    eligible = 0
    for person_id, person_office, level in session.execute(stmt.order_by(Person.id)):
        if person_id in busy:
            continue
        eligible += 1
        draw = rng.random()
        rate = policy.random_rates.get(level, 0.0)
        office_log = per_office.setdefault(person_office, {"eligible": [], "selected": {}})
        office_log["eligible"].append(person_id)
        if draw < rate:
            draws[person_id] = draw
            office_log["selected"][str(person_id)] = draw
            tasks.append(Task(person_id=person_id, office_id=person_office, kind=TaskKind.SPOT_CHECK,
                              status=TaskStatus.OPEN, created_at=now, due_at=now + policy.respond_within))
    tasks = _still_free(session, tasks, now=now)
    kept = {task.person_id for task in tasks}
    for log in per_office.values():
        # Picked, but an officer gave the person a spot check while the draw ran: that one stands.
        log["skipped_busy"] = [int(pid) for pid in log["selected"] if int(pid) not in kept]
    session.add_all(tasks)
    session.flush()
    rates = dict(policy.random_rates)
    for office, log in per_office.items():
        record_event(session=session, actor=actor, action=RANDOM_DRAW, at=now, office_id=office,
                     target_type="office", target_id=office,
                     details={"seed": seed, "rates": rates, "eligible": log["eligible"], "selected": log["selected"],
                              "office_filter": office_id})
    for task in tasks:
        record_event(session=session, actor=actor, action=AuditAction.TASK_CREATED, at=now, person_id=task.person_id,
                     office_id=task.office_id, target_type="task", target_id=task.id,
                     details={"kind": task.kind, "origin": "random", "seed": seed, "draw": draws[task.person_id],
                              "due_at": task.due_at.isoformat()})
    messages.on_tasks_created(session=session, tasks=tasks, now=now)
    return SpotCheckDraw(seed=seed, eligible=eligible, tasks=tasks, draws=draws)

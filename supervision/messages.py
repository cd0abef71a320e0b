"""The person's inbox: system messages when something concerns them (once each, by dedupe key), officers' messages,
and delivery beyond the inbox through a pluggable sender (inbox only by default, or a webhook with retries).

Messages are written in the transaction of the event that causes them; their ids are remembered on the session
(see take_new_message_ids), so the composition root can hand them to a delivery job after the commit: a slow or
failing gateway never holds up the request that caused the message.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Integer, Select, String, cast, exists, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.enums import (
    ActivityStatus,
    DeliveryStatus,
    LeaveStatus,
    MessageKind,
    PersonStatus,
    SupervisionLevel,
    TaskKind,
)
from storage.models import Activity, ActivityInvitation, Checkin, LeaveRequest, Message, Office, Person, Task
from storage.models._types import UTCDateTime
from supervision.actors import Actor
from supervision.audit import AuditAction, record_event
from supervision.duties import CAPTURE_SLACK, FULFILLING, PENDING, DutyPolicy, DutyWindow, check_timezone
from supervision.errors import NotFound, ValidationFailed
from supervision.paging import keyset
from supervision.scope import can_see_office, get_person

log = logging.getLogger(__name__)

NEW_IDS_KEY = "checkin.new_message_ids"
MESSAGE_SENT = AuditAction.MESSAGE_SENT
MESSAGE_COLUMNS = ("person_id", "office_id", "kind", "title", "body", "dedupe_key", "data", "created_at",
                   "delivery_status", "delivery_attempts")
MAX_RECIPIENTS = 5000


# ------------------------------------------------------------------------------------------------ writing


def _remember(session: Session, ids: Iterable[int]) -> None:
    session.info.setdefault(NEW_IDS_KEY, []).extend(ids)


def take_new_message_ids(session: Session) -> list[int]:
    """The ids of messages this session created since the last call (for delivery after the commit)."""
    return list(session.info.pop(NEW_IDS_KEY, []))


def post_message(*, session: Session, person_id: int, office_id: int, kind: str, title: str, body: str,
                 now: datetime, dedupe_key: str | None = None, data: dict[str, Any] | None = None,
                 sender_id: int | None = None) -> Message | None:
    """Put a message in a person's inbox unless one with the same dedupe key exists; the new message or None."""
    if dedupe_key is not None and session.scalar(select(Message.id).where(Message.dedupe_key == dedupe_key)):
        return None
    message = Message(person_id=person_id, office_id=office_id, kind=kind, title=title[:200], body=body[:4000],
                      dedupe_key=dedupe_key, data=data or {}, sender_id=sender_id, created_at=now,
                      delivery_status=DeliveryStatus.INBOX_ONLY, delivery_attempts=0)
    try:
        # A savepoint, so a concurrent sweep that inserted the same key first does not undo the caller's work.
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return None
    _remember(session, [message.id])
    return message


def insert_messages(session: Session, rows: Select) -> int:
    """INSERT ... SELECT into message (columns MESSAGE_COLUMNS); keys that exist already are skipped."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql_insert(Message).from_select(MESSAGE_COLUMNS, rows).on_conflict_do_nothing(
            index_elements=["dedupe_key"])
    elif dialect == "sqlite":
        stmt = sqlite_insert(Message).from_select(MESSAGE_COLUMNS, rows).on_conflict_do_nothing(
            index_elements=["dedupe_key"])
    else:
        stmt = insert(Message).from_select(MESSAGE_COLUMNS, rows)
    ids = list(session.scalars(stmt.returning(Message.id)))
    _remember(session, ids)
    return len(ids)


def _dialect_insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql_insert(model)
    if dialect == "sqlite":
        return sqlite_insert(model)
    return insert(model)


def insert_rows(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """One multi-row INSERT into model (alert or message); rows whose dedupe_key exists are skipped; new ids."""
    if not rows:
        return []
    stmt = _dialect_insert(session, model)
    if hasattr(stmt, "on_conflict_do_nothing"):
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    # executemany with RETURNING: SQLAlchemy batches it into multi-row INSERTs ("insertmanyvalues") without
    # compiling one statement per row count, which made a 10,000-row VALUES list take seconds.
    return list(session.scalars(stmt.returning(model.id), rows))


def post_messages(session: Session, rows: list[dict[str, Any]], now: datetime) -> int:
    """Put many system messages (dicts of person_id, office_id, kind, title, body, dedupe_key, data) in inboxes in
    one statement; those whose dedupe key exists are skipped. How many were new."""
    values = [{**row, "created_at": now, "delivery_status": DeliveryStatus.INBOX_ONLY.value, "delivery_attempts": 0}
              for row in rows]
    ids = insert_rows(session, Message, values)
    _remember(session, ids)
    return len(ids)


def _row_values(session: Session, person_id: Any, office_id: Any, kind: str, title: str, body: str, key: Any,
                data: dict[str, Any], now: datetime) -> tuple[Any, ...]:
    return (person_id, office_id, literal(kind, String), literal(title, String), literal(body, String), key,
            literal(data, JSON()), literal(now, UTCDateTime()), literal(DeliveryStatus.INBOX_ONLY.value, String),
            literal(0, Integer))


def _key(prefix: str, *parts: Any) -> Any:
    expression: Any = literal(prefix, String)
    for index, part in enumerate(parts):
        if index:
            expression = expression + literal(":", String)
        expression = expression + (part if not isinstance(part, str) else literal(part, String))
    return expression


def _int_text(column: Any) -> Any:
    return cast(column, String)


def _local(at: datetime, zone_name: str | None) -> str:
    try:
        zone = check_timezone(zone_name or "Asia/Shanghai")
    except ValueError:
        zone = ZoneInfo("Asia/Shanghai")
    return at.astimezone(zone).strftime("%m-%d %H:%M")


# ------------------------------------------------------------------------------------------------ event hooks


def on_tasks_created(*, session: Session, tasks: Sequence[Task], now: datetime) -> int:
    """Tell each person of a new spot check or video inspection and its deadline."""
    if not tasks:
        return 0
    zones = dict(session.execute(select(Office.id, Office.timezone).where(
        Office.id.in_({task.office_id for task in tasks}))).all())
    created = 0
    for task in tasks:
        due = _local(task.due_at, zones.get(task.office_id))
        if task.kind == TaskKind.VIDEO_INSPECTION:
            kind, title, body = (MessageKind.VIDEO_INSPECTION, "视频点验",
                                 f"请在 {due} 前上传一段视频，完成远程视频点验。")
        else:
            kind, title, body = MessageKind.SPOT_CHECK, "随机抽查", f"请在 {due} 前完成一次自拍签到。"
        created += post_message(session=session, person_id=task.person_id, office_id=task.office_id, kind=kind,
                                title=title, body=body, now=now, dedupe_key=f"{kind}:{task.id}",
                                data={"task_id": task.id, "due_at": task.due_at.isoformat()}) is not None
    return created


def on_leave_decided(*, session: Session, leave: LeaveRequest, now: datetime) -> Message | None:
    """Tell the person how their leave request was decided."""
    approved = leave.status == LeaveStatus.APPROVED
    title = "请假已批准" if approved else "请假未批准"
    body = (f"您 {leave.start_at.date().isoformat()} 至 {leave.end_at.date().isoformat()} 前往 {leave.destination} "
            f"的请假申请{'已批准，请按时返回并销假' if approved else '未获批准'}。")
    if leave.decision_note and not approved:
        body += f" 意见：{leave.decision_note}"
    return post_message(session=session, person_id=leave.person_id, office_id=leave.office_id,
                        kind=MessageKind.LEAVE_DECIDED, title=title, body=body, now=now,
                        dedupe_key=f"{MessageKind.LEAVE_DECIDED}:{leave.id}",
                        data={"leave_request_id": leave.id, "status": leave.status})


def send_officer_message(*, session: Session, actor: Actor, title: str, body: str, now: datetime,
                         person_ids: Sequence[int] | None = None, office_code: str | None = None) -> list[Message]:
    """An officer writes to persons in scope (named ones, or every active person of an office); audit-logged."""
    if not person_ids and not office_code:
        raise ValidationFailed({"person_ids": ["Name persons or an office."]})
    persons: dict[int, Person] = {}
    for person_id in person_ids or ():
        person = get_person(session, actor, person_id)  # NotFound outside scope
        persons[person.id] = person
    if office_code:
        office = session.scalar(select(Office).where(Office.code == office_code))
        if office is None or not can_see_office(session, actor, office.id):
            raise NotFound("No such office.")
        for person in session.scalars(select(Person).where(Person.office_id == office.id,
                                                           Person.status == PersonStatus.ACTIVE)):
            persons[person.id] = person
    if len(persons) > MAX_RECIPIENTS:
        raise ValidationFailed({"person_ids": [f"At most {MAX_RECIPIENTS} recipients at a time."]})
    sent: list[Message] = []
    for person in sorted(persons.values(), key=lambda p: p.id):
        message = post_message(session=session, person_id=person.id, office_id=person.office_id,
                               kind=MessageKind.OFFICER, title=title, body=body, now=now, sender_id=actor.id,
                               data={"from": actor.name})
        assert message is not None  # officers' messages have no dedupe key
        sent.append(message)
    for office_id in sorted({m.office_id for m in sent}):
        recipients = [m.person_id for m in sent if m.office_id == office_id]
        record_event(session=session, actor=actor, action=MESSAGE_SENT, at=now, office_id=office_id,
                     person_id=recipients[0] if len(recipients) == 1 else None, target_type="message",
                     target_id=next(m.id for m in sent if m.office_id == office_id),
                     details={"recipients": recipients, "title": title, "office": office_code})
    return sent


# ------------------------------------------------------------------------------------------------ inbox


def list_inbox(*, session: Session, person_id: int, after_id: int | None, limit: int,
               unread_only: bool = False) -> list[Message]:
    """A person's messages, newest first."""
    stmt = select(Message).where(Message.person_id == person_id)
    if unread_only:
        stmt = stmt.where(Message.read_at.is_(None))
    return keyset(session, stmt, Message.id, after_id=after_id, limit=limit)


def unread_count(*, session: Session, person_id: int) -> int:
    """How many of the person's messages are unread."""
    return session.scalar(select(func.count(Message.id)).where(Message.person_id == person_id,
                                                               Message.read_at.is_(None))) or 0


def mark_read(*, session: Session, actor: Actor, message_id: int, now: datetime) -> Message:
    """Mark one of the person's own messages read (reading it again keeps the first time)."""
    message = session.get(Message, message_id)
    if message is None or actor.role != "person" or message.person_id != actor.id:
        raise NotFound("No such message.")
    if message.read_at is None:
        message.read_at = now
        session.flush()
    return message


def list_messages(*, session: Session, actor: Actor, person_id: int | None = None, kind: str | None = None,
                  delivery_status: str | None = None, after_id: int | None = None, limit: int = 50) -> list[Message]:
    """Messages to persons in the actor's scope, newest first (officers see what was sent and its delivery)."""
    from supervision.scope import office_condition

    stmt = select(Message).where(office_condition(actor, Message.office_id))
    if person_id is not None:
        stmt = stmt.where(Message.person_id == person_id)
    if kind:
        stmt = stmt.where(Message.kind == kind)
    if delivery_status:
        stmt = stmt.where(Message.delivery_status == delivery_status)
    return keyset(session, stmt, Message.id, after_id=after_id, limit=limit)


# ------------------------------------------------------------------------------------------------ sweep reminders


@dataclass(frozen=True)
class ReminderPolicy:
    """When the sweep reminds: a session this long ahead, a leave's return this long before it ends."""

    activity_hours: float = 24.0
    leave_return_hours: float = 12.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ReminderPolicy:
        """Build the policy from CHECKIN_* settings."""
        activity = float(config.get("ACTIVITY_REMINDER_HOURS", 24))
        leave = float(config.get("LEAVE_RETURN_REMINDER_HOURS", 12))
        if activity < 0 or leave < 0:
            raise ValueError("ACTIVITY_REMINDER_HOURS and LEAVE_RETURN_REMINDER_HOURS must be >= 0")
        return cls(activity_hours=activity, leave_return_hours=leave)


def _open_window_rows(session: Session, window: DutyWindow, office_ids: list[int] | None, now: datetime) -> Select:
    key = _key(f"{MessageKind.DUTY_WINDOW_OPEN}:", _int_text(Person.id), window.day.isoformat())
    checked_in = exists().where(
        Checkin.person_id == Person.id,
        Checkin.received_at >= window.start - CAPTURE_SLACK,
        Checkin.captured_at >= window.start,
        Checkin.captured_at < window.end,
        Checkin.status.in_((*FULFILLING, *PENDING)),
    )
    body = f"今日签到时段 {window.start.strftime('%H:%M')}–{window.end.strftime('%H:%M')} 已开始，请按时完成自拍签到。"
    data = {"date": window.day.isoformat(), "window_start": window.start.isoformat(),
            "window_end": window.end.isoformat()}
    stmt = select(*_row_values(session, Person.id, Person.office_id, MessageKind.DUTY_WINDOW_OPEN, "签到提醒", body,
                               key, data, now)).where(
        Person.status == PersonStatus.ACTIVE,
        Person.supervision_level == window.level,
        Person.start_date <= window.day,
        Person.end_date >= window.day,
        ~checked_in,
        ~exists().where(Message.dedupe_key == key),
    )
    if office_ids is not None:
        stmt = stmt.where(Person.office_id.in_(office_ids))
    return stmt


def sweep_open_windows(*, session: Session, now: datetime, policy: DutyPolicy,
                       offices: Sequence[tuple[int, str, str]]) -> int:
    """One message per person when their duty window is open and they have not checked in yet (once a window);
    offices are the (id, code, timezone) rows of every office."""
    groups: dict[Any, list[int]] = {}
    for office_id, code, zone in offices:
        groups.setdefault(policy.for_office(code, zone), []).append(office_id)
    created = 0
    for duties, office_ids in groups.items():
        chosen = office_ids if len(groups) > 1 else None
        for level in SupervisionLevel:
            for window in duties.windows(level, now, now):
                if window.start <= now < window.end:
                    created += insert_messages(session, _open_window_rows(session, window, chosen, now))
    return created


def _leave_return_rows(session: Session, now: datetime, policy: ReminderPolicy, lookback: timedelta) -> Select:
    key = _key(f"{MessageKind.LEAVE_RETURN_DUE}:", _int_text(LeaveRequest.id))
    return select(*_row_values(session, LeaveRequest.person_id, LeaveRequest.office_id, MessageKind.LEAVE_RETURN_DUE,
                               "销假提醒", "您的请假即将到期，请按时返回并通过手机销假。", key,
                               {"reminder": "leave_return_due"}, now)).where(
        LeaveRequest.status.in_((LeaveStatus.APPROVED, LeaveStatus.ACTIVE)),
        LeaveRequest.end_at <= now + timedelta(hours=policy.leave_return_hours),
        LeaveRequest.end_at > now - lookback,
        ~exists().where(Message.dedupe_key == key),
    )


def _activity_near_rows(session: Session, now: datetime, policy: ReminderPolicy) -> Select:
    key = _key(f"{MessageKind.ACTIVITY_NEAR}:", _int_text(Activity.id), _int_text(ActivityInvitation.person_id))
    return (
        select(*_row_values(session, ActivityInvitation.person_id, Person.office_id, MessageKind.ACTIVITY_NEAR,
                            "活动提醒", "您受邀参加的教育或公益活动即将开始，请按时到场并签到、签退。", key,
                            {"reminder": "activity_near"}, now))
        .join_from(ActivityInvitation, Activity, Activity.id == ActivityInvitation.activity_id)
        .join(Person, Person.id == ActivityInvitation.person_id)
        .where(Activity.status == ActivityStatus.SCHEDULED, Activity.start_at > now,
               Activity.start_at <= now + timedelta(hours=policy.activity_hours),
               Person.status == PersonStatus.ACTIVE, ~exists().where(Message.dedupe_key == key))
    )


def sweep_reminders(*, session: Session, now: datetime, policy: ReminderPolicy, lookback: timedelta) -> int:
    """Remind persons once when their return from leave (销假) is due and when a session they are invited to is
    near (one INSERT for both)."""
    from sqlalchemy import true, union_all

    rows = union_all(_leave_return_rows(session, now, policy, lookback), _activity_near_rows(session, now, policy))
    # SQLite needs a WHERE before ON CONFLICT to tell the upsert from a join constraint.
    return insert_messages(session, select(rows.subquery()).where(true()))


def sweep_messages(*, session: Session, now: datetime, duties: DutyPolicy, policy: ReminderPolicy,
                   lookback: timedelta, offices: Sequence[tuple[int, str, str]]) -> dict[str, int]:
    """The sweep's reminders: open duty windows, returns from leave due, sessions near."""
    return {
        "messages_duty_window_open": sweep_open_windows(session=session, now=now, policy=duties, offices=offices),
        "messages_reminders": sweep_reminders(session=session, now=now, policy=policy, lookback=lookback),
    }


# ------------------------------------------------------------------------------------------------ delivery


class DeliveryError(Exception):
    """The gateway did not take the message."""


class MessageSender(Protocol):
    """Delivers a message beyond the inbox (push, SMS gateway, ...); raises on failure."""

    @property
    def name(self) -> str:
        """A short name for logs."""

    @property
    def delivers(self) -> bool:
        """Whether this sender sends anything beyond the inbox."""

    @property
    def attempts(self) -> int:
        """How many times one message is tried."""

    @property
    def backoff_seconds(self) -> float:
        """The wait after the first failed attempt (doubling after each next one)."""

    def deliver(self, payload: dict[str, Any]) -> None:
        """Hand one message to the gateway, or raise."""


@dataclass(frozen=True)
class InboxOnlySender:
    """The default: messages stay in the inbox, nothing leaves the server."""

    name: str = "inbox"
    delivers: bool = False
    attempts: int = 0
    backoff_seconds: float = 0.0

    def deliver(self, payload: dict[str, Any]) -> None:
        """Nothing to do."""


@dataclass(frozen=True)
class WebhookSender:
    """POSTs each message as JSON to a deployment's gateway; any answer but 2xx is a failed attempt."""

    url: str
    timeout_seconds: float = 5.0
    attempts: int = 3
    backoff_seconds: float = 2.0
    name: str = "webhook"
    delivers: bool = True

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("MESSAGE_WEBHOOK_URL must be an http:// or https:// URL")
        if self.attempts < 1 or self.timeout_seconds <= 0 or self.backoff_seconds < 0:
            raise ValueError("the webhook needs attempts >= 1, a positive timeout and a backoff >= 0")

    def deliver(self, payload: dict[str, Any]) -> None:
        """POST the payload; raise DeliveryError unless the gateway answers 2xx."""
        request = urllib.request.Request(self.url, data=json.dumps(payload, ensure_ascii=False).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"unreachable: {exc}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}")

    def settings(self) -> dict[str, Any]:
        """Plain values a queued job can carry."""
        return {"url": self.url, "timeout_seconds": self.timeout_seconds, "attempts": self.attempts,
                "backoff_seconds": self.backoff_seconds}


def sender_from_config(config: Mapping[str, Any]) -> InboxOnlySender | WebhookSender:
    """The sender the configuration names (MESSAGE_SENDER: inbox or webhook)."""
    kind = str(config.get("MESSAGE_SENDER") or "inbox").strip().lower()
    if kind == "inbox":
        return InboxOnlySender()
    if kind == "webhook":
        return WebhookSender(url=str(config.get("MESSAGE_WEBHOOK_URL") or ""),
                             timeout_seconds=float(config.get("MESSAGE_WEBHOOK_TIMEOUT_SECONDS", 5)),
                             attempts=int(config.get("MESSAGE_WEBHOOK_ATTEMPTS", 3)),
                             backoff_seconds=float(config.get("MESSAGE_WEBHOOK_BACKOFF_SECONDS", 2)))
    raise ValueError(f"MESSAGE_SENDER must be inbox or webhook, not {kind!r}")


def _payload(session: Session, message: Message) -> dict[str, Any]:
    code = session.scalar(select(Person.code).where(Person.id == message.person_id))
    # The person's code only: the gateway maps it to a device or number; names never leave the server.
    return {"id": message.id, "person_code": code, "kind": message.kind, "title": message.title,
            "body": message.body, "created_at": message.created_at.isoformat(), "data": message.data}


def _claim(session: Session, message_id: int) -> bool:
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.delivery_status == DeliveryStatus.INBOX_ONLY,
               Message.delivery_attempts == 0)
        .values(delivery_status=DeliveryStatus.SENDING)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def deliver_messages(*, open_session: Callable[[], Session], sender: MessageSender, message_ids: Sequence[int],
                     clock: Any, sleep: Callable[[float], None] = time.sleep) -> dict[str, int]:
    """Deliver the messages through sender, retrying with backoff; each ends delivered or failed (own commits)."""
    counts = {"delivered": 0, "failed": 0, "skipped": 0}
    if not sender.delivers:
        return counts
    session = open_session()
    try:
        for message_id in message_ids:
            if not _claim(session, message_id):
                counts["skipped"] += 1  # another job has it, or it is done
                continue
            message = session.get(Message, message_id)
            assert message is not None
            payload = _payload(session, message)
            for attempt in range(1, sender.attempts + 1):
                try:
                    sender.deliver(payload)
                except Exception as exc:  # noqa: BLE001  (any failure is a failed attempt, recorded on the row)
                    message.delivery_attempts = attempt
                    message.delivery_error = str(exc)[:500]
                    if attempt == sender.attempts:
                        message.delivery_status = DeliveryStatus.FAILED
                    session.commit()
                    if attempt < sender.attempts:
                        sleep(sender.backoff_seconds * 2 ** (attempt - 1))
                    continue
                message.delivery_attempts = attempt
                message.delivery_status = DeliveryStatus.DELIVERED
                message.delivered_at = clock.now()
                session.commit()
                break
            counts["delivered" if message.delivery_status == DeliveryStatus.DELIVERED else "failed"] += 1
            if message.delivery_status == DeliveryStatus.FAILED:
                log.warning("message %s not delivered after %s attempts: %s", message.id, message.delivery_attempts,
                            message.delivery_error)
    finally:
        session.close()
    return counts


def deliver_messages_job(*, open_session: Callable[[], Session], blobs: Any, engine: Any, clock: Any,
                         message_ids: list[int], webhook: dict[str, Any]) -> None:
    """Job entry: deliver messages through the webhook described by plain settings."""
    deliver_messages(open_session=open_session, sender=WebhookSender(**webhook), message_ids=message_ids,
                     clock=clock)

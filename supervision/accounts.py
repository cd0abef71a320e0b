"""Offices, staff accounts, login and login sessions (token rotation and revocation)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from storage.enums import PersonStatus, Role
from storage.models import Account, AuthSession, Device, LoginAttempt, Office, Person
from supervision.actors import Actor
from supervision.errors import Conflict, InvalidCredentials, NotFound, TokenRevoked, ValidationFailed
from supervision.locks import lock_name
from supervision.passwords import hash_password, needs_rehash, validate_password, verify_password


def create_office(*, session: Session, code: str, name: str, county: str, timezone: str = "Asia/Shanghai") -> Office:
    """Create an office (司法所) in a county."""
    if session.scalar(select(Office).where(Office.code == code)) is not None:
        raise Conflict(f"Office {code} already exists.", code="office_exists")
    office = Office(code=code, name=name, county=county, timezone=timezone)
    session.add(office)
    session.flush()
    return office


def create_account(*, session: Session, username: str, password: str, office_code: str, admin: bool = False,
                   display_name: str = "") -> Account:
    """Create an officer (or county admin) account in an office."""
    validate_password(password, role="officer")
    office = session.scalar(select(Office).where(Office.code == office_code))
    if office is None:
        raise NotFound(f"No office {office_code}.")
    taken = session.scalar(select(Account.id).where(Account.username == username)) or session.scalar(
        select(Person.id).where(Person.code == username)
    )
    if taken:
        raise Conflict(f"Username {username} is taken.", code="username_taken")
    account = Account(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=Role.ADMIN if admin else Role.OFFICER,
        office_id=office.id,
        county=office.county,
    )
    session.add(account)
    session.flush()
    return account


@dataclass(frozen=True)
class LoginResult:
    auth_session: AuthSession
    actor: Actor
    new_device: bool


def authenticate(*, session: Session, username: str, password: str, device_id: str | None, ip: str | None,
                 now: datetime) -> LoginResult:
    """Check credentials and open a login session; persons log in with their code and must name a device."""
    account = session.scalar(select(Account).where(Account.username == username))
    person = None if account else session.scalar(select(Person).where(Person.code == username))
    subject = account or person
    # One message for an unknown user, a wrong password and a disabled account: nothing to enumerate.
    if not verify_password(subject.password_hash if subject else None, password) or subject is None:
        raise InvalidCredentials("Username or password is wrong.")
    if account is not None:
        if not account.is_active:
            raise InvalidCredentials("Username or password is wrong.")
        if needs_rehash(account.password_hash):
            account.password_hash = hash_password(password)
        auth = AuthSession(id=str(uuid.uuid4()), role=account.role, account_id=account.id,
                           refresh_jti=str(uuid.uuid4()), created_at=now)
        session.add(auth)
        session.flush()
        return LoginResult(auth, actor_for_account(account, ip=ip, session_id=auth.id), new_device=False)

    assert person is not None
    if person.status != PersonStatus.ACTIVE:
        raise InvalidCredentials("Username or password is wrong.")
    if not device_id:
        raise ValidationFailed({"device_id": ["Persons must send the id of their phone."]})
    device, new_device = bind_device(session=session, person=person, device_id=device_id, now=now)
    auth = AuthSession(id=str(uuid.uuid4()), role=Role.PERSON, person_id=person.id, device_id=device_id,
                       refresh_jti=str(uuid.uuid4()), created_at=now)
    session.add(auth)
    session.flush()
    return LoginResult(auth, actor_for_person(person, ip=ip, session_id=auth.id, device_id=device_id), new_device)


def bind_device(*, session: Session, person: Person, device_id: str, now: datetime) -> tuple[Device, bool]:
    """Record the device; the first one a person uses is bound, later ones are allowed but not bound."""
    device = session.scalar(select(Device).where(Device.person_id == person.id, Device.device_id == device_id))
    if device is not None:
        device.last_seen_at = now
        return device, False
    has_bound = session.scalar(select(Device.id).where(Device.person_id == person.id, Device.is_bound.is_(True)))
    device = Device(person_id=person.id, device_id=device_id, is_bound=has_bound is None, first_seen_at=now,
                    last_seen_at=now)
    session.add(device)
    session.flush()
    return device, has_bound is not None


def is_bound_device(*, session: Session, person_id: int, device_id: str | None) -> bool:
    """Whether device_id is the person's bound phone."""
    if not device_id:
        return False
    return bool(session.scalar(select(Device.is_bound).where(Device.person_id == person_id,
                                                             Device.device_id == device_id)))


def actor_for_account(account: Account, *, ip: str | None = None, session_id: str | None = None) -> Actor:
    """The Actor a staff account acts as."""
    return Actor(role=account.role, id=account.id, name=account.display_name or account.username,
                 office_id=account.office_id, county=account.county, ip=ip, session_id=session_id)


def actor_for_person(person: Person, *, ip: str | None = None, session_id: str | None = None,
                     device_id: str | None = None) -> Actor:
    """The Actor a supervised person acts as."""
    return Actor(role=Role.PERSON, id=person.id, name=person.code, office_id=person.office_id,
                 county=person.office.county, ip=ip, session_id=session_id, device_id=device_id)


def load_session_actor(*, session: Session, session_id: str, ip: str | None) -> Actor:
    """The Actor behind a live login session; revoked sessions and disabled subjects raise TokenRevoked."""
    auth = session.get(AuthSession, session_id)
    if auth is None or auth.revoked_at is not None:
        raise TokenRevoked("This session has ended. Log in again.")
    if auth.account_id is not None:
        account = session.get(Account, auth.account_id)
        if account is None or not account.is_active:
            raise TokenRevoked("This session has ended. Log in again.")
        return actor_for_account(account, ip=ip, session_id=auth.id)
    person = session.get(Person, auth.person_id)
    if person is None or person.status != PersonStatus.ACTIVE:
        raise TokenRevoked("This session has ended. Log in again.")
    return actor_for_person(person, ip=ip, session_id=auth.id, device_id=auth.device_id)


def rotate_refresh(*, session: Session, session_id: str, presented_jti: str, now: datetime) -> AuthSession:
    """Swap the session's refresh token; an already-rotated token means theft, so the session is revoked."""
    # One conditional UPDATE decides between concurrent refreshes of one token: only the first matches the jti.
    won = session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.refresh_jti == presented_jti,
               AuthSession.revoked_at.is_(None))
        .values(refresh_jti=str(uuid.uuid4()), refreshed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    auth = session.get(AuthSession, session_id, populate_existing=True)
    if auth is None or auth.revoked_at is not None:
        raise TokenRevoked("This session has ended. Log in again.")
    if not won:
        # The token was rotated already (by an earlier or a concurrent refresh): it is a replay either way.
        session.execute(
            update(AuthSession).where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="refresh_reuse").execution_options(synchronize_session=False)
        )
        raise TokenRevoked("This refresh token was already used; the session has been ended for safety.")
    return auth


def revoke_session(*, session: Session, session_id: str, now: datetime, reason: str = "logout") -> None:
    """End a login session: its access and refresh tokens stop working."""
    auth = session.get(AuthSession, session_id)
    if auth is not None and auth.revoked_at is None:
        auth.revoked_at = now
        auth.revoked_reason = reason
        session.flush()


# Login limits. An attempt is recorded before the password is checked and stays a failure unless cleared, so
# concurrent guesses cannot all pass; the counters of its address and username are locked while it is admitted.
LOGIN_ATTEMPT_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class LoginLimit:
    """At most amount attempts in any window (a sliding window)."""

    amount: int
    window: timedelta


@dataclass(frozen=True)
class LoginRefusal:
    """Which limit refused an attempt, and when the next attempt can pass."""

    scope: str  # "username" or "address"
    retry_after: timedelta


def login_username_key(username: str) -> str:
    """The username as the failure counter keys it (the API and the console must agree)."""
    return username.strip()[:64].lower()


def _retry_after(session: Session, condition: Any, limit: LoginLimit, now: datetime) -> timedelta | None:
    rows = select(LoginAttempt.attempted_at).where(condition, LoginAttempt.attempted_at > now - limit.window)
    count = session.scalar(select(func.count()).select_from(rows.subquery())) or 0
    if count <= limit.amount:
        return None
    # The next attempt passes once all but amount - 1 of the rows now in the window have left it.
    oldest = session.scalar(rows.order_by(LoginAttempt.attempted_at, LoginAttempt.id)
                            .offset(count - limit.amount).limit(1))
    return max((oldest or now) + limit.window - now, timedelta(seconds=1))


def admit_login_attempt(*, session: Session, username: str, address: str | None, now: datetime,
                        username_limits: list[LoginLimit],
                        address_limits: list[LoginLimit]) -> tuple[int | None, LoginRefusal | None]:
    """Record an attempt (a failure until cleared) if the address and the username are within their limits.

    Returns the attempt's id, or a refusal saying which limit and for how long (then nothing is recorded, so
    retries do not push the window out). The caller commits at once, which releases the counters' locks.
    """
    key = login_username_key(username)
    where = (address or "unknown")[:64]
    # Always address, then username: two attempts never wait for each other's locks in opposite order.
    lock_name(session, f"login-address:{where}")
    lock_name(session, f"login-user:{key}")
    attempt = LoginAttempt(username=key, address=where, attempted_at=now, counts_as_failure=True)
    session.add(attempt)
    session.flush()
    refusal = None
    for limit in address_limits:
        wait = _retry_after(session, LoginAttempt.address == where, limit, now)
        if wait is not None:
            refusal = LoginRefusal("address", wait)
            break
    for limit in username_limits if refusal is None else []:
        wait = _retry_after(session, and_(LoginAttempt.username == key, LoginAttempt.counts_as_failure.is_(True)),
                            limit, now)
        if wait is not None:
            refusal = LoginRefusal("username", wait)
            break
    if refusal is None:
        return attempt.id, None
    session.delete(attempt)
    session.flush()
    return None, refusal


def clear_login_failure(*, session: Session, attempt_id: int, all_before: bool = False) -> None:
    """The attempt was not a wrong password; with all_before (a successful login) earlier failures are forgiven."""
    attempt = session.get(LoginAttempt, attempt_id)
    if attempt is None:
        return
    condition = (and_(LoginAttempt.username == attempt.username, LoginAttempt.id <= attempt_id) if all_before
                 else LoginAttempt.id == attempt_id)
    session.execute(update(LoginAttempt).where(condition).values(counts_as_failure=False)
                    .execution_options(synchronize_session=False))


def prune_login_attempts(*, session: Session, now: datetime, retention: timedelta = LOGIN_ATTEMPT_RETENTION) -> int:
    """Delete login attempts older than retention (longer than any login limit's window)."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - retention)
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)

"""Console login state kept in Flask's signed session cookie: who is logged in, the CSRF token and the last activity.

The cookie holds only the account id, the login session id (an AuthSession row, so logout and revocation work the
same as for API tokens), a CSRF token, the time of the last request and the chosen language.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import flask_babel
from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from flask import current_app, flash, g, get_flashed_messages, request, session
from sqlalchemy.orm import Session

from officer_console.i18n import fill, normalise_language
from storage.enums import STAFF_ROLES
from storage.models import Account
from supervision import accounts
from supervision.actors import Actor
from supervision.errors import AppError, TokenRevoked
from supervision.reports import NO_DATA
from web.auth import client_ip
from web.db import db_session, now
from web.problems import Problem

LOGIN_KEY = "console_login"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
LANG_KEY = "lang"
DEFAULT_IDLE_MINUTES = 30
DEFAULT_TIMEZONE = "Asia/Shanghai"
SEEN_RESOLUTION = timedelta(seconds=30)


def lang() -> str:
    """The language of this request's pages."""
    return normalise_language(session.get(LANG_KEY))


def translations() -> Any:
    """This request's gettext translations from Flask-Babel (looked up once per request: pages call t() hundreds
    of times, and each Flask-Babel gettext call walks its request context again)."""
    found = g.get("console_translations")
    if found is None:
        found = g.console_translations = flask_babel.get_translations()
    return found


def t(key: str, **values: Any) -> str:
    """Translate a catalogue key into the session's language; the key itself when no catalogue has it."""
    return fill(translations().gettext(key), values)


def enum_label(group: str, value: str | None) -> str:
    """The label of an enum value in the session's language; the raw value when it has none."""
    if value is None:
        return ""
    key = f"{group}.{value}"
    text = translations().gettext(key)
    return value if text == key else text


def template_translators() -> tuple[Any, Any]:
    """t and label for one page render, bound to this request's translations."""
    gettext = translations().gettext

    def page_t(key: str, **values: Any) -> str:
        return fill(gettext(key), values)

    def page_label(group: str, value: str | None) -> str:
        if value is None:
            return ""
        key = f"{group}.{value}"
        text = gettext(key)
        return value if text == key else text

    return page_t, page_label


def notify(key: str, category: str = "ok", *, target: str | None = None, undo: str | None = None,
           **values: Any) -> None:
    """Show a translated message on the next page.

    With a target (the id of a form's section), the page shows the message next to that form; otherwise, or when
    the page has no such form, in the notice area fixed to the window, so it is in view wherever the page scrolled.
    With undo (a console URL), the message carries an undo button that posts there.
    """
    flash({"text": t(key, **values), "target": target, "undo": undo}, category)


def suggestion_reason(suggestion: Any) -> str:
    """Why the rules suggest a step, in the session's language (the rule's code with its numbers)."""
    key = f"suggestion_reason.{suggestion.rule}"
    params = {name: f"{value:.1f}" if isinstance(value, float) else value
              for name, value in (getattr(suggestion, "params", None) or {}).items()}
    try:
        text = t(key, **params)
    except (KeyError, IndexError, ValueError):
        text = key
    # A rule without a translation yet shows its label, never the English sentence on a Chinese page.
    return text if text != key else enum_label("rule", suggestion.rule)


@dataclass(frozen=True)
class Notice:
    """A message flashed by the previous request, as pages show it."""

    category: str
    text: str
    target: str | None
    undo: str | None


def notices(target: str | None = None) -> list[Notice]:
    """This page's flashed messages for the form in section `target`; with None, every one no form took yet.

    Each message is shown once: a form's section takes its own, and the page's notice area (rendered after the
    content) takes the rest.
    """
    shown: set[int] = g.setdefault("shown_notices", set())
    found: list[Notice] = []
    for index, (category, message) in enumerate(get_flashed_messages(with_categories=True)):
        if index in shown:
            continue
        if isinstance(message, dict):
            notice = Notice(category, str(message.get("text", "")), message.get("target"), message.get("undo"))
        else:
            notice = Notice(category, str(message), None, None)
        if target is None or notice.target == target:
            shown.add(index)
            found.append(notice)
    return found


def csrf_token() -> str:
    """This browser session's CSRF token, created on first use."""
    token = session.get(CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return str(token)


def csrf_valid() -> bool:
    """Whether the posted form carries this session's CSRF token."""
    expected = session.get(CSRF_KEY)
    given = request.form.get(CSRF_FIELD, "")
    return bool(expected) and hmac.compare_digest(str(expected).encode(), given.encode())


def idle_limit() -> timedelta:
    """How long a console login may stay unused (CONSOLE_IDLE_MINUTES)."""
    return timedelta(minutes=int(current_app.config["CHECKIN"].get("CONSOLE_IDLE_MINUTES", DEFAULT_IDLE_MINUTES)))


def start_login(*, account_id: int, auth_session_id: str) -> None:
    """Replace the session (no fixation) with a fresh one for this login."""
    language = session.get(LANG_KEY)
    session.clear()
    if language:
        session[LANG_KEY] = language
    session[LOGIN_KEY] = {"aid": account_id, "sid": auth_session_id, "seen": now().timestamp()}
    csrf_token()


def end_login(*, reason: str) -> None:
    """Revoke the login session (if any) and forget it; the language choice is kept."""
    state = session.get(LOGIN_KEY) or {}
    if state.get("sid"):
        accounts.revoke_session(session=db_session(), session_id=str(state["sid"]), now=now(), reason=reason)
    language = session.get(LANG_KEY)
    session.clear()
    if language:
        session[LANG_KEY] = language


def load_actor() -> tuple[Actor | None, str | None]:
    """The logged-in staff actor, or None and why not ("required" or "expired")."""
    state = session.get(LOGIN_KEY)
    if not isinstance(state, dict) or "sid" not in state:
        return None, "required"
    current = now()
    seen = datetime.fromtimestamp(float(state.get("seen", 0)), tz=current.tzinfo)
    if current - seen > idle_limit():
        return None, "expired"
    try:
        actor = accounts.load_session_actor(session=db_session(), session_id=str(state["sid"]), ip=client_ip())
    except TokenRevoked:
        return None, "required"
    if actor.role not in STAFF_ROLES or actor.id != state.get("aid"):
        return None, "required"
    if current - seen > SEEN_RESOLUTION:
        # Rewriting the cookie on every photo request would let parallel responses overwrite each other's flashes.
        state["seen"] = current.timestamp()
        session[LOGIN_KEY] = state
    return actor, None


def console_actor() -> Actor:
    """The officer or admin of this console request (set by the blueprint's before_request)."""
    actor = g.get("console_actor")
    if actor is None:
        raise TokenRevoked("Log in first.")
    return actor


def office_timezone(session_: Session, actor: Actor) -> ZoneInfo:
    """The time zone of the actor's office, for showing times."""
    account = session_.get(Account, actor.id) if actor.id is not None else None
    name = account.office.timezone if account is not None else DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def zone() -> ZoneInfo:
    """The time zone pages show times in (the logged-in officer's office, else China Standard Time)."""
    if "console_zone" not in g:
        actor = g.get("console_actor")
        g.console_zone = office_timezone(db_session(), actor) if actor is not None else ZoneInfo(DEFAULT_TIMEZONE)
    return g.console_zone


# Named time formats (CLDR patterns). Digits-only, year first in both languages: officers compare these with the
# date inputs of the filters, and CLDR's short English form ("12/1/26, 4:11 PM") is ambiguous.
TIME_FORMATS = {
    "datetime": "yyyy-MM-dd HH:mm",
    "seconds": "yyyy-MM-dd HH:mm:ss",
    "date": "yyyy-MM-dd",
    "time": "HH:mm",
    "time_seconds": "HH:mm:ss",
}
_STRFTIME = {"%Y": "yyyy", "%y": "yy", "%m": "MM", "%d": "dd", "%H": "HH", "%I": "hh", "%M": "mm", "%S": "ss",
             "%p": "a", "%b": "MMM", "%B": "MMMM", "%a": "EEE", "%A": "EEEE", "%j": "DDD", "%Z": "zzz", "%z": "Z",
             "%%": "%"}


@lru_cache(maxsize=64)
def _cldr_pattern(fmt: str) -> str:
    """A CLDR date pattern for a named format, a strftime format (%Y-%m-%d ...) or a CLDR pattern."""
    if fmt in TIME_FORMATS:
        return TIME_FORMATS[fmt]
    if "%" not in fmt:
        return fmt
    out: list[str] = []
    i = 0
    while i < len(fmt):
        token = fmt[i:i + 2]
        if token in _STRFTIME:
            out.append(_STRFTIME[token])
            i += 2
            continue
        char = fmt[i]
        # Letters are pattern symbols in CLDR; literal ones are quoted.
        out.append(f"'{char}'" if char.isalpha() else ("''" if char == "'" else char))
        i += 1
    return "".join(out)


def babel_locale() -> Locale:
    """The Babel locale of this request's pages (Flask-Babel's, from the session language; looked up once)."""
    found = g.get("console_locale")
    if found is None:
        found = g.console_locale = flask_babel.get_locale() or Locale.parse(lang())
    return found


def local_time(value: datetime | None, fmt: str = "datetime") -> str:
    """A UTC timestamp shown in the office's local time, formatted by Babel (fmt: a TIME_FORMATS name, a strftime
    format as older templates pass, or a CLDR pattern)."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(zone()), _cldr_pattern(fmt), locale=babel_locale())


def number(value: Any, digits: int = 3) -> str:
    """A number in the page's locale with at most digits decimals (integers as integers); other values as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    pattern = "#,##0" + ("." + "#" * digits if digits > 0 and not isinstance(value, int) else "")
    return format_decimal(value, pattern, locale=babel_locale())


def percent(value: float | None) -> str:
    """A share given in percent (85.3) as "85.3%"; "—" when there is no data."""
    if value is None:
        return NO_DATA
    return format_percent(float(value) / 100.0, "#,##0.#%", locale=babel_locale())


def distance(meters: float | None) -> str:
    """A distance in metres up to 1,000 m, in kilometres (one decimal) past that, in the page's language."""
    if meters is None:
        return ""
    locale = babel_locale()
    if abs(meters) < 1000:
        return format_unit(round(meters), "length-meter", length="short", format="#,##0", locale=locale)
    return format_unit(meters / 1000.0, "length-kilometer", length="short", format="#,##0.#", locale=locale)


def error_text(error: AppError | Problem) -> str:
    """A console message for a domain error (or any error's Problem): the catalogue's text for its code, with the
    fields it names.

    Domain details and field messages are English sentences for API clients: an English page may show them, a
    Chinese one shows the catalogue's words only (a code or field without an entry falls back to a generic message,
    never to the English text).
    """
    english = lang() == "en"
    key = f"problem.{error.code}"
    text = t(key)
    if text == key:
        text = error.detail if english else t("problem.other")
    errors = error.extra.get("errors")
    if isinstance(errors, dict) and errors:
        if english:
            details = "; ".join(f"{field}: {' '.join(map(str, msgs if isinstance(msgs, list) else [msgs]))}"
                                for field, msgs in errors.items())
            return f"{text} ({details})"
        names = [name for name in (t(f"field.{field}") for field in errors) if not name.startswith("field.")]
        if names:
            text = f"{text}（{t('problem.fields', fields='、'.join(names))}）"
    return text


def safe_next(target: str | None, default: str) -> str:
    """A redirect target inside the console (never another site)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return default

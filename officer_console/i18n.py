"""The console's UI strings: gettext catalogues (officer_console/translations/<lang>/LC_MESSAGES/messages.po) served
through Flask-Babel, Chinese by default, English on request.

Message ids are dotted keys ("nav.review"); enum values are looked up as "<group>.<value>" (e.g.
"reason.outside_area"), so a new status shows its raw code until a translation is added, never an error.
Placeholders are python-format ("%(name)s").

There is no build step: the .po files are compiled in memory (babel's read_po + write_mo, loaded as
GNUTranslations) the first time a language is used in a process, so an edited catalogue can never be shadowed by a
stale .mo file. English falls back to Chinese, and a key in neither catalogue is shown as the key itself.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask
from flask_babel import Babel, Domain, get_locale

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
CATALOGUE_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"


def normalise_language(value: str | None) -> str:
    """A supported language code for value (the default when unknown)."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def po_path(lang: str) -> Path:
    """The catalogue file of a language."""
    return CATALOGUE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _load(lang: str) -> Translations:
    """Compile one language's .po file in memory (read_po + write_mo) and load it as GNUTranslations."""
    with po_path(lang).open("rb") as handle:
        parsed = read_po(handle, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, parsed)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


@lru_cache(maxsize=8)
def _compiled(lang: str) -> Translations:
    """One language's own catalogue (no fallback), compiled once per process."""
    return _load(lang)


@lru_cache(maxsize=8)
def catalogue(lang: str) -> Translations:
    """The translations of lang: its own catalogue, falling back to Chinese for keys it lacks."""
    lang = normalise_language(lang)
    if lang == DEFAULT_LANGUAGE:
        return _compiled(lang)
    translations = _load(lang)
    translations.add_fallback(_compiled(DEFAULT_LANGUAGE))
    return translations


def keys(lang: str) -> frozenset[str]:
    """Every message id in one language's own catalogue (no fallback)."""
    return frozenset(key for key in _compiled(normalise_language(lang))._catalog if isinstance(key, str) and key)


def fill(text: str, values: Mapping[str, Any]) -> str:
    """text with its %(name)s placeholders filled; a broken translation shows unfilled rather than failing."""
    if not values:
        return text
    try:
        return text % values
    except (KeyError, ValueError, TypeError):
        return text


def translate(key: str, lang: str, **values: Any) -> str:
    """The text for key in lang with placeholders filled; the key itself when no catalogue has it."""
    return fill(catalogue(lang).gettext(key), values)


def label(group: str, value: str | None, lang: str) -> str:
    """The label of an enum value (status, reason, kind ...); the raw value when there is none."""
    if value is None:
        return ""
    key = f"{group}.{value}"
    text = catalogue(lang).gettext(key)
    return value if text == key else text


class _Messages(Mapping[str, dict[str, str]]):
    """A read-only {key: {"zh": ..., "en": ...}} view of the catalogues, for code written against the old dict."""

    def _keys(self) -> list[str]:
        return sorted(keys(DEFAULT_LANGUAGE) | keys("en"))

    def __getitem__(self, key: str) -> dict[str, str]:
        if not any(key in keys(lang) for lang in LANGUAGES):
            raise KeyError(key)
        return {lang: catalogue(lang).gettext(key) for lang in LANGUAGES}

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and any(key in keys(lang) for lang in LANGUAGES)


MESSAGES: Mapping[str, dict[str, str]] = _Messages()


class CatalogueDomain(Domain):
    """Flask-Babel's default domain, answering from the in-memory catalogues instead of .mo files on disk."""

    def get_translations(self) -> NullTranslations:
        locale = get_locale()
        return catalogue(locale.language if locale is not None else DEFAULT_LANGUAGE)


class ConsoleBabel(Babel):
    """Flask-Babel whose default domain is the in-memory CatalogueDomain."""

    @cached_property
    def domain_instance(self) -> Domain:
        return CatalogueDomain(domain=DOMAIN)


def init_babel(app: Flask, *, locale_selector: Any, timezone_selector: Any) -> Babel:
    """Install Flask-Babel on app with the console's catalogues, language and office time zone."""
    return ConsoleBabel(app, default_locale=DEFAULT_LANGUAGE, default_timezone="Asia/Shanghai",
                        locale_selector=locale_selector, timezone_selector=timezone_selector)

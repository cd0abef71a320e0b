"""The UI catalogues (gettext .po files served through Flask-Babel): both languages everywhere, the same
placeholders, every key the console uses exists in each catalogue, and a missing translation never fails a page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import session

from officer_console import i18n
from officer_console.i18n import LANGUAGES, fill, keys, label, translate
from officer_console.session import distance, local_time, number, percent, t
from storage.enums import (
    AlertType,
    CheckinStatus,
    EmploymentStatus,
    LeaveStatus,
    PersonStatus,
    Reason,
    SanctionKind,
    SentenceType,
    SupervisionLevel,
    TaskKind,
    TaskStatus,
)
from supervision.audit import AuditAction

CONSOLE = Path(__file__).resolve().parents[2] / "officer_console"
KEY = r"""['"]([a-z0-9_]+\.[a-z0-9_.]+)['"]"""
# t('key'), t("key", ...) and notify("key" ...) in templates and Python ...
LITERAL_KEY = re.compile(rf"""\b(?:t|notify)\(\s*{KEY}\s*[,)]""")
# ... and any other quoted dotted word whose first part is a catalogue group ('nav.review' in the menu's list, the
# error pages' status map), except app.extensions names ("checkin.location_policy").
QUOTED_KEY = re.compile(rf"""(?<!extensions\[){KEY}(?!\s+(?:not\s+)?in\s+extensions)""")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _sources() -> list[Path]:
    return [*CONSOLE.glob("*.py"), *(CONSOLE / "templates" / "console").glob("*.html")]


def used_keys() -> set[str]:
    """Every literal catalogue key the console's templates and Python code ask for."""
    groups = {key.split(".")[0] for lang in LANGUAGES for key in keys(lang)}
    found: set[str] = set()
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        found |= set(LITERAL_KEY.findall(text))
        found |= {key for key in QUOTED_KEY.findall(text) if key.split(".")[0] in groups and key[-1] not in "._"}
    return found


def _entries(lang: str) -> dict[str, str]:
    with i18n.po_path(lang).open("rb") as handle:
        return {message.id: message.string for message in read_po(handle) if message.id}


def test_both_catalogues_have_the_same_keys_all_translated_with_the_same_placeholders():
    zh, en = _entries("zh"), _entries("en")

    assert len(zh) > 400
    assert sorted(set(zh) ^ set(en)) == []
    assert [key for key in zh if not zh[key].strip() or not en[key].strip()] == []
    assert [key for key in zh if set(PLACEHOLDER.findall(zh[key])) != set(PLACEHOLDER.findall(en[key]))] == []


def test_no_compiled_catalogue_is_committed():
    # The .po files are compiled in memory at first use; a .mo file next to them could go stale unnoticed.
    assert list((CONSOLE / "translations").rglob("*.mo")) == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_literal_key_in_templates_and_code_exists_in_each_catalogue(lang):
    used = used_keys()

    assert len(used) > 100
    assert {"nav.review", "session.expired", "error.too_large"} <= used  # menu list, notify(), status map
    assert sorted(used - keys(lang)) == []


def test_the_scanner_reports_a_key_missing_from_the_chinese_catalogue(tmp_path, monkeypatch):
    # The check above must be able to fail: a catalogue without one used key is caught.
    lines = i18n.po_path("zh").read_text(encoding="utf-8").replace('msgid "nav.review"', 'msgid "nav.reviewed"')
    for lang, text in (("zh", lines), ("en", i18n.po_path("en").read_text(encoding="utf-8"))):
        (tmp_path / lang / "LC_MESSAGES").mkdir(parents=True)
        (tmp_path / lang / "LC_MESSAGES" / "messages.po").write_text(text, encoding="utf-8")
    monkeypatch.setattr(i18n, "CATALOGUE_DIR", tmp_path)
    i18n._compiled.cache_clear()
    try:
        assert "nav.review" in used_keys() - keys("zh")
    finally:
        monkeypatch.undo()
        i18n._compiled.cache_clear()
        i18n.catalogue.cache_clear()


@pytest.mark.parametrize(("group", "values"), [
    ("sentence_type", SentenceType), ("level", SupervisionLevel), ("person_status", PersonStatus),
    ("employment", EmploymentStatus), ("checkin_status", CheckinStatus), ("reason", Reason),
    ("leave_status", LeaveStatus), ("task_kind", TaskKind), ("task_status", TaskStatus), ("alert_type", AlertType),
    ("sanction_kind", SanctionKind), ("action", SanctionKind),
])
def test_every_enum_value_has_a_label(group, values):
    for lang in LANGUAGES:
        assert [value.value for value in values if f"{group}.{value.value}" not in keys(lang)] == []


def test_every_audit_action_has_a_label():
    actions = [value for name, value in vars(AuditAction).items() if name.isupper()]

    for lang in LANGUAGES:
        assert [a for a in actions if f"audit_action.{a}" not in keys(lang)] == []


def test_chinese_is_the_default_and_unknown_values_show_raw():
    assert translate("nav.review", "fr") == "审核队列"
    assert translate("nav.review", "en") == "Review queue"
    assert label("reason", "brand_new_reason", "zh") == "brand_new_reason"
    assert translate("review.accepted", "zh", id=7) == "签到 #7 已确认通过。"
    assert "nav.review" in i18n.MESSAGES and i18n.MESSAGES["nav.review"]["en"] == "Review queue"


def test_a_missing_or_broken_translation_never_raises():
    assert translate("no.such.key", "zh", n=1) == "no.such.key"
    assert fill("%(missing)s 条", {"other": 1}) == "%(missing)s 条"
    assert fill("通过率 %", {"x": 1}) == "通过率 %"


def test_console_helpers_format_with_babel_in_the_office_zone(app):
    with app.test_request_context("/console/"):
        at = datetime(2026, 3, 31, 16, 5, 9, tzinfo=UTC)  # 00:05 on 1 April in Shanghai
        assert local_time(at) == "2026-04-01 00:05"
        assert local_time(at, "%Y-%m-%d %H:%M:%S") == "2026-04-01 00:05:09"
        assert local_time(at, "%H:%M") == "00:05"
        assert local_time(at, "%d %b %Y, %a") == "01 4月 2026, 周三"
        assert local_time(at, "date") == "2026-04-01" and local_time(at, "time") == "00:05"
        assert local_time(None) == ""
        assert distance(850.4) == "850米"
        assert distance(14000.0) == "14公里"
        assert distance(1234.0) == "1.2公里"
        assert number(12345.6789, 1) == "12,345.7"
        assert percent(85.3) == "85.3%"
        assert percent(None) == "—"
        assert t("nav.review") == "审核队列"
        assert t("no.such.key") == "no.such.key"
    with app.test_request_context("/console/"):
        session["lang"] = "en"
        assert distance(14000.0) == "14 km"
        assert distance(999.0) == "999 m"
        assert t("error.generic", detail="x") == "The request failed: x"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_problem_code_the_api_declares_has_console_words(lang):
    from web.apidoc import PROBLEM_CODES

    assert sorted(code for code in PROBLEM_CODES if f"problem.{code}" not in keys(lang)) == []


def test_domain_errors_read_in_chinese_without_the_api_sentences(app):
    from officer_console.session import error_text
    from supervision.errors import AppError, ValidationFailed

    refused = ValidationFailed({"note": ["A note is required when rejecting."], "nonsense": ["Unknown field."]})

    class Unnamed(AppError):
        code = "some_code_without_words"
        status = 409
        title = "Unnamed"

    with app.test_request_context("/console/"):
        text = error_text(refused)
        assert text == "填写内容有误（请检查：备注）"  # the field it names, in words; an unknown field left out
        assert not re.search(r"[A-Za-z]", text)
        assert error_text(Unnamed("Something went wrong in English.")) == "操作未完成，请检查后重试。"
    with app.test_request_context("/console/"):
        session["lang"] = "en"
        assert "note: A note is required when rejecting." in error_text(refused)
        assert error_text(Unnamed("Something went wrong in English.")) == "Something went wrong in English."

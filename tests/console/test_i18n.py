"""The UI catalogue: both languages everywhere, the same placeholders, and every key the console uses exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from officer_api.i18n import LANGUAGES, MESSAGES, label, translate
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

OFFICER_API = Path(__file__).resolve().parents[2] / "officer_api"
# t('key'), t("key"), notify("key" ...) and the error helpers' literal keys.
LITERAL_KEY = re.compile(r"""\b(?:t|notify)\(\s*['"]([a-z0-9_]+\.[a-z0-9_.]+)['"]\s*[,)]""")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_entry_has_both_languages_with_the_same_placeholders():
    broken = [key for key, entry in MESSAGES.items()
              if set(entry) != set(LANGUAGES) or not all(entry[lang].strip() for lang in LANGUAGES)
              or _placeholders(entry["zh"]) != _placeholders(entry["en"])]

    assert broken == []


def test_every_literal_key_in_templates_and_views_exists():
    files = [*OFFICER_API.glob("console*.py"), *(OFFICER_API / "templates" / "console").glob("*.html")]
    used = {key for path in files for key in LITERAL_KEY.findall(path.read_text(encoding="utf-8"))}

    assert len(used) > 100
    assert sorted(used - set(MESSAGES)) == []


@pytest.mark.parametrize(("group", "values"), [
    ("sentence_type", SentenceType), ("level", SupervisionLevel), ("person_status", PersonStatus),
    ("employment", EmploymentStatus), ("checkin_status", CheckinStatus), ("reason", Reason),
    ("leave_status", LeaveStatus), ("task_kind", TaskKind), ("task_status", TaskStatus), ("alert_type", AlertType),
    ("sanction_kind", SanctionKind), ("action", SanctionKind),
])
def test_every_enum_value_has_a_label(group, values):
    missing = [value.value for value in values if f"{group}.{value.value}" not in MESSAGES]

    assert missing == []


def test_every_audit_action_has_a_label():
    actions = [value for name, value in vars(AuditAction).items() if name.isupper()]

    assert [a for a in actions if f"audit_action.{a}" not in MESSAGES] == []


def test_chinese_is_the_default_and_unknown_values_show_raw():
    assert translate("nav.review", "fr") == "审核队列"
    assert translate("nav.review", "en") == "Review queue"
    assert label("reason", "brand_new_reason", "zh") == "brand_new_reason"
    assert translate("review.accepted", "zh", id=7) == "签到 #7 已确认通过。"

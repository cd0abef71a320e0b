"""Creating accounts: the password policy (officers and persons) and code clashes that reveal nothing out of scope."""

from __future__ import annotations

from typing import Any

import pytest

from supervision import accounts
from supervision.errors import ValidationFailed
from supervision.passwords import MIN_LENGTH, password_problem, validate_password
from tests.factories import PASSWORD, make_office, make_officer, make_person

PERSONS = "/api/v1/officer/persons"


@pytest.mark.parametrize(
    "password",
    [
        "password1234",  # common, with the usual digits
        "Password123!",  # common, decorated
        "iloveyou123456",
        "woaini1314!!",
        "qwertyuiop12",
        "aaaaaaaaaaaa",  # one character
        "abababababab",  # too few distinct characters
        "123456789012",  # sequences, also wrapping and backwards
        "7890123456789",
        "abcdefghijklmn",
        "zyxwvutsrqpo",
        "1qaz2wsx3edc4rfv",
    ],
)
def test_weak_passwords_are_refused_for_everyone(password: str) -> None:
    assert password_problem(password, role="officer")
    assert password_problem(password, role="person")


@pytest.mark.parametrize("password", [PASSWORD, "cli-password-123", "a-long-password", "x-93847562910",
                                      "梅花香自苦寒来-2026", "summer-in-the-hills"])
def test_reasonable_passphrases_are_accepted(password: str) -> None:
    assert password_problem(password, role="officer") is None
    validate_password(password, role="person")


def test_minimum_lengths_by_role() -> None:
    assert MIN_LENGTH == {"officer": 12, "person": 8}
    assert password_problem("k7#pWq2!zR", role="person") is None
    assert password_problem("k7#pWq2!zR", role="officer") == "Use at least 12 characters."
    assert password_problem("k7#pWq2", role="person") == "Use at least 8 characters."
    assert password_problem("k" + "7#pWq2!zR" * 30, role="officer") == "Use at most 256 characters."
    with pytest.raises(ValidationFailed) as info:
        validate_password("short", role="officer")
    assert info.value.extra["errors"] == {"password": ["Use at least 12 characters."]}


def test_officer_accounts_need_a_strong_password(db_session: Any) -> None:
    office = make_office(db_session, "PW1", county="C9")
    for weak in ("ten-chars!", "password123!", "111111111111"):
        with pytest.raises(ValidationFailed) as info:
            accounts.create_account(session=db_session, username="officer-pw", password=weak, office_code="PW1")
        assert "password" in info.value.extra["errors"]
    account = accounts.create_account(session=db_session, username="officer-pw", password="cli-password-123",
                                      office_code=office.code)
    assert account.id is not None


@pytest.fixture
def offices(db_session: Any) -> dict[str, Any]:
    a = make_office(db_session, "A", county="C1")
    b = make_office(db_session, "B", county="C1")
    z = make_office(db_session, "Z", county="C2")
    make_officer(db_session, a, "officer-a")
    make_officer(db_session, a, "admin-c1", admin=True)
    make_officer(db_session, z, "admin-c2", admin=True)
    make_officer(db_session, z, "officer-z")
    make_person(db_session, a, "PA1")
    make_person(db_session, b, "PB1")
    return {"a": a, "b": b, "z": z}


def _body(code: str, office_code: str, password: str = "a-long-password") -> dict[str, Any]:
    return {"code": code, "name": "李四", "gender": "female", "birth_date": "1988-03-04",
            "sentence_type": "probation", "supervision_level": "ordinary", "start_date": "2026-01-01",
            "end_date": "2027-06-30", "office_code": office_code, "password": password,
            "home": {"lat": 31.2, "lon": 121.4, "radius_m": 2000}}


def test_person_passwords_follow_the_policy(client: Any, auth: Any, offices: Any) -> None:
    headers = auth.headers("officer-a")
    weak = client.post(PERSONS, json=_body("PN-1", "A", password="12345678"), headers=headers)
    assert weak.status_code == 422
    assert weak.get_json()["code"] == "validation_failed" and "password" in weak.get_json()["errors"]
    assert client.post(PERSONS, json=_body("PN-1", "A"), headers=headers).status_code == 201


def test_code_clash_inside_scope_is_a_conflict(client: Any, auth: Any, offices: Any) -> None:
    clash = client.post(PERSONS, json=_body("PA1", "A"), headers=auth.headers("officer-a"))
    assert clash.status_code == 409 and clash.get_json()["code"] == "person_code_taken"
    county = client.post(PERSONS, json=_body("PB1", "A"), headers=auth.headers("admin-c1"))  # PB1 is in B, C1
    assert county.status_code == 409 and county.get_json()["code"] == "person_code_taken"


@pytest.mark.parametrize(("username", "code"), [("admin-c2", "PA1"), ("officer-z", "PB1"), ("admin-c2", "officer-a"),
                                                ("officer-a", "PB1")])
def test_code_clash_outside_scope_confirms_nothing(client: Any, auth: Any, offices: Any, username: str,
                                                   code: str) -> None:
    office = "A" if username == "officer-a" else "Z"
    refused = client.post(PERSONS, json=_body(code, office), headers=auth.headers(username))
    body = refused.get_json()
    assert refused.status_code == 422 and body["code"] == "validation_failed"
    assert body["errors"] == {"code": ["This code cannot be used."]}
    text = refused.get_data(as_text=True)
    assert code not in text and "registered" not in text and "taken" not in text

"""Fixtures for the console tests: the console blueprint on the test app, staff in two offices, a logged-in client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import make_office, make_officer, make_person

PASSWORD = "console-tests-pw-1"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class World:
    office: Any
    other_office: Any
    officer: Any
    other_officer: Any
    admin: Any
    person: Any


@pytest.fixture
def world(db_session: Any) -> World:
    """Offices O1 and O2 of county C1 and X1 of C2; an officer in O1 and in O2, a C1 admin and a person in O1."""
    office = make_office(db_session, "O1", county="C1", name="城关司法所")
    other_office = make_office(db_session, "O2", county="C1", name="河西司法所")
    make_office(db_session, "X1", county="C2", name="Elsewhere")
    return World(
        office=office,
        other_office=other_office,
        officer=make_officer(db_session, office, "officer1", password=PASSWORD),
        other_officer=make_officer(db_session, other_office, "officer2", password=PASSWORD),
        admin=make_officer(db_session, office, "admin1", admin=True, password=PASSWORD),
        person=make_person(db_session, office, "P001", password=PASSWORD, name="张三"),
    )


def csrf_of(page: Any) -> str:
    """The CSRF token in a rendered console page."""
    match = CSRF_INPUT.search(page.get_data(as_text=True))
    assert match, "no CSRF field on the page"
    return match.group(1)


class Console:
    """A test-client browser session on the console."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.token = ""

    def login(self, username: str = "officer1", password: str = PASSWORD) -> Any:
        self.token = csrf_of(self.client.get("/console/login"))
        response = self.client.post("/console/login", data={"username": username, "password": password,
                                                            "csrf_token": self.token})
        if response.status_code == 303:
            self.token = csrf_of(self.client.get("/console/persons"))
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)


@pytest.fixture
def console(client: Any) -> Console:
    return Console(client)


@pytest.fixture
def officer_console(console: Console, world: World) -> Console:
    """officer1 (office O1) logged in."""
    assert console.login().status_code == 303
    return console

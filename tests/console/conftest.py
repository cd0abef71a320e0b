"""Fixtures for the console tests: the console blueprint on the test app, staff in two offices, a logged-in client."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.factories import World, make_world

PASSWORD = "console-tests-pw-1"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def world(db_session: Any) -> World:
    return make_world(db_session, PASSWORD)


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

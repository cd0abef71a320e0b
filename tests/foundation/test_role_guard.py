"""web.auth.auth_required with roles: a person token is refused on officer endpoints, without data."""

from __future__ import annotations

from tests.factories import PASSWORD
from tests.foundation.helpers import PROBE_ME, PROBE_OFFICER, PROBLEM_KEYS, assert_problem


def test_person_token_on_officer_endpoint_is_forbidden(client, auth, person, probe_calls):
    headers = auth.person("P001")

    response = client.get(PROBE_OFFICER, headers=headers)

    body = assert_problem(response, 403, "forbidden")
    assert set(body) == PROBLEM_KEYS
    assert "officer data" not in response.get_data(as_text=True)
    assert probe_calls == []
    # The same token is fine where any role may come.
    me = client.get(PROBE_ME, headers=headers)
    assert me.status_code == 200 and me.get_json()["role"] == "person"


def test_officer_token_on_officer_endpoint_is_allowed(client, auth, officer, probe_calls):
    response = client.get(PROBE_OFFICER, headers=auth.headers("officer1", PASSWORD))

    assert response.status_code == 200
    assert response.get_json() == {"secret": "officer data"}
    assert probe_calls == ["officer_only"]


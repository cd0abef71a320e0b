"""Officer person endpoints: creation rules, scope (office / county) and audit of changes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_office, make_officer, make_person

PERSONS = "/api/v1/officer/persons"


def person_body(code: str, office_code: str, **changes: Any) -> dict[str, Any]:
    body = {
        "code": code, "name": "李四", "gender": "female", "birth_date": "1988-03-04", "sentence_type": "probation",
        "supervision_level": "ordinary", "start_date": "2026-01-01", "end_date": "2027-06-30",
        "office_code": office_code, "password": "a-long-password",
        "home": {"lat": 31.2, "lon": 121.4, "radius_m": 2000},
    }
    body.update(changes)
    return body


@pytest.fixture
def world(db_session: Any) -> dict[str, Any]:
    a = make_office(db_session, "A", county="C1")
    b = make_office(db_session, "B", county="C1")
    z = make_office(db_session, "Z", county="C2")
    make_officer(db_session, a, "officer-a")
    make_officer(db_session, b, "officer-b")
    make_officer(db_session, a, "admin-c1", admin=True)
    make_officer(db_session, z, "admin-c2", admin=True)
    return {"a": a, "b": b, "z": z, "pa": make_person(db_session, a, "PA1"), "pb": make_person(db_session, b, "PB1")}


def test_officer_creates_a_person_in_own_office_only(client, auth, world):
    headers = auth.headers("officer-a")
    created = client.post(PERSONS, json=person_body("PN-001", "A"), headers=headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["office_code"] == "A" and body["home"] == {"lat": 31.2, "lon": 121.4, "radius_m": 2000}
    assert "password" not in body and "password_hash" not in body

    refused = client.post(PERSONS, json=person_body("PN-002", "B"), headers=headers)
    assert refused.status_code == 422 and "office_code" in refused.get_json()["errors"]
    admin = client.post(PERSONS, json=person_body("PN-003", "B"), headers=auth.headers("admin-c1"))
    assert admin.status_code == 201


def test_person_creation_rules(client, auth, world):
    headers = auth.headers("officer-a")
    duplicate = client.post(PERSONS, json=person_body("PA1", "A"), headers=headers)
    assert duplicate.status_code == 409 and duplicate.get_json()["code"] == "person_code_taken"
    backwards = client.post(PERSONS, json=person_body("PN-004", "A", end_date="2025-01-01"), headers=headers)
    assert backwards.status_code == 422 and "end_date" in backwards.get_json()["errors"]
    unknown = client.post(PERSONS, json=person_body("PN-005", "A", nickname="x"), headers=headers)
    assert unknown.status_code == 422 and "nickname" in unknown.get_json()["errors"]
    bad_level = client.post(PERSONS, json=person_body("PN-006", "A", supervision_level="medium"), headers=headers)
    assert bad_level.status_code == 422 and "supervision_level" in bad_level.get_json()["errors"]
    listed = client.get(PERSONS, headers=headers).get_json()["items"]
    assert [p["code"] for p in listed] == ["PA1"]


def test_scope_of_lists_and_details(client, auth, world):
    assert [p["code"] for p in client.get(PERSONS, headers=auth.headers("officer-a")).get_json()["items"]] == ["PA1"]
    county = client.get(PERSONS, headers=auth.headers("admin-c1")).get_json()["items"]
    assert sorted(p["code"] for p in county) == ["PA1", "PB1"]
    assert client.get(PERSONS, headers=auth.headers("admin-c2")).get_json()["items"] == []

    other = client.get(f"{PERSONS}/{world['pb'].id}", headers=auth.headers("officer-a"))
    assert other.status_code == 404 and other.get_json()["code"] == "not_found"
    assert client.get(f"{PERSONS}/{world['pb'].id}", headers=auth.headers("admin-c1")).status_code == 200
    assert client.get(f"{PERSONS}/{world['pb'].id}", headers=auth.headers("admin-c2")).status_code == 404
    assert client.get(f"{PERSONS}/999999", headers=auth.headers("officer-a")).status_code == 404


def test_person_token_cannot_use_officer_endpoints(client, auth, world):
    headers = auth.person("PA1")
    response = client.get(PERSONS, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden" and "items" not in response.get_json()
    assert client.get(f"{PERSONS}/{world['pa'].id}", headers=headers).status_code == 403


def test_changes_are_audit_logged(client, auth, world):
    headers = auth.headers("officer-a")
    pid = world["pa"].id
    changed = client.patch(f"{PERSONS}/{pid}", json={"supervision_level": "strict"}, headers=headers)
    assert changed.status_code == 200 and changed.get_json()["supervision_level"] == "strict"
    events = client.get(f"/api/v1/officer/audit?person_id={pid}", headers=headers).get_json()["items"]
    level = [e for e in events if e["action"] == "person.level_changed"]
    assert len(level) == 1
    assert level[0]["details"]["before"] == {"supervision_level": "ordinary"}
    assert level[0]["details"]["after"] == {"supervision_level": "strict"}
    assert level[0]["actor_name"] == "officer-a"
    assert client.get(f"/api/v1/officer/audit?person_id={world['pb'].id}", headers=headers).status_code == 404


def test_home_address_is_optional_on_create_and_patch(client, auth, world):
    headers = auth.headers("officer-a")
    without = client.post(PERSONS, json=person_body("PN-010", "A"), headers=headers)
    assert without.status_code == 201 and without.get_json()["home_address"] is None
    address = "上海市黄浦区南京东路 100 号 3 室"
    created = client.post(PERSONS, json=person_body("PN-011", "A", home_address=address), headers=headers)
    assert created.status_code == 201 and created.get_json()["home_address"] == address
    too_long = client.post(PERSONS, json=person_body("PN-012", "A", home_address="路" * 501), headers=headers)
    assert too_long.status_code == 422 and "home_address" in too_long.get_json()["errors"]

    person_id = created.get_json()["id"]
    moved = client.patch(f"{PERSONS}/{person_id}", json={"home_address": "杭州市西湖区文三路 1 号"}, headers=headers)
    assert moved.status_code == 200
    body = moved.get_json()
    assert body["home_address"] == "杭州市西湖区文三路 1 号" and body["home"]["radius_m"] == 2000
    cleared = client.patch(f"{PERSONS}/{person_id}", json={"home_address": None}, headers=headers)
    assert cleared.status_code == 200 and cleared.get_json()["home_address"] is None
    assert client.get(f"{PERSONS}/{person_id}", headers=headers).get_json()["home_address"] is None

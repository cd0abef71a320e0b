"""Who sees a check-in: the person their own, officers their office, county admins their county; photo views audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.checkins.helpers import (
    AUDIT,
    OFFICER_CHECKINS,
    assert_problem,
    identity_photos,
    own_checkins,
    post_checkin,
)
from tests.factories import make_office, make_officer, make_person

pytestmark = pytest.mark.faces


@pytest.fixture
def checkin_id(client: Any, phone: dict[str, str], clock: Any, faces_dir: Path) -> int:
    """One check-in of the office O1 person."""
    response = post_checkin(client, phone, identity_photos(faces_dir, "people/Tony_Blair")[1].read_bytes(),
                            captured_at=clock.now())
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_person_lists_only_own_checkins(client: Any, auth: Any, db_session: Any, office: Any, phone: dict[str, str],
                                        checkin_id: int, clock: Any, faces_dir: Path) -> None:
    neighbour = make_person(db_session, office, "P002")
    neighbour_phone = auth.person(neighbour.code, device_id="phone-9")
    response = post_checkin(client, neighbour_phone,
                            identity_photos(faces_dir, "people/Colin_Powell")[1].read_bytes(),
                            captured_at=clock.now())
    assert response.status_code == 201, response.get_json()

    assert [item["id"] for item in own_checkins(client, phone)] == [checkin_id]
    assert [item["id"] for item in own_checkins(client, neighbour_phone)] == [response.get_json()["id"]]


@pytest.mark.parametrize("path", ["{id}", "{id}/photo"])
def test_officer_of_another_office_gets_404(client: Any, auth: Any, db_session: Any, checkin_id: int,
                                            path: str) -> None:
    other_office = make_office(db_session, "O2", county="C1")
    make_officer(db_session, other_office, "officer2")

    response = client.get(f"{OFFICER_CHECKINS}/{path.format(id=checkin_id)}", headers=auth.headers("officer2"))

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(("county", "status"), [("C1", 200), ("C2", 404)])
def test_admin_sees_checkins_of_own_county_only(client: Any, auth: Any, db_session: Any, checkin_id: int,
                                                county: str, status: int) -> None:
    admin_office = make_office(db_session, "O9", county=county)
    make_officer(db_session, admin_office, "admin9", admin=True)
    headers = auth.headers("admin9")

    detail = client.get(f"{OFFICER_CHECKINS}/{checkin_id}", headers=headers)
    photo = client.get(f"{OFFICER_CHECKINS}/{checkin_id}/photo", headers=headers)
    queue = client.get(OFFICER_CHECKINS, headers=headers)

    assert (detail.status_code, photo.status_code) == (status, status)
    assert [item["id"] for item in queue.get_json()["items"]] == ([checkin_id] if status == 200 else [])


def test_every_photo_view_is_audited_with_the_viewer(client: Any, auth: Any, db_session: Any, person: Any,
                                                     officer_headers: dict[str, str], checkin_id: int) -> None:
    other_office = make_office(db_session, "O2", county="C1")
    make_officer(db_session, other_office, "admin1", admin=True)
    make_officer(db_session, other_office, "officer2")
    viewers = [("officer1", officer_headers), ("admin1", auth.headers("admin1")), ("officer1", officer_headers)]

    for _, headers in viewers:
        response = client.get(f"{OFFICER_CHECKINS}/{checkin_id}/photo", headers=headers)
        assert response.status_code == 200
    refused = client.get(f"{OFFICER_CHECKINS}/{checkin_id}/photo", headers=auth.headers("officer2"))
    assert refused.status_code == 404

    audit = client.get(AUDIT, query_string={"person_id": person.id}, headers=officer_headers)
    assert audit.status_code == 200, audit.get_json()
    views = [event for event in audit.get_json()["items"] if event["action"] == "checkin.photo_viewed"]
    # Newest first.
    assert [(event["actor_name"], event["target_id"]) for event in views] == [
        (name, str(checkin_id)) for name, _ in reversed(viewers)
    ]

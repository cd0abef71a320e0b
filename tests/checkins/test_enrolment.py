"""Enrolment of reference photos through the officer API: consistency, forcing, deletion and unusable photos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.checkins.helpers import (
    ENROL_REFUSALS,
    OFFICER_PERSONS,
    assert_problem,
    blob_files,
    edge_photo,
    enrol_identity,
    identity_photos,
    post_reference,
)

pytestmark = pytest.mark.faces

PERSON = "people/Colin_Powell"
SOMEONE_ELSE = "people/Vladimir_Putin"


def _faces(client: Any, headers: dict[str, str], person_id: int) -> list[dict[str, Any]]:
    response = client.get(f"{OFFICER_PERSONS}/{person_id}/faces", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _someone_elses_photo(client: Any, headers: dict[str, str], person_id: int, faces_dir: Path) -> bytes:
    """The first photo of another identity that passes the quality gates, as shown by its reference_mismatch."""
    for path in identity_photos(faces_dir, SOMEONE_ELSE):
        response = post_reference(client, headers, person_id, path.read_bytes())
        assert response.status_code == 422, response.get_json()
        if response.get_json()["code"] == "reference_mismatch":
            return path.read_bytes()
        assert response.get_json()["code"] in ENROL_REFUSALS, response.get_json()
    raise AssertionError(f"no photo of {SOMEONE_ELSE} passed the enrolment gates")


def test_person_is_registered_and_enrolled_through_the_api(client: Any, office: Any, officer_headers: dict[str, str],
                                                           faces_dir: Path) -> None:
    created = client.post(OFFICER_PERSONS, headers=officer_headers, json={
        "code": "P100", "name": "Wang Wei", "gender": "male", "birth_date": "1985-04-02",
        "sentence_type": "probation", "supervision_level": "ordinary", "start_date": "2026-01-01",
        "end_date": "2027-12-31", "office_code": office.code, "password": "correct-horse-1",
        "home": {"lat": 31.2304, "lon": 121.4737, "radius_m": 3000},
    })
    assert created.status_code == 201, created.get_json()
    person_id = created.get_json()["id"]

    enrolment = enrol_identity(client, officer_headers, person_id, identity_photos(faces_dir, PERSON))

    faces = _faces(client, officer_headers, person_id)
    assert [face["id"] for face in faces] == enrolment.reference_ids
    assert all(face["sha256"] and face["engine_version"] and not face["forced"] for face in faces)
    shown = client.get(f"{OFFICER_PERSONS}/{person_id}", headers=officer_headers).get_json()
    assert shown["reference_count"] == 3


def test_face_unlike_the_references_is_refused_unless_forced_with_a_note(
        client: Any, person: Any, officer_headers: dict[str, str], faces_dir: Path) -> None:
    enrolment = enrol_identity(client, officer_headers, person.id, identity_photos(faces_dir, PERSON))

    photo = _someone_elses_photo(client, officer_headers, person.id, faces_dir)
    without_note = post_reference(client, officer_headers, person.id, photo, force=True)
    blank_note = post_reference(client, officer_headers, person.id, photo, force=True, note="  ")
    forced = post_reference(client, officer_headers, person.id, photo, force=True,
                            note="Photo from the ID card office; checked in person.")

    assert "note" in assert_problem(without_note, 422, "validation_failed")["errors"]
    assert "note" in assert_problem(blank_note, 422, "validation_failed")["errors"]
    assert forced.status_code == 201, forced.get_json()
    assert forced.get_json()["forced"] is True
    assert forced.get_json()["note"] == "Photo from the ID card office; checked in person."
    assert forced.get_json()["quality"]["consistency"]["band"] == "rejected"
    assert [face["id"] for face in _faces(client, officer_headers, person.id)] == [
        *enrolment.reference_ids, forced.get_json()["id"]
    ]


def test_deleted_reference_leaves_the_list(client: Any, person: Any, officer_headers: dict[str, str],
                                           faces_dir: Path) -> None:
    enrolment = enrol_identity(client, officer_headers, person.id, identity_photos(faces_dir, PERSON))
    removed = enrolment.reference_ids[1]

    response = client.delete(f"{OFFICER_PERSONS}/{person.id}/faces/{removed}", headers=officer_headers)
    again = client.delete(f"{OFFICER_PERSONS}/{person.id}/faces/{removed}", headers=officer_headers)

    assert response.status_code == 204
    assert_problem(again, 404, "not_found")
    assert [face["id"] for face in _faces(client, officer_headers, person.id)] == [
        ref for ref in enrolment.reference_ids if ref != removed
    ]
    shown = client.get(f"{OFFICER_PERSONS}/{person.id}", headers=officer_headers).get_json()
    assert shown["reference_count"] == 2


def test_photo_with_several_faces_is_not_a_reference(client: Any, person: Any, officer_headers: dict[str, str],
                                                     blobs: Any, faces_dir: Path) -> None:
    before = blob_files(blobs)

    response = post_reference(client, officer_headers, person.id, edge_photo(faces_dir, "multi_face_two_people.jpg"))

    assert_problem(response, 422, "multiple_faces")
    assert _faces(client, officer_headers, person.id) == []
    assert blob_files(blobs) == before

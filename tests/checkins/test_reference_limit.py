"""The cap on reference photos per person (MAX_REFERENCES, lowered to 3 for this module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.checkins.helpers import OFFICER_PERSONS, assert_problem, enrol_identity, identity_photos, post_reference

pytestmark = pytest.mark.faces


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"MAX_REFERENCES": 3}


def test_reference_beyond_the_maximum_is_refused_until_one_is_deleted(
        client: Any, person: Any, officer_headers: dict[str, str], faces_dir: Path) -> None:
    enrolment = enrol_identity(client, officer_headers, person.id, identity_photos(faces_dir, "people/Colin_Powell"))
    extra = enrolment.probes[-1].read_bytes()  # refused before it is even analysed

    refused = post_reference(client, officer_headers, person.id, extra)
    assert_problem(refused, 409, "too_many_references")
    listed = client.get(f"{OFFICER_PERSONS}/{person.id}/faces", headers=officer_headers).get_json()
    assert [face["id"] for face in listed] == enrolment.reference_ids

    deleted = client.delete(f"{OFFICER_PERSONS}/{person.id}/faces/{enrolment.reference_ids[0]}",
                            headers=officer_headers)
    assert deleted.status_code == 204
    # A slot is free again: a photo known to pass the gates (the retired one) can be enrolled.
    retried = post_reference(client, officer_headers, person.id, enrolment.references[0].read_bytes())
    assert retried.status_code == 201, retried.get_json()

"""Property-based fuzzing of every operation in the served OpenAPI document: no input may produce a 5xx.

schemathesis generates valid (positive) and invalid (negative) requests from the spec and sends them in process
(WSGI) with a person's and an officer's token; each operation gets a bounded number of examples so the whole run
stays within a few minutes on two cores. Every 5xx is collected and reported together.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import update

from storage.models import Person
from tests.factories import make_office, make_officer, make_person

# Per operation, token and mode; CHECKIN_FUZZ_EXAMPLES raises it for a deeper local run.
EXAMPLES = int(os.environ.get("CHECKIN_FUZZ_EXAMPLES", "20"))
# Ends the session the token belongs to: fuzzed last.
LAST = ("/api/v1/auth/logout",)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # Fuzzed logins must not lock the run out, and clips are judged inside the request (no stray threads).
    return {"LOGIN_RATE_LIMIT": "100000 per minute", "LOGIN_FAILURE_LIMIT": "100000 per minute", "JOBS_SYNC": True}


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: (op.path in LAST, op.path, op.method))


def _strategy(operation: Any, mode: GenerationMode, known: dict[str, int]) -> Any:
    names = {param.name for param in operation.path_parameters}
    real = {name: value for name, value in known.items() if name in names}
    strategies = [operation.as_strategy(generation_mode=mode)]
    if real and mode == GenerationMode.POSITIVE:
        # Also reach past the scope check with ids that exist.
        strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))
    return st.one_of(strategies)


def _fuzz(operation: Any, strategy: Any, token: str, label: str, failures: list[str]) -> None:
    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception:  # noqa: BLE001 - collect every failing operation, then report them all
            failures.append(f"{label} -> {response.status_code}: {case.as_curl_command()}")

    fuzz()


def test_no_generated_request_gets_a_server_error(app, db_session, auth):
    office = make_office(db_session, "FZ1", county="FZ")
    make_officer(db_session, office, "fuzz-officer")
    phone = make_person(db_session, office, "FZP1")
    # Real ids in paths go to another person, so that fuzzed changes (status, level) leave the phone's login alone.
    known = {"person_id": make_person(db_session, office, "FZP2").id}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []

    for operation in _operations(schema):
        # Fresh tokens per operation: a fuzzed request may have ended the session or suspended the phone's person.
        db_session.execute(update(Person).where(Person.id == phone.id).values(status="active"))
        db_session.commit()
        tokens = {"officer": auth.tokens("fuzz-officer")["access_token"],
                  "person": auth.tokens("FZP1", device_id="fuzz-phone")["access_token"]}
        for role, token in tokens.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                label = f"{role} {operation.method.upper()} {operation.path} ({mode})"
                try:
                    _fuzz(operation, _strategy(operation, mode, known), token, label, failures)
                except Exception as exc:  # noqa: BLE001 - a generation problem is a failure of this run too
                    failures.append(f"{label}: {exc!r}")

    assert failures == [], "\n".join(dict.fromkeys(failures))

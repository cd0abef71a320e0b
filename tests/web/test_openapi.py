"""The served OpenAPI document: valid OpenAPI 3.1, every response declared (problems with their codes included),
enums from storage.enums, the Idempotency-Key header, examples that match their schemas, and real answers that
match the document."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from storage.enums import AlertType, CheckinKind, CheckinStatus, LeaveStatus, Reason, TaskStatus
from tests.checkins.helpers import post_checkin
from web.apidoc import PROBLEM_CODES

REPO = Path(__file__).resolve().parents[2]
SPEC_URL = "/api/v1/openapi.json"
# The mutating phone endpoints that honour Idempotency-Key (web.idempotency.idempotent).
IDEMPOTENT = {
    ("post", "/api/v1/checkins"),
    ("post", "/api/v1/leave-requests"),
    ("post", "/api/v1/leave-requests/{leave_id}/cancel"),
    ("post", "/api/v1/leave-requests/{leave_id}/return"),
    ("post", "/api/v1/liveness/challenges"),
    ("post", "/api/v1/video-inspections/{task_id}/clip"),
    ("post", "/api/v1/activities/{activity_id}/attendance/check-in"),
    ("post", "/api/v1/activities/{activity_id}/attendance/check-out"),
    ("post", "/api/v1/messages/{message_id}/read"),
    ("post", "/api/v1/locations"),
}
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    response = client.get(SPEC_URL)
    assert response.status_code == 200
    return response.get_json()


def _operations(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> OAS31Validator:
    # The document is the root, so "#/components/..." references resolve inside it.
    return OAS31Validator({**schema, "components": spec["components"]})


def _problem_schema(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    response = spec["paths"][path][method]["responses"][str(status)]
    return response["content"]["application/problem+json"]["schema"]


def _documented_codes(spec: dict[str, Any], method: str, path: str, status: int) -> list[str]:
    return _problem_schema(spec, method, path, status)["allOf"][1]["properties"]["code"]["enum"]


def test_served_document_passes_openapi_spec_validator(spec):
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in OpenAPIV31SpecValidator(spec).iter_errors()]

    assert errors == []
    validate(spec)  # the library's own entry point, as CI would call it


def test_every_operation_declares_its_success_and_problem_responses(spec):
    missing = []
    for method, path, operation in _operations(spec):
        responses = operation["responses"]
        if not any(code.startswith("2") for code in responses):
            missing.append(f"{method} {path}: no success response")
        if "default" not in responses or "application/problem+json" not in responses["default"]["content"]:
            missing.append(f"{method} {path}: no problem+json default")
        if "503" not in responses:
            missing.append(f"{method} {path}: no 503")
        for status, response in responses.items():
            if status != "default" and int(status) >= 400 and "application/problem+json" not in response["content"]:
                missing.append(f"{method} {path}: {status} is not problem+json")
        if operation.get("security") != [] and "401" not in responses:
            missing.append(f"{method} {path}: no 401")
        if "{" in path and "404" not in responses:
            missing.append(f"{method} {path}: no 404")
    assert missing == []


def test_problem_codes_are_listed_per_endpoint(spec):
    assert {"no_face", "multiple_faces", "image_too_dark", "liveness_required"} <= set(
        _documented_codes(spec, "post", "/api/v1/checkins", 422))
    assert _documented_codes(spec, "post", "/api/v1/checkins", 415) == ["unsupported_media_type"]
    assert set(_documented_codes(spec, "post", "/api/v1/checkins", 409)) >= {"idempotency_conflict",
                                                                           "idempotency_in_progress"}
    assert "invalid_credentials" in _documented_codes(spec, "post", "/api/v1/auth/login", 401)
    assert _documented_codes(spec, "post", "/api/v1/auth/login", 429) == ["rate_limited"]
    assert "already_reviewed" in _documented_codes(spec, "post", "/api/v1/officer/checkins/{checkin_id}/review", 409)
    assert {"leave_overlap", "leave_notice_too_short"} <= set(
        _documented_codes(spec, "post", "/api/v1/leave-requests", 422))
    assert {"evidence_tampered"} <= set(_documented_codes(spec, "get", "/api/v1/officer/checkins/{checkin_id}/photo",
                                                          409))
    assert _documented_codes(spec, "get", "/api/v1/officer/checkins/{checkin_id}/photo", 410) == [
        "evidence_unavailable"]
    # A phone endpoint is not for officers: 403 is documented where a role is required.
    assert _documented_codes(spec, "get", "/api/v1/me", 403) == ["forbidden"]


def test_every_code_the_code_base_raises_is_documented():
    # Every code="..." in the domain and HTTP layers must be in web.apidoc.PROBLEM_CODES, or the document lies.
    raised: set[str] = set()
    for folder in ("supervision", "web", "mobile_api", "officer_api", "verification"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name.startswith("console"):
                continue
            raised |= set(re.findall(r'\bcode="([a-z_]+)"', path.read_text(encoding="utf-8")))
    from supervision import errors
    from verification.errors import ImageErrorCode, QualityErrorCode

    raised |= {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.AppError)
               and cls is not errors.AppError}
    raised |= {str(code) for code in (*ImageErrorCode, *QualityErrorCode)}
    raised -= {"app_error", "conflict", "rule_violation"}  # bases, always raised with a code of their own

    assert sorted(raised - set(PROBLEM_CODES)) == []


def test_statuses_and_reasons_are_enums_from_storage(spec):
    schemas = spec["components"]["schemas"]
    result = schemas["CheckinResult"]["properties"]

    assert result["status"]["enum"] == [s.value for s in CheckinStatus]
    assert result["kind"]["enum"] == [k.value for k in CheckinKind]
    assert result["reasons"]["items"]["enum"] == [r.value for r in Reason]
    assert schemas["Checkin"]["properties"]["reasons"]["items"]["enum"] == [r.value for r in Reason]
    assert schemas["Leave"]["properties"]["status"]["enum"] == [s.value for s in LeaveStatus]
    assert schemas["Alert"]["properties"]["type"]["enum"] == [t.value for t in AlertType]
    assert schemas["Task"]["properties"]["status"]["enum"] == [s.value for s in TaskStatus]
    # Nullable enums admit null.
    assert None in result["failure_code"]["enum"] and "no_face" in result["failure_code"]["enum"]


def test_checkin_result_declares_match_location_and_liveness(spec):
    schemas = spec["components"]["schemas"]
    result = schemas["CheckinResult"]["properties"]

    for name, component, keys in (("match", "MatchSummary", {"distance", "threshold"}),
                                  ("location", "LocationSummary", {"inside_area"}),
                                  ("liveness", "LivenessSummary", {"passed", "failed_step"})):
        refs = [part.get("$ref") for part in result[name].get("anyOf", [result[name]])]
        assert f"#/components/schemas/{component}" in refs, result[name]
        assert set(schemas[component]["properties"]) == keys
    officer = schemas["CheckinDetail"]["properties"]
    assert {"distance", "band", "verify_threshold"} <= set(schemas["CheckinMatch"]["properties"])
    assert schemas["CheckinMatch"]["additionalProperties"] is True  # stored evidence is shown whole
    assert "CheckinLiveness" in str(officer["liveness"])


def test_idempotency_key_header_is_on_the_endpoints_that_honour_it(spec):
    documented = {(method, path) for method, path, operation in _operations(spec)
                  if {"$ref": "#/components/parameters/IdempotencyKey"} in operation.get("parameters", [])}

    assert documented == IDEMPOTENT
    header = spec["components"]["parameters"]["IdempotencyKey"]
    assert (header["name"], header["in"], header["required"]) == ("Idempotency-Key", "header", False)
    replayed = spec["paths"]["/api/v1/checkins"]["post"]["responses"]["201"]["headers"]
    assert "Idempotent-Replayed" in replayed


def test_examples_match_their_schemas(spec):
    checked = 0
    for method, path, operation in _operations(spec):
        bodies = [("request", content) for content in operation.get("requestBody", {}).get("content", {}).values()]
        bodies += [(status, content) for status, response in operation["responses"].items()
                   for content in response.get("content", {}).values()]
        for where, content in bodies:
            examples = [content["example"]] if "example" in content else []
            examples += [example["value"] for example in content.get("examples", {}).values()]
            for example in examples:
                errors = [e.message for e in _validator(spec, content["schema"]).iter_errors(example)]
                assert errors == [], f"{method} {path} {where}: {errors}"
                checked += 1
    assert checked > 100  # every problem response carries one example per code


def test_real_answers_match_the_documented_schemas(client, spec, auth, person, officer_headers, clock):
    phone = auth.person(person.code, device_id="phone-1")
    checks = [
        ("get", "/api/v1/me", 200, client.get("/api/v1/me", headers=phone)),
        ("get", "/api/v1/officer/persons/{person_id}", 200,
         client.get(f"/api/v1/officer/persons/{person.id}", headers=officer_headers)),
        ("get", "/api/v1/officer/checkins", 200, client.get("/api/v1/officer/checkins", headers=officer_headers)),
        ("get", "/api/v1/me", 401, client.get("/api/v1/me")),
        ("get", "/api/v1/me", 403, client.get("/api/v1/me", headers=officer_headers)),
        ("get", "/api/v1/officer/persons/{person_id}", 404,
         client.get("/api/v1/officer/persons/999999", headers=officer_headers)),
        ("post", "/api/v1/checkins", 422, client.post("/api/v1/checkins", headers=phone, data={},
                                                      content_type="multipart/form-data")),
        ("post", "/api/v1/checkins", 415, post_checkin(client, phone, b"not an image at all",
                                                       captured_at=clock.now())),
        ("post", "/api/v1/auth/login", 401, client.post("/api/v1/auth/login",
                                                        json={"username": "nobody", "password": "wrong"})),
    ]
    for method, path, status, response in checks:
        assert response.status_code == status, (path, response.get_json())
        content = spec["paths"][path][method]["responses"][str(status)]["content"]
        assert response.mimetype in content, (path, status, response.mimetype)
        schema = content[response.mimetype]["schema"]
        errors = [e.message for e in _validator(spec, schema).iter_errors(response.get_json())]
        assert errors == [], f"{method} {path} {status}: {errors}"


@pytest.mark.faces
def test_a_verified_checkin_matches_the_documented_result(client, spec, auth, person, officer_headers, clock,
                                                          faces_dir):
    from tests.checkins.helpers import enrol_identity, identity_photos

    photos = identity_photos(faces_dir, "people/Colin_Powell")
    enrolment = enrol_identity(client, officer_headers, person.id, photos, count=3)
    phone = auth.person(person.code, device_id="phone-1")
    response = post_checkin(client, phone, enrolment.probes[0].read_bytes(), captured_at=clock.now(),
                            key="openapi-doc-check")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["match"] is not None and body["location"] == {"inside_area": True}
    schema = spec["paths"]["/api/v1/checkins"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert [e.message for e in _validator(spec, schema).iter_errors(body)] == []
    detail = client.get(f"/api/v1/officer/checkins/{body['id']}", headers=officer_headers)
    detail_schema = (spec["paths"]["/api/v1/officer/checkins/{checkin_id}"]["get"]["responses"]["200"]["content"]
                     ["application/json"]["schema"])
    assert [e.message for e in _validator(spec, detail_schema).iter_errors(detail.get_json())] == []


def test_docs_page_serves_swagger_ui_from_this_server(client):
    page = client.get("/api/v1/docs")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/api/v1/docs/static/swagger-ui-bundle.js" in sources
    assert [s for s in sources if "//" in s] == []  # nothing from another host (no CDN)
    for source in sources:
        if source.startswith("/api/v1/docs/static/"):
            with client.get(source) as asset:  # a file response: close it
                assert asset.status_code == 200 and len(asset.data) > 100, source
    with client.get("/api/v1/docs/static/swagger-ui-bundle.js") as bundle:
        assert "SwaggerUIBundle" in bundle.get_data(as_text=True)
    assert client.get("/api/v1/docs/static/../server/cli.py").status_code == 404
    assert client.get("/api/v1/docs/static/LICENSE").status_code == 404

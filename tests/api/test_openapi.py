"""The OpenAPI document is valid, lists exactly the API's routes, and matches what the app answers."""
from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from scheduler.api.openapi import openapi_document

from .conftest import meeting_body

API = "/api/v1"
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
DOC = "urn:openapi"


@pytest.fixture
def document() -> dict:
    """The document as clients receive it (a JSON copy, so no test can change the cached original)."""
    return json.loads(json.dumps(openapi_document()))


def pointer(*parts: str) -> str:
    """A URI fragment pointing into the document (JSON Pointer escaped, then percent-encoded)."""
    return "#/" + "/".join(quote(p.replace("~", "~0").replace("/", "~1"), safe="") for p in parts)


def schema_errors(document: dict, fragment: str, instance: object) -> list[str]:
    """Validate `instance` against the schema at `fragment`, its $refs resolved inside the document."""
    registry = Registry().with_resource(DOC, DRAFT202012.create_resource(document))
    validator = Draft202012Validator({"$ref": DOC + fragment}, registry=registry,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


@pytest.fixture
def conforms(document):
    """Assert a real response has the status expected and is documented with its schema for the operation."""

    def check(method: str, path: str, response, status: int) -> None:
        assert response.status_code == status, response.text
        responses = document["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path} answers {status}, which is not documented"
        content = responses[str(status)]["content"]
        assert response.mimetype in content, f"{method.upper()} {path} {status}: {response.mimetype} not documented"
        if response.mimetype == "application/json":
            fragment = pointer("paths", path, method, "responses", str(status), "content", response.mimetype,
                               "schema")
            assert schema_errors(document, fragment, response.json) == []

    return check


def test_document_is_valid_openapi(document):
    validate(document)
    assert document["servers"] == [{"url": API}]


def test_every_route_is_documented_and_every_documented_route_exists(app, document):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(f"{API}/"):
            path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API))
            routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document["paths"].items() for method in item
                  if method in HTTP_METHODS}
    assert routes == documented


def test_path_parameters_are_documented(document):
    for path, item in document["paths"].items():
        for method in set(item) & HTTP_METHODS:
            parameters = item.get("parameters", []) + item[method].get("parameters", [])
            in_path = {p["name"] for p in parameters if p["in"] == "path"}
            assert in_path == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_request_schema_accepts_a_valid_booking_and_rejects_unknown_fields(document):
    create = pointer("components", "schemas", "MeetingCreate")
    assert schema_errors(document, create, meeting_body()) == []
    assert schema_errors(document, create, meeting_body(colour="red"))
    assert schema_errors(document, create, meeting_body(staff=[]))


def test_reference_data_and_slots_match(client, world, conforms, document):
    headers = world.headers
    assert client.get(f"{API}/openapi.json").json == document
    conforms("get", "/health", client.get(f"{API}/health"), 200)
    conforms("get", "/municipalities", client.get(f"{API}/municipalities", headers=headers), 200)
    conforms("get", "/wards", client.get(f"{API}/wards", headers=headers), 200)
    slots = client.get(f"{API}/slots?municipality=0540&from=2026-11-24&to=2026-11-25&duration=45", headers=headers)
    conforms("get", "/slots", slots, 200)
    assert slots.json["slots"]  # an empty list would prove nothing about the Slot schema
    conforms("get", "/slots", client.get(f"{API}/slots?municipality=0540&from=x&to=y", headers=headers), 422)


def test_meeting_lifecycle_matches(client, world, book, conforms):
    headers = world.headers
    created = book(advisor_id=world.advisor.id, discharge_at="2026-11-27T12:00:00+01:00")
    conforms("post", "/meetings", created, 201)
    url = f"{API}/meetings/{created.json['id']}"
    conforms("get", "/meetings/{meeting_id}", client.get(url, headers=headers), 200)
    listed = client.get(f"{API}/meetings?from=2026-11-24&status=booked", headers=headers)
    conforms("get", "/meetings", listed, 200)
    assert len(listed.json["meetings"]) == 1
    moved = client.patch(url, json={"start": "2026-11-25T13:00:00+01:00"}, headers=headers)
    conforms("patch", "/meetings/{meeting_id}", moved, 200)
    conforms("get", "/meetings/{meeting_id}/invite.ics", client.get(f"{url}/invite.ics", headers=headers), 200)
    cancelled = client.post(f"{url}/cancel", json={"reason": "Udskrevet"}, headers=headers)
    conforms("post", "/meetings/{meeting_id}/cancel", cancelled, 200)
    assert cancelled.json["cancel_reason"] == "Udskrevet"


def test_error_responses_match(client, world, book, api_token, conforms):
    headers = world.headers
    conforms("get", "/meetings", client.get(f"{API}/meetings"), 401)
    conforms("post", "/meetings", client.post(f"{API}/meetings", json=meeting_body()), 401)
    conforms("post", "/meetings", client.post(f"{API}/meetings", json=meeting_body(),
                                              headers=api_token(world.advisor)), 403)
    conforms("post", "/meetings", book(staff=[]), 422)
    conforms("post", "/meetings", client.post(f"{API}/meetings", json=[1], headers=headers), 422)
    meeting = book().json
    conforms("post", "/meetings", book(relatives=[]), 409)  # same staff, same time
    url = f"{API}/meetings/{meeting['id']}"
    conforms("get", "/meetings/{meeting_id}", client.get(f"{API}/meetings/{meeting['id'] + 1}", headers=headers), 404)
    conforms("patch", "/meetings/{meeting_id}", client.patch(url, json={"start": "x"}, headers=headers), 422)
    conforms("get", "/meetings", client.get(f"{API}/meetings?status=gone", headers=headers), 422)
    conforms("post", "/meetings/{meeting_id}/cancel", client.post(f"{url}/cancel", json={}, headers=headers), 422)
    conforms("post", "/meetings/{meeting_id}/cancel",
             client.post(f"{url}/cancel", json={"reason": "Udskrevet"}, headers=headers), 200)
    conforms("post", "/meetings/{meeting_id}/cancel",
             client.post(f"{url}/cancel", json={"reason": "Igen"}, headers=headers), 409)
    conforms("patch", "/meetings/{meeting_id}",
             client.patch(url, json={"start": "2026-11-25T13:00:00+01:00"}, headers=headers), 409)
    conforms("get", "/meetings/{meeting_id}/invite.ics", client.get(f"{url}/invite.ics"), 401)

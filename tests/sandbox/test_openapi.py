"""The vendored Jira description and the validator's relaxations (trimming: test_trim_specs)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from openapi_core import OpenAPI

from okrsync_sandbox import HttpRequest, HttpResponse, SpecValidator
from okrsync_sandbox.jira import JIRA_RELAXATIONS, SPEC_PATH, jira_spec_validator

V2_MAP = {"/rest/api/2/": "/rest/api/3/"}
BASIC = {"authorization": "Basic ZGVtbzpzYW5kYm94"}


def test_vendored_description_is_small_and_passes_its_own_check() -> None:
    assert SPEC_PATH.stat().st_size < 100_000
    OpenAPI.from_path(SPEC_PATH)  # runs openapi-spec-validator on the trimmed file


def server_info_exchange() -> tuple[HttpRequest, HttpResponse]:
    body = {"baseUrl": "http://127.0.0.1", "serverTime": "2026-11-24T10:00:00.000+0000"}
    return HttpRequest("GET", "/rest/api/2/serverInfo"), HttpResponse(200, body)


def post_search_exchange() -> tuple[HttpRequest, HttpResponse]:
    body = {"jql": "project = ONB", "startAt": 0, "validateQuery": True, "expand": None}
    request = HttpRequest(
        "POST",
        "/rest/api/2/search",
        headers={**BASIC, "content-type": "application/json"},
        body=json.dumps(body).encode(),
    )
    return request, HttpResponse(200, {"startAt": 0, "total": 0, "issues": []})


# Each relaxation, and an exchange that breaks the description without it.
NEEDED_FOR = {
    "date-time": server_info_exchange(),
    "validateQuery=True": (
        HttpRequest("GET", "/rest/api/2/search", query={"validateQuery": ["True"]}, headers=BASIC),
        HttpResponse(200, {"total": 0, "issues": []}),
    ),
    "posts null": post_search_exchange(),
    "410 Gone": (HttpRequest("GET", "/rest/api/2/search", headers=BASIC), HttpResponse(410, {})),
    "204 has no body": (
        HttpRequest(
            "PUT",
            "/rest/api/2/issue/ONB-1",
            headers={**BASIC, "content-type": "application/json"},
            body=b'{"fields": {}}',
        ),
        HttpResponse(204),
    ),
    "answers both with an empty body": (
        HttpRequest(
            "PUT",
            "/rest/api/2/issue/ONB-1/properties/okrsync.status",
            headers={**BASIC, "content-type": "application/json"},
            body=b'{"krs": ["ONB-1"]}',
        ),
        HttpResponse(201),
    ),
    "'Create issue link'": (
        HttpRequest(
            "POST",
            "/rest/api/2/issueLink",
            headers={**BASIC, "content-type": "application/json"},
            body=b'{"type": {"name": "Relates"}, "inwardIssue": {"key": "OKR-1"}, '
            b'"outwardIssue": {"key": "ONB-1"}}',
        ),
        HttpResponse(201),
    ),
}


@pytest.mark.parametrize("relaxation", JIRA_RELAXATIONS, ids=lambda r: r.why[:40])
def test_every_relaxation_is_needed_and_enough(relaxation: object) -> None:
    assert isinstance(relaxation, type(JIRA_RELAXATIONS[0]))
    (request, response), *others = [
        exchange for fragment, exchange in NEEDED_FOR.items() if fragment in relaxation.why
    ]
    assert not others
    others_only = [r for r in JIRA_RELAXATIONS if r is not relaxation]
    without = SpecValidator(SPEC_PATH, path_prefix_map=V2_MAP, relax=others_only)
    assert without.validate(request, response) != []
    assert jira_spec_validator().validate(request, response) == []


def test_violations_name_the_place_without_dumping_bodies() -> None:
    request = HttpRequest("GET", "/rest/api/2/search", headers=BASIC)
    response = HttpResponse(200, {"total": "many", "issues": [{"id": "1"}] * 50})
    (problem,) = jira_spec_validator().validate_response(request, response)
    assert problem == (
        "response 200 to GET /rest/api/2/search: body: $.total: 'many' is not of type 'integer'"
    )


def test_rejects_timestamps_that_are_not_timestamps() -> None:
    request, response = server_info_exchange()
    broken = dataclasses.replace(response, body={"serverTime": "yesterday"})
    assert "is not a 'date-time'" in jira_spec_validator().validate(request, broken)[0]


def test_paths_outside_the_description_are_violations() -> None:
    (problem,) = jira_spec_validator().validate_request(HttpRequest("GET", "/rest/api/2/nope"))
    assert problem.startswith("request GET /rest/api/2/nope: ")

"""The vendored Asana description and the validator's relaxations (trimming: test_trim_specs)."""

from __future__ import annotations

import json

import pytest
from openapi_core import OpenAPI

from okrsync_sandbox import HttpRequest, HttpResponse, SpecValidator
from okrsync_sandbox.asana import ASANA_RELAXATIONS, SPEC_PATH, asana_spec_validator

pytestmark = pytest.mark.filterwarnings("ignore:Use of allowEmptyValue:DeprecationWarning")

BEARER = {"authorization": "Bearer asana-sandbox-token"}
TASK = "/api/1.0/tasks/1204000000000007"


def test_vendored_description_is_small_and_passes_its_own_check() -> None:
    assert SPEC_PATH.stat().st_size < 150_000
    OpenAPI.from_path(SPEC_PATH)  # runs openapi-spec-validator on the trimmed file
    codes = {
        code
        for item in json.loads(SPEC_PATH.read_text())["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
        for code in operation["responses"]
    }
    assert codes == {"200", "201", "400", "401", "403", "404", "500"}  # strings, not ints


def task_exchange(opt_fields: str, data: dict[str, object]) -> tuple[HttpRequest, HttpResponse]:
    request = HttpRequest("GET", TASK, query={"opt_fields": [opt_fields]}, headers=BEARER)
    return request, HttpResponse(200, {"data": data}, media_type="application/json")


def custom_fields_put(values: dict[str, object]) -> tuple[HttpRequest, HttpResponse]:
    body = json.dumps({"data": {"custom_fields": values}}).encode()
    headers = {**BEARER, "content-type": "application/json"}
    request = HttpRequest(
        "PUT", TASK, query={"opt_fields": ["modified_at"]}, headers=headers, body=body
    )
    response = {"gid": "1", "modified_at": "2026-11-24T12:00:00.000Z"}
    return request, HttpResponse(200, {"data": response}, media_type="application/json")


# Each relaxation, and an exchange that breaks the description without it.
NEEDED_FOR = {
    "admit null": task_exchange("parent", {"gid": "1", "parent": None}),
    "a JSON number for a number field": custom_fields_put({"11": 40.5, "12": None, "13": "14"}),
}


@pytest.mark.parametrize("relaxation", ASANA_RELAXATIONS, ids=lambda r: r.why[:40])
def test_every_relaxation_is_needed_and_enough(relaxation: object) -> None:
    assert isinstance(relaxation, type(ASANA_RELAXATIONS[0]))
    (request, response), *others = [
        exchange for fragment, exchange in NEEDED_FOR.items() if fragment in relaxation.why
    ]
    assert not others
    others_only = [r for r in ASANA_RELAXATIONS if r is not relaxation]
    without = SpecValidator(SPEC_PATH, relax=others_only)
    assert without.validate(request, response) != []
    assert asana_spec_validator().validate(request, response) == []


@pytest.mark.parametrize("fields", ["parent.gid", "gid", "memberships.project.gid", "bogus"])
def test_opt_fields_are_checked_unrelaxed(fields: str) -> None:
    """The description lists `parent` but never `gid`, `parent.gid` or other `.gid` names."""
    request, _ = task_exchange(fields, {})
    (problem,) = asana_spec_validator().validate_request(request)
    assert problem.startswith(f"request GET {TASK}: ") and "opt_fields" in problem


def test_opt_fields_the_description_lists_pass() -> None:
    request, response = task_exchange(
        "name,parent,parent.name,tags.name,memberships.project.name",
        {"gid": "1", "name": "x", "parent": {"gid": "2", "name": "p"}},
    )
    assert asana_spec_validator().validate(request, response) == []


def test_violations_name_the_place_without_dumping_bodies() -> None:
    request, response = task_exchange("completed", {"gid": "1", "completed": "yes"})
    (problem,) = asana_spec_validator().validate_response(request, response)
    assert problem == (
        f"response 200 to GET {TASK}: body: $.data.completed: 'yes' is not of type 'boolean'"
    )


def test_paths_are_checked_under_the_api_prefix() -> None:
    unprefixed = HttpRequest("GET", "/tasks/1204000000000007", headers=BEARER)
    assert asana_spec_validator().validate_request(unprefixed) != []
    assert asana_spec_validator().validate_request(HttpRequest("GET", TASK, headers=BEARER)) == []

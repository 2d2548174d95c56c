"""The vendored Asana description, its trimming, and the validator's relaxations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from openapi_core import OpenAPI

from okrsync.sandbox import HttpRequest, HttpResponse, SpecValidator
from okrsync.sandbox.asana import ASANA_RELAXATIONS, SPEC_PATH, asana_spec_validator

pytestmark = pytest.mark.filterwarnings("ignore:Use of allowEmptyValue:DeprecationWarning")

SPECS_DIR = SPEC_PATH.parent
SHARED_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "specs" / "asana.oas.yaml"
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


@pytest.mark.skipif(not SHARED_SOURCE.exists(), reason="Asana's full description not here")
def test_trim_script_reproduces_the_vendored_file(tmp_path: Path) -> None:
    sys.path.insert(0, str(SPECS_DIR))
    try:
        import trim
    finally:
        sys.path.remove(str(SPECS_DIR))
    output = tmp_path / "asana.json"
    trim.main([str(SHARED_SOURCE), "--output", str(output)])
    assert output.read_text() == SPEC_PATH.read_text()


def task_exchange(opt_fields: str, data: dict[str, object]) -> tuple[HttpRequest, HttpResponse]:
    request = HttpRequest("GET", TASK, query={"opt_fields": [opt_fields]}, headers=BEARER)
    return request, HttpResponse(200, {"data": data}, media_type="application/json")


# Each relaxation, and an exchange that breaks the description without it.
NEEDED_FOR = {
    "never gid": task_exchange("parent.gid", {"gid": "1", "parent": {"gid": "2"}}),
    "admit null": task_exchange("parent", {"gid": "1", "parent": None}),
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


def test_relaxed_opt_fields_still_refuse_unknown_properties() -> None:
    request, _ = task_exchange("parent.gid,bogus.gid", {})
    (problem,) = asana_spec_validator().validate_request(request)
    assert problem.startswith(f"request GET {TASK}: ") and "opt_fields" in problem


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

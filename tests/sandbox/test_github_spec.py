"""The vendored GitHub description and the validator's relaxations (trimming: test_trim_specs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from openapi_core import OpenAPI

from okrsync_sandbox import HttpRequest, HttpResponse, SpecValidator
from okrsync_sandbox._github_model import GitHubView, Issue, Repo, User
from okrsync_sandbox.github import GITHUB_RELAXATIONS, SPEC_PATH, github_spec_validator

BASE = "http://127.0.0.1:8000"
JSON = {"content-type": "application/json"}
MOMENT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_vendored_description_is_small_and_passes_its_own_check() -> None:
    assert SPEC_PATH.stat().st_size < 120_000
    OpenAPI.from_path(SPEC_PATH)  # runs openapi-spec-validator on the trimmed file


def open_issue() -> dict[str, Any]:
    """A never-closed issue as the sandbox renders it (state_reason null)."""
    repo = Repo(1, User(2, "acme", "Organization"), "web", MOMENT)
    user = User(3, "alex")
    issue = Issue(4, 1, repo, "Title", None, user, [], MOMENT, MOMENT)
    return GitHubView(BASE).issue(issue, single=True)


def error(status: int, **extra: Any) -> HttpResponse:
    body = {"message": "x", "documentation_url": "https://docs.github.com/rest", **extra}
    return HttpResponse(status, {**body, "status": str(status)})


def exchange(
    method: str, path: str, response: HttpResponse, body: Any = None, **query: str
) -> tuple[HttpRequest, HttpResponse]:
    payload = b"" if body is None else json.dumps(body).encode()
    headers = JSON if body is not None else {}
    request = HttpRequest(method, path, {k: [v] for k, v in query.items()}, headers, payload)
    return request, response


# Each relaxation, and an exchange that breaks the description without it.
NEEDED_FOR = {
    "/repositories/{repository_id}": exchange(
        "GET", "/repositories/7/issues", HttpResponse(200, []), page="2"
    ),
    "Nullable enums": exchange("GET", "/repos/acme/web/issues/1", HttpResponse(200, open_issue())),
    "bare JSON array": exchange(
        "POST", "/repos/acme/web/issues/1/labels", HttpResponse(200, []), body=["points:3"]
    ),
    "Any GET answers 304": exchange(
        "GET", "/repos/acme/web/issues", HttpResponse(304), state="all", per_page="100"
    ),
    "401 Bad credentials": exchange("GET", "/repos/acme/web", error(401)),
    "403 API rate limit": exchange("GET", "/repos/acme/web/issues", error(403)),
    "403 or 429": exchange("GET", "/search/issues", error(429), q="label:bug"),
    "404 Not Found": exchange(
        "PATCH", "/repos/acme/web/issues/comments/5", error(404), body={"body": "x"}
    ),
    "422 Validation Failed": exchange(
        "GET",
        "/repos/acme/web/issues/1/comments",
        error(422, errors=[{"resource": "IssueComment", "field": "since", "code": "invalid"}]),
        since="yesterday",
    ),
}


@pytest.mark.parametrize("relaxation", GITHUB_RELAXATIONS, ids=lambda r: r.why[:40])
def test_every_relaxation_is_needed_and_enough(relaxation: Any) -> None:
    (request, response), *others = [
        pair for fragment, pair in NEEDED_FOR.items() if fragment in relaxation.why
    ]
    assert not others
    others_only = [r for r in GITHUB_RELAXATIONS if r is not relaxation]
    without = SpecValidator(SPEC_PATH, relax=others_only)
    assert without.validate(request, response) != []
    problems = github_spec_validator().validate(request, response)
    # The 422 exchange sends an invalid `since` on purpose: only the response must pass.
    assert [p for p in problems if not p.startswith("request GET /repos/acme/web/issues/1/c")] == []


def test_violations_name_the_place_without_dumping_bodies() -> None:
    broken = {**open_issue(), "number": "one"}
    request, response = exchange("GET", "/repos/acme/web/issues/1", HttpResponse(200, broken))
    (problem,) = github_spec_validator().validate_response(request, response)
    assert problem == (
        "response 200 to GET /repos/acme/web/issues/1: body: $.number: 'one' is not of type "
        "'integer'"
    )


def test_state_reason_outside_the_enum_still_fails() -> None:
    odd = {**open_issue(), "state_reason": "abandoned"}
    request, response = exchange("GET", "/repos/acme/web/issues/1", HttpResponse(200, odd))
    assert "state_reason" in github_spec_validator().validate_response(request, response)[0]


def test_bad_query_parameters_are_violations() -> None:
    request, response = exchange(
        "GET", "/repos/acme/web/issues", HttpResponse(200, []), state="bad"
    )
    (problem,) = github_spec_validator().validate_request(request)
    assert problem.startswith("request GET /repos/acme/web/issues: ") and "state" in problem


def test_rate_limit_headers_are_checked() -> None:
    rate = {"limit": 1, "remaining": 1, "reset": 1, "used": 0}
    body = {"resources": {"core": rate, "search": rate}, "rate": rate}
    request = HttpRequest("GET", "/rate_limit")
    validator = github_spec_validator()
    assert validator.validate_response(request, HttpResponse(200, body)) == []
    broken = HttpResponse(200, body, {"X-RateLimit-Limit": "many"})
    (problem,) = validator.validate_response(request, broken)
    assert "Failed to cast value to integer type: many" in problem

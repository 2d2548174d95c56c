"""The vendor-neutral server: routing, recording, faults, strictness, lifecycle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from okrsync_sandbox import ApiError, HttpRequest, HttpResponse, SandboxServer


class RefusesBadQueries:
    """A stand-in contract: a `bad` query parameter breaks it, and so does a 201."""

    def validate_request(self, request: HttpRequest) -> list[str]:
        return ["bad query"] if "bad" in request.query else []

    def validate_response(self, request: HttpRequest, response: HttpResponse) -> list[str]:
        return ["201 not allowed"] if response.status == 201 else []


class Notes(SandboxServer):
    def __init__(self, strict: bool = True) -> None:
        super().__init__(validator=RefusesBadQueries(), strict=strict)
        self.notes: dict[str, str] = {}
        self.router.add("GET", "/notes/{name}", self.get_note)
        self.router.add("PUT", "/notes/{name}", self.put_note)
        self.router.add("POST", "/crash", self.crash)

    def authenticate(self, request: HttpRequest) -> None:
        if request.header("authorization") != "Bearer ok":
            raise ApiError(401, "who are you?")

    def get_note(self, request: HttpRequest) -> HttpResponse:
        name = request.path_params["name"]
        if name not in self.notes:
            raise ApiError(404, f"no note {name}")
        return HttpResponse(200, {"name": name, "text": self.notes[name]})

    def put_note(self, request: HttpRequest) -> HttpResponse:
        self.notes[request.path_params["name"]] = request.json()["text"]
        return HttpResponse(201, None)

    def crash(self, request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")


@pytest.fixture
def notes() -> Iterator[Notes]:
    with Notes() as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        opened.headers["Authorization"] = "Bearer ok"
        yield opened


def test_routes_records_and_checks_responses(notes: Notes, session: requests.Session) -> None:
    assert session.put(f"{notes.url}/notes/a%20b", json={"text": "hi"}).status_code == 201
    answer = session.get(f"{notes.url}/notes/a%20b", params={"x": ["1", "2"]})
    assert answer.json() == {"name": "a b", "text": "hi"}
    assert answer.headers["Content-Type"] == "application/json;charset=utf-8"

    first, second = notes.requests
    assert (first.method, first.path, first.body, first.status) == (
        "PUT",
        "/notes/a%20b",
        {"text": "hi"},
        201,
    )
    assert second.query == {"x": ["1", "2"]} and second.body is None
    assert notes.writes == [first]
    assert notes.violations == ["201 not allowed"]
    notes.reset_log()
    assert notes.requests == [] and notes.violations == []


def test_unknown_paths_methods_and_credentials(notes: Notes, session: requests.Session) -> None:
    assert session.get(f"{notes.url}/elsewhere").status_code == 404
    assert session.delete(f"{notes.url}/notes/a").status_code == 405
    refused = requests.get(f"{notes.url}/notes/a")
    assert (refused.status_code, refused.json()) == (401, {"message": "who are you?"})
    assert session.get(f"{notes.url}/notes/a").json() == {"message": "no note a"}
    assert notes.violations == []  # answers outside the contract are not checked


def test_strict_mode_refuses_requests_that_break_the_contract(session: requests.Session) -> None:
    with Notes(strict=True) as strict, Notes(strict=False) as lenient:
        lenient.notes["a"] = "hi"
        assert session.get(f"{strict.url}/notes/a", params={"bad": "1"}).status_code == 400
        assert session.get(f"{lenient.url}/notes/a", params={"bad": "1"}).status_code == 200
        assert strict.violations == lenient.violations == ["bad query"]


def test_fail_next_serves_faults_in_order(notes: Notes, session: requests.Session) -> None:
    notes.notes["a"] = "hi"
    notes.fail_next(2, status=503, retry_after=None)
    statuses = [session.get(f"{notes.url}/notes/a") for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert "Retry-After" not in statuses[0].headers


def test_a_crashing_handler_is_a_500_and_a_violation(
    notes: Notes, session: requests.Session
) -> None:
    assert session.post(f"{notes.url}/crash").status_code == 500
    assert notes.violations == ["sandbox crashed on POST /crash: RuntimeError('boom')"]


def test_stop_ends_kept_alive_connections_too(session: requests.Session) -> None:
    server = Notes()
    with pytest.raises(RuntimeError, match="not started"):
        server.url  # noqa: B018
    url = server.start()
    assert server.start() == url  # idempotent
    session.get(f"{url}/notes/a")
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        session.get(f"{url}/notes/a", timeout=2)

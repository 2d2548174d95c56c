"""A small threaded HTTP server that plays a vendor's REST API for tests and the demo.

A vendor sandbox (Jira today; GitHub and Asana later) subclasses `SandboxServer`: it
registers routes on `self.router`, says how callers authenticate (`authenticate`) and how
the vendor shapes error bodies (`error_body`). This module does the rest: serving on
127.0.0.1 in a daemon thread, routing, checking each exchange against the vendor's
OpenAPI description, recording requests, and injecting faults.

One request at a time runs the pipeline (`SandboxServer.dispatch`) under the sandbox's
lock, so handlers and the test-facing methods that change state never race.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self
from urllib.parse import parse_qs, unquote, urlsplit

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
JSON_MEDIA_TYPE = "application/json;charset=utf-8"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the sandbox saw it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An incoming request. Header names are lower case; `path` has no query string."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").lower()

    def first(self, name: str) -> str | None:
        """The first value of query parameter `name`, or None when absent."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body parsed as JSON (None when empty); malformed JSON is the caller's 400."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Unexpected body: {error}") from None

    def recorded_body(self) -> Any:
        try:
            return self.json()
        except ApiError:
            return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer. `body` is a JSON value; None means an empty body (e.g. 204)."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str = JSON_MEDIA_TYPE  # of a JSON body; the sandbox sets its vendor's

    @property
    def content_type(self) -> str:
        return self.media_type if self.body is not None else ""

    def payload(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode("utf-8")


class ApiError(Exception):
    """Raised by handlers (and `authenticate`) to answer in the vendor's error shape."""

    def __init__(
        self,
        status: int,
        *messages: str,
        field_errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {'; '.join(messages) or dict(field_errors or {})}")
        self.status = int(status)
        self.messages = list(messages)
        self.field_errors = dict(field_errors or {})
        self.headers = dict(headers or {})


Handler = Callable[[HttpRequest], HttpResponse]


@dataclass(frozen=True, slots=True)
class RouteMatch:
    handler: Handler
    params: dict[str, str]


class Router:
    """Maps (method, path template) to handlers. Templates name segments: `/issue/{key}`."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, methods: str, template: str, handler: Handler) -> None:
        """Register `handler` for space-separated `methods` on `template`."""
        pattern = re.compile(
            "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/")) + "/?$"
        )
        for method in methods.upper().split():
            self._routes.append((method, pattern, handler))

    def resolve(self, method: str, path: str) -> RouteMatch | HTTPStatus:
        """The matching route, else NOT_FOUND, or METHOD_NOT_ALLOWED when only the path matches."""
        path_known = False
        for route_method, pattern, handler in self._routes:
            found = pattern.match(path)
            if found is None:
                continue
            if route_method == method:
                return RouteMatch(handler, {k: unquote(v) for k, v in found.groupdict().items()})
            path_known = True
        return HTTPStatus.METHOD_NOT_ALLOWED if path_known else HTTPStatus.NOT_FOUND


class ExchangeValidator(Protocol):
    """Checks exchanges against a contract; each problem is one readable line."""

    def validate_request(self, request: HttpRequest) -> list[str]: ...

    def validate_response(self, request: HttpRequest, response: HttpResponse) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected failure. `message` (default: the vendor's rate-limit message for a 429,
    else the status phrase) and `headers` let a vendor answer the way it really fails."""

    status: int
    retry_after: str | None = None
    message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class SandboxServer:
    """Base of every vendor sandbox: lifecycle, pipeline, request log, faults, violations.

    `strict` (the default) answers a request that breaks the contract with 400 instead of
    serving it; either way the violation is recorded in `violations`. `now` is the
    sandbox's clock: vendors stamp their data with it, and the `Date` header follows it.
    """

    # How the vendor labels JSON bodies, and what its 429 says (faults use it).
    json_media_type: ClassVar[str] = JSON_MEDIA_TYPE
    rate_limit_message: ClassVar[str] = "Rate limit exceeded."

    def __init__(
        self, *, validator: ExchangeValidator | None = None, strict: bool = True, port: int = 0
    ) -> None:
        self.router = Router()
        self.port = port  # 0: any free port
        self.strict = strict
        self.now: Callable[[], datetime] = _utc_now
        self._validator = validator
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._violations: list[str] = []
        self._faults: list[Fault] = []
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # --- what a vendor sandbox provides -------------------------------------------------

    def authenticate(self, request: HttpRequest) -> None:
        """Raise ApiError(401, ...) when `request` may not call the API. Default: open."""

    def error_body(self, error: ApiError) -> Any:
        """The vendor's JSON error body for `error`."""
        return {"message": "; ".join(error.messages) or HTTPStatus(error.status).phrase}

    def invalid_request_error(self, problems: list[str]) -> ApiError:
        """What a strict sandbox answers to a request that breaks the contract."""
        return ApiError(HTTPStatus.BAD_REQUEST, *problems)

    def finish_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """The response as sent, e.g. with the headers the vendor puts on every answer.
        Called for every response, before it is checked against the contract."""
        return response

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> str:
        """Serve on 127.0.0.1 (`port`, or a free one) in a daemon thread; return the base URL."""
        if self._httpd is not None:
            return self.url
        self._httpd = _HttpServer(self, self.port)
        self._thread = threading.Thread(
            target=functools.partial(self._httpd.serve_forever, poll_interval=0.05),
            name=f"{type(self).__name__}@{self._httpd.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_all()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started: call start() first")
        return f"http://127.0.0.1:{self._httpd.server_port}"

    # --- what tests read and steer ------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method in WRITE_METHODS]

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def reset_log(self) -> None:
        """Forget recorded requests and violations (state and pending faults stay)."""
        with self._lock:
            self._requests.clear()
            self._violations.clear()

    def fail_next(self, n: int, status: int = 429, retry_after: str | None = "1") -> None:
        """Answer the next `n` API requests with `status` (and Retry-After, unless None)."""
        with self._lock:
            self._faults.extend(Fault(status, retry_after) for _ in range(n))

    def inject_faults(self, n: int, fault: Fault) -> None:
        """Answer the next `n` API requests with `fault` (for vendors' own `fail_next`)."""
        with self._lock:
            self._faults.extend(fault for _ in range(n))

    # --- the pipeline -------------------------------------------------------------------

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        """Answer one request: route, fault, auth, check request, handle, check response."""
        with self._lock:
            response, request, checked = self._answer(request)
            response = self.finish_response(request, response)
            if response.media_type != self.json_media_type:
                response = replace(response, media_type=self.json_media_type)
            if checked and self._validator is not None:
                self._violations.extend(self._validator.validate_response(request, response))
            self._requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query={k: list(v) for k, v in request.query.items()},
                    body=request.recorded_body(),
                    status=response.status,
                )
            )
            return response

    def _answer(self, request: HttpRequest) -> tuple[HttpResponse, HttpRequest, bool]:
        """The response, the request with its path parameters, and whether to check the
        response against the contract. Answers outside the contract are not checked: an
        unknown route, an injected fault, a rejected invalid request, a sandbox crash.
        """
        match = self.router.resolve(request.method, request.path)
        if not isinstance(match, RouteMatch):
            return self._error(ApiError(match, f"No API at {request.path}")), request, False
        request = replace(request, path_params=match.params)
        if self._faults:
            return self._fault_response(self._faults.pop(0)), request, False
        try:
            self.authenticate(request)
            problems = self._validator.validate_request(request) if self._validator else []
            self._violations.extend(problems)
            if problems and self.strict:
                return self._error(self.invalid_request_error(problems)), request, False
            return match.handler(request), request, True
        except ApiError as error:
            return self._error(error), request, True
        except Exception as error:  # a sandbox bug must fail tests loudly, not hang clients
            where = f"{request.method} {request.path}"
            self._violations.append(f"sandbox crashed on {where}: {error!r}")
            failure = ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
            return self._error(failure), request, False

    def _error(self, error: ApiError) -> HttpResponse:
        return HttpResponse(error.status, self.error_body(error), error.headers)

    def _fault_response(self, fault: Fault) -> HttpResponse:
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        reason = self.rate_limit_message if fault.status == 429 else HTTPStatus(fault.status).phrase
        return self._error(ApiError(fault.status, fault.message or reason, headers=headers))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _HttpServer(ThreadingHTTPServer):
    """Binds 127.0.0.1 (port 0: a free one) and remembers open connections so `stop()` can cut
    kept-alive ones: a stopped sandbox must not go on answering old connections.
    """

    daemon_threads = True

    def __init__(self, sandbox: SandboxServer, port: int) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms a response on Linux).
    disable_nagle_algorithm = True
    server: _HttpServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        request = HttpRequest(
            method=self.command,
            path=target.path,
            query=parse_qs(target.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        self._send(self.server.sandbox.dispatch(request))

    def _send(self, response: HttpResponse) -> None:
        payload = response.payload()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header on the sandbox's clock: clients that bookmark by the server's
        time must see the clock that stamps the data, not the wall clock."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        moment = self.server.sandbox.now().astimezone(UTC)
        return email.utils.format_datetime(moment, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read `SandboxServer.requests` instead of stderr."""


__all__ = [
    "ApiError",
    "ExchangeValidator",
    "Fault",
    "HttpRequest",
    "HttpResponse",
    "RecordedRequest",
    "Router",
    "SandboxServer",
]

"""The daemon's one small HTTP server: health, readiness, metrics and webhooks.

Standard library only (`ThreadingHTTPServer`, one daemon thread per request): the
traffic is a scraper, a probe and the odd webhook. It binds where `service.listen`
says, 127.0.0.1 by default; put a reverse proxy with TLS in front for webhooks.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import structlog

from okrsync.registry import REGISTRY
from okrsync.service.telemetry import Telemetry
from okrsync.webhooks import Webhooks

log = structlog.get_logger(__name__)

Readiness = Callable[[], tuple[bool, dict[str, Any]]]
OnChange = Callable[[list[tuple[str, str]]], None]

_GET_ROUTES = ("/healthz", "/readyz", "/metrics")
_WEBHOOK_PREFIX = "/webhooks/"
# A slow or stalled client must not hold a request thread forever.
REQUEST_TIMEOUT_SECONDS = 10.0
# A body up to this many times the limit is read and dropped before the 413 goes out.
DRAIN_FACTOR = 4


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` as `service.listen` spells it (port 0: any free port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    return host, int(port)


class ServiceHttp:
    def __init__(
        self,
        listen: str,
        *,
        telemetry: Telemetry,
        webhooks: Webhooks,
        readiness: Readiness,
        on_change: OnChange,
    ):
        self.listen = parse_listen(listen)
        self.telemetry = telemetry
        # Read on every request, so a config reload may swap it while serving.
        self.webhooks = webhooks
        self.readiness = readiness
        self.on_change = on_change
        # Where it serves once started: (host, port), the port picked when asked for 0.
        self.bound: tuple[str, int] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Bind and serve in a background thread; returns the bound (host, port)."""
        if self._server is not None:
            raise RuntimeError("already started")
        server = _Server(self.listen, _Handler)
        server.app = self
        self._server = server
        self._thread = threading.Thread(
            # A short poll so stop() returns promptly.
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="okrsync-http",
            daemon=True,
        )
        self._thread.start()
        host, port = server.server_address[:2]
        self.bound = (str(host), int(port))
        log.info("http.listening", host=self.bound[0], port=self.bound[1])
        return self.bound

    def stop(self) -> None:
        """Stop serving and release the port; requests in flight finish on their own."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self.bound = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        log.info("http.stopped")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: ServiceHttp


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "okrsync"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_SECONDS

    # ----------------------------------------------------------------- dispatch

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_OPTIONS(self) -> None:
        self._route("OPTIONS")

    def _route(self, method: str) -> None:
        started = time.perf_counter()
        path = urlsplit(self.path).path
        if path in _GET_ROUTES:
            status = self._get(path) if method in ("GET", "HEAD") else self._not_allowed("GET")
        elif path.startswith(_WEBHOOK_PREFIX) and path[len(_WEBHOOK_PREFIX) :] in REGISTRY:
            source = path[len(_WEBHOOK_PREFIX) :]
            status = self._webhook(source) if method == "POST" else self._not_allowed("POST")
        else:
            status = self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        # The path only, never the query: a sender may carry a token there.
        log.debug(
            "http.request",
            method=method,
            path=path,
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    # ------------------------------------------------------------------- routes

    def _get(self, path: str) -> int:
        app = self.server.app
        if path == "/healthz":
            return self._json(HTTPStatus.OK, {"status": "ok"})
        if path == "/readyz":
            return self._readyz(app.readiness)
        body, content_type = app.telemetry.render(self.headers.get("Accept", ""))
        return self._send(HTTPStatus.OK, body, content_type)

    def _readyz(self, readiness: Readiness) -> int:
        try:
            ready, details = readiness()
        except Exception:  # a failing check means "not ready", never a crashed request
            log.exception("http.readiness_failed")
            return self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"ready": False})
        status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
        return self._json(status, {"ready": ready, **details})

    def _webhook(self, source: str) -> int:
        app = self.server.app
        webhooks = app.webhooks
        if "Transfer-Encoding" in self.headers:
            # http.server cannot read chunked bodies; the three senders all send a length.
            self.close_connection = True
            app.telemetry.record_webhook(source, HTTPStatus.LENGTH_REQUIRED)
            return self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "send a Content-Length"})
        # Unread or refused: `handle` answers from the headers alone (400 or 413).
        body = self._read_body(webhooks.max_body) or b""
        result = webhooks.handle(source, dict(self.headers.items()), body)
        status = result.status
        payload = result.body
        if result.changed:
            try:
                app.on_change(list(result.changed))
            except Exception:  # the sender's redelivery is the retry
                log.exception("webhook.on_change_failed", source=source)
                status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "not queued"}
        app.telemetry.record_webhook(source, status)
        return self._json(status, payload, result.headers)

    def _read_body(self, max_body: int) -> bytes | None:
        """The body when its declared length is acceptable, else None."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if 0 <= length <= max_body:
            return self.rfile.read(length)
        self.close_connection = True
        if 0 < length <= max_body * DRAIN_FACTOR:
            self._discard(length)
        return None

    def _discard(self, length: int) -> None:
        """Read a refused body away: closing a socket with unread input resets the
        connection, and the client may then lose our 413 before reading it. Bodies far
        over the limit are not worth reading; those senders get the reset."""
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)

    # ---------------------------------------------------------------- responses

    def _not_allowed(self, allowed: str) -> int:
        return self._json(
            HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method not allowed"}, {"Allow": allowed}
        )

    def _json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> int:
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        return self._send(status, body, "application/json", headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return int(status)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log: its request line carries the query
        string, where a sender may put a token. `_route` logs the path instead."""

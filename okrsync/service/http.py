"""The daemon's one small HTTP server: health, readiness, metrics and webhooks.

Standard library only (`ThreadingHTTPServer`, one daemon thread per connection): the
traffic is a scraper, a probe and the odd webhook burst, which a thread per connection
serves without another dependency. It binds where `service.listen` says, 127.0.0.1 by
default; put a reverse proxy with TLS in front for webhooks.

Hostile input is answered, never fatal: the listen backlog holds a burst of 128
connections; each request has one deadline for all of its reads (a client dripping
bytes is cut off); a body over the limit gets its 413 before it is read; any exception
in a handler becomes a logged 500 with a JSON body.
"""

from __future__ import annotations

import errno
import io
import json
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from okrsync.logs import get_logger
from okrsync.registry import REGISTRY
from okrsync.service.telemetry import Telemetry
from okrsync.webhooks import Webhooks

log = get_logger(__name__)

Readiness = Callable[[], tuple[bool, dict[str, Any]]]
OnChange = Callable[[list[tuple[str, str]]], None]
# The HTML report page, built on each request (None: no /report).
ReportPage = Callable[[], str]

_GET_ROUTES = ("/healthz", "/readyz", "/metrics", "/report")
# The report page may load and run nothing (its CSS is inline, its charts inline SVG).
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_WEBHOOK_PREFIX = "/webhooks/"
# A slow or stalled client must not hold a request thread forever: every read of one
# request (request line, headers, body) shares this deadline, counted from its first byte
# awaited. A keep-alive connection idle this long is closed too.
REQUEST_TIMEOUT_SECONDS = 10.0
# Connections the kernel queues while the server accepts (the stdlib's default is 5).
LISTEN_BACKLOG = 128
# After a 413, up to this much of the refused body is read and dropped (within the
# request's deadline), so that a client still sending sees the answer, not a reset.
DRAIN_MAX_BYTES = 64 * 1024 * 1024


class ListenError(Exception):
    """The server cannot bind where `service.listen` says (in use, not ours, no such host)."""

    def __init__(self, listen: tuple[str, int], error: OSError):
        host, port = listen
        reason = _LISTEN_REASONS.get(error.errno or 0) or (
            "unknown host" if isinstance(error, socket.gaierror) else error.strerror or str(error)
        )
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


_LISTEN_REASONS = {
    errno.EADDRINUSE: "address in use",
    errno.EACCES: "permission denied",
    errno.EADDRNOTAVAIL: "address not available on this host",
}


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
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        report: ReportPage | None = None,
    ):
        self.listen = parse_listen(listen)
        self.request_timeout = request_timeout
        self.telemetry = telemetry
        # Read on every request, so a config reload may swap it while serving.
        self.webhooks = webhooks
        self.readiness = readiness
        self.on_change = on_change
        self.report = report
        # Where it serves once started: (host, port), the port picked when asked for 0.
        self.bound: tuple[str, int] | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Bind and serve in a background thread; returns the bound (host, port).
        Raises `ListenError` (one sentence, no traceback needed) when it cannot bind."""
        if self._server is not None:
            raise RuntimeError("already started")
        try:
            server = _Server(self.listen, _Handler)
        except OSError as error:
            raise ListenError(self.listen, error) from error
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
    request_queue_size = LISTEN_BACKLOG
    app: ServiceHttp

    def handle_error(self, request: Any, client_address: Any) -> None:
        """What escaped a connection's handling (a client gone mid-answer, mostly): one
        log line, instead of the stdlib's traceback on stderr."""
        log.warning("http.connection_failed", exc_info=True)


class _DeadlineReader(io.RawIOBase):
    """A socket's input that gives up at the handler's deadline: each read waits at most
    the time left, so a client sending a byte now and then cannot hold the thread."""

    def __init__(self, connection: socket.socket, handler: _Handler):
        self._connection = connection
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._handler.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        self._connection.settimeout(left)
        return self._connection.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "okrsync"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_SECONDS
    deadline = 0.0  # time.monotonic() by which the request in hand must have been read
    _responded = False

    def setup(self) -> None:
        super().setup()
        # The stdlib's reader waits `timeout` per read, without end overall; this one
        # counts down to the request's deadline. The socket file is closed first, or
        # the socket would never really close.
        self.rfile.close()
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self))

    def handle_one_request(self) -> None:
        # The stdlib closes the connection when a read times out (TimeoutError).
        self.deadline = time.monotonic() + self.server.app.request_timeout
        self._responded = False
        super().handle_one_request()

    def handle_expect_100(self) -> bool:
        """`Expect: 100-continue` with a body over the limit: the 413 instead of the 100,
        so the sender never sends the body at all."""
        path = urlsplit(self.path).path
        source = path[len(_WEBHOOK_PREFIX) :] if path.startswith(_WEBHOOK_PREFIX) else ""
        if self.command == "POST" and source in REGISTRY and self._declared_length() is None:
            self._too_large(source)
            return False
        return super().handle_expect_100()

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
        try:
            status = self._dispatch(method, path)
        except TimeoutError:
            # The deadline passed while reading the body: a polite answer if we can.
            log.info("http.request_timeout", method=method, path=path)
            status = self._failed(HTTPStatus.REQUEST_TIMEOUT, {"error": "request too slow"})
        except ConnectionError:
            self.close_connection = True
            status = 0  # the client is gone: nobody to answer
        except Exception:
            log.exception("http.handler_failed", method=method, path=path)
            status = self._failed(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
        # The path only, never the query: a sender may carry a token there.
        log.debug(
            "http.request",
            method=method,
            path=path,
            status=status,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def _dispatch(self, method: str, path: str) -> int:
        if path in _GET_ROUTES:
            return self._get(path) if method in ("GET", "HEAD") else self._not_allowed("GET")
        if path.startswith(_WEBHOOK_PREFIX) and path[len(_WEBHOOK_PREFIX) :] in REGISTRY:
            source = path[len(_WEBHOOK_PREFIX) :]
            return self._webhook(source) if method == "POST" else self._not_allowed("POST")
        return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _failed(self, status: int, payload: dict[str, Any]) -> int:
        """Answer a request whose handling broke, unless an answer already went out; the
        connection is closed either way (its input may be half read)."""
        self.close_connection = True
        if self._responded:
            return int(status)
        try:
            self.connection.settimeout(1.0)  # the deadline may have left no time to write
            return self._json(status, payload, {"Connection": "close"})
        except OSError:
            return int(status)

    # ------------------------------------------------------------------- routes

    def _get(self, path: str) -> int:
        app = self.server.app
        if path == "/healthz":
            return self._json(HTTPStatus.OK, {"status": "ok"})
        if path == "/readyz":
            return self._readyz(app.readiness)
        if path == "/report":
            if app.report is None:
                return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            headers = {"Content-Security-Policy": _REPORT_CSP, "X-Content-Type-Options": "nosniff"}
            page = app.report().encode()
            return self._send(HTTPStatus.OK, page, "text/html; charset=utf-8", headers)
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
        length = self._declared_length()
        if length is None:
            return self._too_large(source)
        # A length that is no number: `handle` answers 400 from the headers alone.
        body = self.rfile.read(length) if length >= 0 else b""
        if length < 0:
            self.close_connection = True
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

    def _declared_length(self) -> int | None:
        """The declared body length; -1 when it is no number, None when over the limit."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return -1
        if length < 0:
            return -1
        return None if length > self.server.app.webhooks.max_body else length

    def _too_large(self, source: str) -> int:
        """413 from the headers alone, before a byte of the body is read; then the rest
        of the body is read away (bounded), so a client still sending gets the answer."""
        app = self.server.app
        result = app.webhooks.handle(source, dict(self.headers.items()), b"")
        app.telemetry.record_webhook(source, result.status)
        status = self._json(result.status, result.body, {**result.headers, "Connection": "close"})
        self.wfile.flush()
        self._discard_input()
        return status

    def _discard_input(self) -> None:
        """Closing a socket with unread input resets the connection, and the client may
        lose our answer with it. So: send our FIN, then drop what the client still sends,
        until it closes, the request's deadline passes, or DRAIN_MAX_BYTES were dropped
        (a bigger body is not worth reading: that sender gets the reset)."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            left = DRAIN_MAX_BYTES
            while left > 0:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    return
                left -= len(chunk)
        except OSError:  # the deadline (TimeoutError) or the client gone: we are done
            return

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
        self._responded = True
        if self.command != "HEAD":
            self.wfile.write(body)
        return int(status)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log: its request line carries the query
        string, where a sender may put a token. `_route` logs the path instead."""

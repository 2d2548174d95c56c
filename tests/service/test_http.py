"""The HTTP server on a free port, hit with real requests."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from signing import github_headers

from okrsync.service.http import ListenError, ServiceHttp, parse_listen
from okrsync.service.telemetry import Telemetry
from okrsync.webhooks import Webhooks
from okrsync.webhooks.github import GithubWebhook

SECRET = "gh-webhook-secret"


class Daemonish:
    """What the daemon hands the server: a readiness answer and a change queue."""

    def __init__(self) -> None:
        self.ready = True
        self.changes: list[list[tuple[str, str]]] = []
        self.telemetry = Telemetry()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        return self.ready, {"store": "ok" if self.ready else "unreachable"}

    def on_change(self, changed: list[tuple[str, str]]) -> None:
        self.changes.append(changed)


@pytest.fixture
def daemon() -> Daemonish:
    return Daemonish()


@pytest.fixture
def server(daemon: Daemonish) -> Iterator[ServiceHttp]:
    webhooks = Webhooks({"github": GithubWebhook(SECRET)}, max_body=10_000)
    http = ServiceHttp(
        "127.0.0.1:0",
        telemetry=daemon.telemetry,
        webhooks=webhooks,
        readiness=daemon.readiness,
        on_change=daemon.on_change,
    )
    http.start()
    yield http
    http.stop()


def url(server: ServiceHttp, path: str) -> str:
    assert server.bound is not None
    host, port = server.bound
    return f"http://{host}:{port}{path}"


def github_issue(number: int) -> bytes:
    return json.dumps(
        {"action": "edited", "issue": {"number": number}, "repository": {"full_name": "acme/web"}}
    ).encode()


def signed(body: bytes) -> dict[str, str]:
    return github_headers(SECRET, body, "issues")


def test_healthz(server: ServiceHttp) -> None:
    response = requests.get(url(server, "/healthz"), timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_follows_the_readiness_check(server: ServiceHttp, daemon: Daemonish) -> None:
    ready = requests.get(url(server, "/readyz"), timeout=5)
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "store": "ok"})
    daemon.ready = False
    not_ready = requests.get(url(server, "/readyz"), timeout=5)
    assert (not_ready.status_code, not_ready.json()["store"]) == (503, "unreachable")


def test_readyz_is_503_when_the_check_itself_fails(server: ServiceHttp) -> None:
    def broken() -> tuple[bool, dict[str, Any]]:
        raise RuntimeError("database exploded")

    server.readiness = broken
    response = requests.get(url(server, "/readyz"), timeout=5)
    assert (response.status_code, response.json()) == (503, {"ready": False})


def test_metrics_are_prometheus_text(server: ServiceHttp) -> None:
    response = requests.get(url(server, "/metrics"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "okrsync_webhooks_total" in response.text


def test_metrics_negotiate_openmetrics_for_scrapers_that_ask(server: ServiceHttp) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = requests.get(url(server, "/metrics"), headers={"Accept": accept}, timeout=5)
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_signed_webhook_queues_the_pull(server: ServiceHttp, daemon: Daemonish) -> None:
    body = github_issue(7)
    response = requests.post(
        url(server, "/webhooks/github"), data=body, headers=signed(body), timeout=5
    )
    assert response.status_code == 200
    assert daemon.changes == [[("github", "acme/web#7")]]
    metrics = requests.get(url(server, "/metrics"), timeout=5).text
    assert 'okrsync_webhooks_total{source="github",status="200"} 1.0' in metrics


def test_unsigned_webhook_is_refused_and_queues_nothing(
    server: ServiceHttp, daemon: Daemonish
) -> None:
    body = github_issue(7)
    response = requests.post(
        url(server, "/webhooks/github"), data=body, headers={"X-GitHub-Event": "issues"}, timeout=5
    )
    assert response.status_code == 401
    assert daemon.changes == []
    metrics = requests.get(url(server, "/metrics"), timeout=5).text
    assert 'okrsync_webhooks_total{source="github",status="401"} 1.0' in metrics


def test_unconfigured_webhook_is_not_found(server: ServiceHttp) -> None:
    response = requests.post(url(server, "/webhooks/jira"), data=b"{}", timeout=5)
    assert response.status_code == 404


def test_declared_oversize_body_is_refused_unread(server: ServiceHttp, daemon: Daemonish) -> None:
    body = b"x" * 20_000
    response = requests.post(
        url(server, "/webhooks/github"), data=body, headers=signed(body), timeout=5
    )
    assert response.status_code == 413
    assert daemon.changes == []


def test_chunked_webhook_needs_a_length(server: ServiceHttp, daemon: Daemonish) -> None:
    body = github_issue(7)
    response = requests.post(
        url(server, "/webhooks/github"), data=iter([body]), headers=signed(body), timeout=5
    )
    assert response.status_code == 411
    assert daemon.changes == []


def test_webhook_answer_survives_a_failing_queue(server: ServiceHttp) -> None:
    def full(changed: list[tuple[str, str]]) -> None:
        raise RuntimeError("queue full")

    server.on_change = full
    body = github_issue(8)
    response = requests.post(
        url(server, "/webhooks/github"), data=body, headers=signed(body), timeout=5
    )
    assert response.status_code == 500


def test_wrong_method_and_unknown_path(server: ServiceHttp) -> None:
    wrong_get = requests.get(url(server, "/webhooks/github"), timeout=5)
    assert (wrong_get.status_code, wrong_get.headers["Allow"]) == (405, "POST")
    assert requests.post(url(server, "/healthz"), timeout=5).status_code == 405
    assert requests.delete(url(server, "/metrics"), timeout=5).status_code == 405
    assert requests.get(url(server, "/nope"), timeout=5).status_code == 404
    assert requests.post(url(server, "/webhooks/trello"), data=b"{}", timeout=5).status_code == 404


def test_query_strings_are_ignored_for_routing(server: ServiceHttp) -> None:
    assert requests.get(url(server, "/healthz?verbose=1"), timeout=5).status_code == 200


def make_server(daemon: Daemonish, listen: str = "127.0.0.1:0") -> ServiceHttp:
    webhooks = Webhooks({})
    return ServiceHttp(
        listen,
        telemetry=daemon.telemetry,
        webhooks=webhooks,
        readiness=daemon.readiness,
        on_change=daemon.on_change,
    )


def test_stop_frees_the_port(daemon: Daemonish) -> None:
    first = make_server(daemon)
    host, port = first.start()
    assert host == "127.0.0.1" and port > 0
    assert requests.get(f"http://{host}:{port}/healthz", timeout=5).status_code == 200
    first.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{host}:{port}/healthz", timeout=5)
    first.stop()  # stopping twice is harmless

    # A restarted daemon (a config reload, a new process) binds the same port again.
    second = make_server(daemon, f"{host}:{port}")
    try:
        assert second.start() == (host, port)
        assert requests.get(f"http://{host}:{port}/healthz", timeout=5).status_code == 200
    finally:
        second.stop()


def test_start_twice_is_an_error(daemon: Daemonish) -> None:
    http = make_server(daemon)
    http.start()
    try:
        with pytest.raises(RuntimeError):
            http.start()
    finally:
        http.stop()


@pytest.mark.parametrize("listen", ["localhost", ":8787", "host:99999", "host:port"])
def test_listen_must_be_host_and_port(listen: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(listen)


# ------------------------------------------------------------------ hostile input


def raw_request(server: ServiceHttp, request: bytes, timeout: float = 10.0) -> bytes:
    """Send `request` on a real socket and read until the server closes."""
    assert server.bound is not None
    with socket.create_connection(server.bound, timeout=timeout) as conn:
        conn.sendall(request)
        return read_all(conn)


def read_all(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_a_burst_of_200_simultaneous_connections_is_all_answered(server: ServiceHttp) -> None:
    count = 200
    barrier = threading.Barrier(count)

    def one() -> bytes:
        barrier.wait()
        return raw_request(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    with ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(lambda _: one(), range(count)))
    assert sum(answer.startswith(b"HTTP/1.0 200") for answer in answers) == count


def test_a_5_mb_body_gets_its_413_not_a_reset(server: ServiceHttp, daemon: Daemonish) -> None:
    """The client sends the whole body before it reads, as most clients do: the server
    answers from the headers, then reads the body away so the answer is not lost."""
    body = b"x" * 5_000_000
    head = (
        f"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        "Content-Type: application/json\r\n\r\n"
    ).encode()
    assert server.bound is not None
    with socket.create_connection(server.bound, timeout=10) as conn:
        conn.sendall(head + body)
        answer = read_all(conn)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.0 413 Request Entity Too Large"
    assert b"Connection: close" in rest
    assert json.loads(rest.partition(b"\r\n\r\n")[2]) == {"error": "body over 10000 bytes"}
    assert daemon.changes == []


def test_expect_100_continue_with_a_big_body_gets_413_instead_of_100(server: ServiceHttp) -> None:
    answer = raw_request(
        server,
        b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n"
        b"Expect: 100-continue\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.0 413")
    assert b"100 Continue" not in answer


def test_deeply_nested_signed_json_is_a_400_not_a_dead_thread(
    server: ServiceHttp, daemon: Daemonish
) -> None:
    body = b"[" * 5000 + b"]" * 5000  # under the size limit, far over any sane depth
    response = requests.post(
        url(server, "/webhooks/github"), data=body, headers=signed(body), timeout=5
    )
    assert response.status_code == 400
    assert "nested deeper" in response.json()["error"]
    assert daemon.changes == []
    assert requests.get(url(server, "/healthz"), timeout=5).status_code == 200


def test_a_client_dripping_bytes_is_cut_off_at_the_deadline(daemon: Daemonish) -> None:
    http = make_server(daemon)
    http.request_timeout = 0.5  # injected: the product's default is 10 s
    host, port = http.start()
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            started = time.monotonic()
            closed = False
            # Far more bytes than the deadline allows at this pace: a per-read timeout
            # alone would never fire.
            for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 200:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.05)
                ready, _, _ = select.select([conn], [], [], 0)
                if ready and conn.recv(1024) == b"":
                    closed = True
                    break
            elapsed = time.monotonic() - started
        assert closed, "the server kept a dripping client past its deadline"
        assert elapsed < 5
        # The server is still there for everyone else.
        assert requests.get(f"http://{host}:{port}/healthz", timeout=5).status_code == 200
    finally:
        http.stop()


def test_a_failing_handler_is_a_logged_500_with_a_json_body(server: ServiceHttp) -> None:
    def broken(accept: str = "") -> tuple[bytes, str]:
        raise RuntimeError("renderer exploded")

    server.telemetry.render = broken  # type: ignore[method-assign]
    response = requests.get(url(server, "/metrics"), timeout=5)
    assert (response.status_code, response.json()) == (500, {"error": "internal error"})
    assert requests.get(url(server, "/healthz"), timeout=5).status_code == 200


def test_a_garbled_content_length_is_a_400(server: ServiceHttp) -> None:
    answer = raw_request(
        server, b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.0 400")


def test_a_port_in_use_is_one_sentence(daemon: Daemonish) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError) as error:
            make_server(daemon, f"127.0.0.1:{port}").start()
    assert str(error.value) == f"cannot listen on 127.0.0.1:{port}: address in use"


def test_report_is_served_as_html_read_only(daemon: Daemonish) -> None:
    calls: list[int] = []

    def page() -> str:
        calls.append(1)
        return "<!DOCTYPE html><title>report</title>"

    http = ServiceHttp(
        "127.0.0.1:0",
        telemetry=daemon.telemetry,
        webhooks=Webhooks({}),
        readiness=daemon.readiness,
        on_change=daemon.on_change,
        report=page,
    )
    http.start()
    try:
        got = requests.get(url(http, "/report"), timeout=5)
        assert got.status_code == 200
        assert got.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in got.headers["Content-Security-Policy"]
        assert got.text == "<!DOCTYPE html><title>report</title>"
        assert requests.post(url(http, "/report"), timeout=5).status_code == 405
        assert len(calls) == 1
    finally:
        http.stop()


def test_no_report_callback_no_report(server: ServiceHttp) -> None:
    assert requests.get(url(server, "/report"), timeout=5).status_code == 404

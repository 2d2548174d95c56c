"""Logging: JSON lines with level and timestamp, and no secret ever printed."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from okrsync import logs
from okrsync.logs import REDACTED, RedactSecrets, configure_logging

TOKEN = "ATATT3xFfGF0-s3cr3t-t0ken"
EMAIL = "bot@acme.example"
BASIC = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()


@pytest.fixture(autouse=True)
def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedactSecrets]:
    """A redactor of this test's own (the module's one is process-wide), and structlog's
    defaults again afterwards so no later test logs into a closed stream."""
    redactor = RedactSecrets()
    monkeypatch.setattr(logs, "redact_secrets", redactor)
    yield redactor
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# --------------------------------------------------------------------------- format


def test_json_lines_with_level_and_utc_timestamp() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    log = structlog.get_logger("okrsync.test")
    before = datetime.now(UTC)
    log.info("sync.source_done", source="jira", pulled=3)
    log.warning("source.retry", attempt=2, wait_s=0.5)
    after = datetime.now(UTC)

    first, second = json_lines(stream)
    stamp = first.pop("timestamp")
    assert first == {"source": "jira", "pulled": 3, "event": "sync.source_done", "level": "info"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(stamp) <= after
    assert second["level"] == "warning"
    assert (second["event"], second["attempt"], second["wait_s"]) == ("source.retry", 2, 0.5)


def test_the_level_filters_events() -> None:
    stream = io.StringIO()
    configure_logging(level="warning", fmt="json", stream=stream)
    log = structlog.get_logger()
    log.debug("hidden")
    log.info("hidden too")
    log.warning("shown")
    log.error("shown too")
    assert [(e["level"], e["event"]) for e in json_lines(stream)] == [
        ("warning", "shown"),
        ("error", "shown too"),
    ]


def test_auto_is_json_when_not_on_a_terminal_and_console_is_not_json() -> None:
    stream = io.StringIO()
    configure_logging(fmt="auto", stream=stream)
    structlog.get_logger().info("cycle.start")
    assert json_lines(stream)[0]["event"] == "cycle.start"

    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)
    structlog.get_logger().info("cycle.start", source="jira")
    text = stream.getvalue()
    assert "cycle.start" in text and "source" in text
    assert not text.startswith("{")


def test_context_variables_are_merged() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    with structlog.contextvars.bound_contextvars(cycle=7):
        structlog.get_logger().info("sync.written", target="jira:ONB-10")
    [event] = json_lines(stream)
    assert (event["cycle"], event["target"]) == (7, "jira:ONB-10")


def test_an_exception_keeps_its_traceback_in_json() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    try:
        raise RuntimeError("the sandbox went away")
    except RuntimeError:
        structlog.get_logger().exception("cycle.crashed")
    [event] = json_lines(stream)
    assert event["level"] == "error"
    assert event["exception"].startswith("Traceback (most recent call last):")
    assert event["exception"].rstrip().endswith("RuntimeError: the sandbox went away")


# --------------------------------------------------------------------------- redaction


def test_a_registered_token_is_scrubbed_everywhere_it_is_logged(
    fresh_logging: RedactSecrets,
) -> None:
    fresh_logging.add(TOKEN)
    fresh_logging.add_basic_auth(EMAIL, TOKEN)
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    log = structlog.get_logger()

    log.info(f"GET https://acme.atlassian.net/rest?token={TOKEN}")
    log.info(
        "request",
        headers={"Authorization": f"Basic {BASIC}", "Accept": "application/json"},
        history=[{"token": TOKEN}, ("x", f"Bearer {TOKEN}")],
        attempt=1,
    )
    log.error("sync.source_failed", error=PermissionError(f"401 for token {TOKEN}"))
    try:
        raise ConnectionError(f"https://x/?api_token={TOKEN}")
    except ConnectionError:
        log.exception("pull.crashed")

    text = stream.getvalue()
    assert TOKEN not in text and BASIC not in text
    message, request, failed, crashed = json_lines(stream)
    assert message["event"] == f"GET https://acme.atlassian.net/rest?token={REDACTED}"
    assert request["headers"] == {
        "Authorization": f"Basic {REDACTED}",
        "Accept": "application/json",
    }
    assert request["history"] == [{"token": REDACTED}, ["x", f"Bearer {REDACTED}"]]
    assert request["attempt"] == 1
    assert failed["error"] == f"PermissionError('401 for token {REDACTED}')"
    assert f"ConnectionError: https://x/?api_token={REDACTED}" in crashed["exception"]


def test_the_console_renderer_is_scrubbed_too(fresh_logging: RedactSecrets) -> None:
    fresh_logging.add(TOKEN)
    stream = io.StringIO()
    configure_logging(fmt="console", stream=stream)
    try:
        raise ConnectionError(f"https://x/?api_token={TOKEN}")
    except ConnectionError:
        structlog.get_logger().exception("pull.crashed", url=f"https://x/?t={TOKEN}")
    text = stream.getvalue()
    assert TOKEN not in text
    assert REDACTED in text


def test_redaction_of_captured_events() -> None:
    # The events as the code under test emits them, then the processor over them.
    redactor = RedactSecrets([TOKEN])
    with capture_logs() as captured:
        structlog.get_logger().bind(source="jira").warning(
            "source.retry", url=f"https://x/?t={TOKEN}", status=429, nested={"deep": [TOKEN]}
        )
    [event] = captured
    assert redactor(None, "warning", event) == {
        "source": "jira",
        "url": f"https://x/?t={REDACTED}",
        "status": 429,
        "nested": {"deep": [REDACTED]},
        "event": "source.retry",
        "log_level": "warning",
    }


def test_the_processor_by_itself() -> None:
    redactor = RedactSecrets(["abc", "s3cr3t"])  # "abc" is too short to register
    event = {"event": "abc s3cr3t", "n": 5, "ok": True, "none": None, "ratio": 0.5}
    assert redactor(None, "info", event) == {
        "event": f"abc {REDACTED}",
        "n": 5,
        "ok": True,
        "none": None,
        "ratio": 0.5,
    }
    # A tuple stays a tuple, a key that is a secret is scrubbed, other objects pass.
    marker = object()
    assert redactor(None, "info", {"t": ("s3cr3t",), "d": {"s3cr3t": 1}, "o": marker}) == {
        "t": (REDACTED,),
        "d": {REDACTED: 1},
        "o": marker,
    }


def test_nothing_registered_leaves_events_alone() -> None:
    event = {"event": TOKEN}
    assert RedactSecrets()(None, "info", event) is event
    assert event == {"event": TOKEN}


def test_a_secret_containing_another_is_replaced_whole() -> None:
    short, long = "tok-1234", "tok-1234-and-more"
    for order in ([short, long], [long, short]):
        redactor = RedactSecrets(order)
        assert redactor(None, "info", {"event": f"x {long} y {short}"}) == {
            "event": f"x {REDACTED} y {REDACTED}"
        }


def test_basic_auth_form_is_registered() -> None:
    redactor = RedactSecrets()
    redactor.add_basic_auth(EMAIL, TOKEN)
    header = {"Authorization": f"Basic {BASIC}"}
    assert redactor(None, "info", {"headers": header}) == {
        "headers": {"Authorization": f"Basic {REDACTED}"}
    }
    # Only the encoded pair was registered, not the token by itself.
    assert redactor(None, "info", {"event": TOKEN}) == {"event": TOKEN}


# --------------------------------------------------------------------------- printed text


def test_scrub_replaces_every_registered_form_in_plain_text(fresh_logging: RedactSecrets) -> None:
    fresh_logging.add(TOKEN)
    fresh_logging.add_basic_auth(EMAIL, TOKEN)
    text = f"401: bad token {TOKEN}; Authorization: Basic {BASIC}"
    assert (
        fresh_logging.scrub(text) == f"401: bad token {REDACTED}; Authorization: Basic {REDACTED}"
    )
    assert logs.redact_text(text) == fresh_logging.scrub(text)
    assert RedactSecrets().scrub(text) == text  # nothing registered: unchanged


def test_the_cli_summary_on_stdout_is_scrubbed(
    fresh_logging: RedactSecrets, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server's error body echoing the token reaches the source's error text; stdout,
    not only the log on stderr, must show it redacted."""
    from types import SimpleNamespace

    from okrsync.cli import _print_cycle

    fresh_logging.add(TOKEN)
    outcome = SimpleNamespace(
        name="jira",
        ok=False,
        error=f"HTTP 500: {{'token': '{TOKEN}'}}",
        write_errors=(),
        pulled=0,
        created=0,
        edited=0,
        skipped=0,
        requests=1,
    )
    from okrsync.sources import SetComment

    write = SetComment("jira:ONB-1", "jira", "ONB-1", f"echo {TOKEN}", "hash", None)
    result = SimpleNamespace(
        sources=[outcome],
        plan=[write],
        metric_errors=[f"m {TOKEN}"],
        report=SimpleNamespace(problems=[]),
    )
    _print_cycle(result, True)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert TOKEN not in out
    assert out.count(REDACTED) == 3


# ------------------------------------------------------- structlog loads when first used

# Runs in a fresh interpreter: whether structlog is loaded is the point.
LATE_IMPORT = """\
import json, sys
import okrsync.logs as logs
from okrsync.logs import redact_secrets
logs.configure_logging("info", "auto")  # stderr is a pipe: JSON lines
assert "structlog" not in sys.modules
redact_secrets.add("s3cr3t-t0ken")
{body}
print(json.dumps(sorted(m for m in ("structlog", "rich") if m in sys.modules)))
"""


def run_fresh(body: str) -> tuple[list[str], list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-c", LATE_IMPORT.format(body=body)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), json_lines(io.StringIO(done.stderr))


def test_configured_before_structlog_is_imported_applies_when_it_is() -> None:
    """What the CLI does: it configures at start, and structlog is imported later (or never,
    by a command that logs nothing), here by something else before okrsync's first event."""
    body = (
        "import structlog\n"
        "logs.get_logger('okrsync.late').info('late.event', token='s3cr3t-t0ken')\n"
    )
    loaded, [event] = run_fresh(body)
    assert "structlog" in loaded
    assert (event["event"], event["level"], event["token"]) == ("late.event", "info", REDACTED)
    assert "timestamp" in event


def test_a_modules_logger_from_get_logger_imports_structlog_at_its_first_event() -> None:
    body = (
        "log = logs.get_logger('okrsync.webhooks.x')\n"
        "assert 'structlog' not in sys.modules\n"
        "log.debug('hidden')\n"
        "log.warning('webhook.rejected', reason='bad s3cr3t-t0ken')\n"
    )
    loaded, [event] = run_fresh(body)
    assert loaded == ["structlog"]
    assert (event["event"], event["level"]) == ("webhook.rejected", "warning")
    assert event["reason"] == f"bad {REDACTED}"


def test_get_logger_logs_through_the_configuration_in_force() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream)
    logs.get_logger("okrsync.test").info("webhook.handled", status=200)
    [event] = json_lines(stream)
    assert (event["event"], event["status"]) == ("webhook.handled", 200)


def test_okrsync_takes_every_logger_from_okrsync_logs() -> None:
    """The one door: a module importing structlog itself would load it on every command
    (and log unconfigured if it logged before `okrsync.logs` had loaded it)."""
    package = Path(logs.__file__).parent
    importing = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "logs.py"
        and re.search(r"^\s*(import structlog|from structlog)", path.read_text(), re.MULTILINE)
    )
    assert importing == []

"""Commands that are not covered elsewhere: `db upgrade`, exit codes, hostile input."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import okrsync.cli
from okrsync.cli import main
from okrsync.domain import Bucket, MetricSample, WorkItem
from okrsync.logs import redact_secrets
from okrsync.sources import PlannedWrite, PullResult, RequestCounter, RetriableError
from okrsync.store import Store, current_revision, head_revision

CONFIG = """\
version: 1
cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{url}"}}
{extra}objectives:
  - id: ONB
    title: Onboarding
    key_results: [{{id: ONB-1, title: Completion, baseline: 68, target: 85}}]
"""


def write_config(tmp_path: Path, extra: str = "") -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    config = tmp_path / "okrsync.yaml"
    config.write_text(CONFIG.format(url=url, extra=extra))
    return config, url


def test_db_upgrade_brings_the_store_to_the_newest_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = write_config(tmp_path)

    assert main(["--config", str(config), "db", "upgrade"]) == 0

    assert capsys.readouterr().out.strip() == f"store at revision {head_revision()}"
    assert current_revision(url) == head_revision()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("okrsync ") and len(out.split()) == 2


# ------------------------------------------------------------ check-ins: finite only


@pytest.mark.parametrize("value", ["inf", "nan", "1e999", "Infinity", "-1e999"])
def test_metric_set_refuses_what_is_not_a_finite_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    config, url = write_config(tmp_path)
    assert main(["--config", str(config), "metric", "set", "ONB-1", "--", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be a finite number" in err
    with Store(url) as store:
        assert store.samples() == []


def test_a_non_finite_value_already_stored_is_skipped_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, url = write_config(tmp_path)
    with Store(url) as store:  # as okrsync before this check let it in
        store.add_sample(MetricSample("ONB-1", float("inf"), datetime(2026, 11, 1, tzinfo=UTC)))
        store.add_sample(MetricSample("ONB-1", 74.0, datetime(2026, 11, 2, tzinfo=UTC)))
    argv = ["--config", str(config), "--log-format", "json", "status", "--format", "json"]
    assert main([*argv, "--now", "2026-11-24"]) == 0
    out, err = capsys.readouterr()
    assert '"current": 74' in out
    assert "metric.sample_skipped" in err


# ----------------------------------------------------------- sentences, not tracebacks


def test_an_unexpected_exception_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = write_config(tmp_path)
    redact_secrets.add("tok-3141592653")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("lookup failed for tok-3141592653\nsecond line")

    monkeypatch.setattr(okrsync.cli, "current_report", broken)
    assert main(["--config", str(config), "status"]) == 3
    err = capsys.readouterr().err
    assert err == (
        "okrsync: internal error: KeyError: 'lookup failed for [redacted]\\nsecond line'\n"
    )

    assert main(["--config", str(config), "--log-level", "debug", "status"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("okrsync: internal error: KeyError:")
    assert "Traceback (most recent call last)" in err and "tok-3141592653" not in err


def test_run_on_a_port_in_use_is_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config, _ = write_config(tmp_path, f"service: {{listen: '127.0.0.1:{port}'}}\n")
        assert main(["--config", str(config), "run"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"okrsync: cannot listen on 127.0.0.1:{port}: address in use"
    )


@pytest.mark.parametrize("command", [["sync", "--once"], ["run"]])
def test_a_missing_github_app_key_is_one_line_naming_the_key_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    key = tmp_path / "no-such-key.pem"
    config, _ = write_config(
        tmp_path,
        "sources:\n  github:\n    repos: [acme/web]\n"
        f"    app: {{app_id: 1, private_key_file: '{key}', installation_id: 2}}\n",
    )
    assert main(["--config", str(config), *command]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "sources.github.app.private_key_file" in err and str(key) in err
    assert "No such file or directory" in err


# ------------------------------------------------------ the summary and what is stored


class FlakySource:
    """Answers 503 to every request: five attempts, then the pull fails."""

    name = "jira"

    def __init__(self) -> None:
        self.requests = RequestCounter()

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        for _ in range(5):
            self.requests.record("GET", 503)
        raise RetriableError("jira", "search: 503 Service Unavailable")

    def children(self, parents: object, known: object) -> list[WorkItem]:
        return []

    def apply(self, write: PlannedWrite) -> Any:
        raise AssertionError("nothing to write")

    def close(self) -> None:
        pass


class LeakySource(FlakySource):
    """A source whose item URLs carry the credentials of its configured URL."""

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        self.requests.record("GET", 200)
        item = WorkItem(
            source="jira", key="ONB-7", title="Wizard", type="Story", status="To Do",
            bucket=Bucket.TODO, points=None, labels=(), parent=None,
            updated=datetime(2026, 11, 20, tzinfo=UTC),
            url="https://bot:s3cret-pass@jira.example:8443/browse/ONB-7?x=1",
        )  # fmt: skip
        return PullResult("jira", [item], None, True)


JIRA = "sources:\n  jira: {url: 'https://jira.example', jql: 'project = ONB'}\n"


def test_a_failed_pull_counts_its_requests_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = write_config(tmp_path, JIRA)
    monkeypatch.setenv("JIRA_API_TOKEN", "token")
    monkeypatch.setattr(okrsync.cli, "source_factory", lambda config: lambda name: FlakySource())
    assert main(["--config", str(config), "sync", "--once"]) == 1
    out = capsys.readouterr().out
    assert "jira: FAILED: " in out and "; 5 requests" in out
    assert out.rstrip().endswith("mapping problems: none")  # the one-line problem summary


def test_credentials_in_an_item_url_are_never_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, url = write_config(tmp_path, JIRA)
    monkeypatch.setenv("JIRA_API_TOKEN", "token")
    monkeypatch.setattr(okrsync.cli, "source_factory", lambda config: lambda name: LeakySource())
    assert main(["--config", str(config), "sync", "--once"]) == 0
    with Store(url) as store:
        (stored,) = store.items("jira")
    assert stored.url == "https://jira.example:8443/browse/ONB-7?x=1"
    assert "s3cret-pass" not in (tmp_path / "okrsync.db").read_bytes().decode("latin-1")


# ------------------------------------------------------ validate --check-labels


class LabelledSource(FlakySource):
    """Three labels in use (two of them KR labels), read in one request."""

    def labels_in_use(self) -> set[str]:
        self.requests.record("GET", 200)
        return {"okr:onb-1", "okr:ONB1", "bug"}


def test_check_labels_reads_every_source_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = write_config(tmp_path, JIRA)
    monkeypatch.setenv("JIRA_API_TOKEN", "labels-check-token")
    monkeypatch.setattr(okrsync.cli, "source_factory", lambda config: lambda n: LabelledSource())

    assert main(["--config", str(config), "validate", "--check-labels"]) == 1

    assert capsys.readouterr().out.splitlines()[1:] == [
        "jira: 2 KR labels, 1 naming no KR; 1 request",
        "  okr:onb-1 -> ONB-1 (label_pattern)",
        "  okr:ONB1 -> unknown KR ONB1; did you mean ONB-1?",
        "labels: 1 label naming no KR (jira 1)",
    ]
    assert not (tmp_path / "okrsync.db").exists()


def test_check_labels_a_source_failing_to_connect_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = write_config(tmp_path, JIRA)
    monkeypatch.setenv("JIRA_API_TOKEN", "s3cret-token")
    redact_secrets.add("s3cret-token")

    def refuse(name: str) -> LabelledSource:
        raise RetriableError("jira", "connect: connection failed to s3cret-token")

    monkeypatch.setattr(okrsync.cli, "source_factory", lambda config: refuse)

    assert main(["--config", str(config), "validate", "--check-labels"]) == 1

    out = capsys.readouterr().out
    assert "jira: FAILED: connect: connection failed to " in out and "s3cret" not in out
    assert out.rstrip().endswith("labels: 1 source not read (jira)")


def test_check_labels_needs_the_secrets_and_plain_validate_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = write_config(tmp_path, JIRA)
    monkeypatch.delenv("JIRA_API_TOKEN", raising=False)

    assert main(["--config", str(config), "validate"]) == 0
    assert main(["--config", str(config), "validate", "--check-labels"]) == 2
    err = capsys.readouterr().err
    # (The key's "token" may show redacted: another test registers "token" as a secret.)
    assert err.startswith(f"{config}:5: sources.jira.auth.")
    assert err.rstrip().endswith("environment variable JIRA_API_TOKEN is not set")


# ------------------------------------------------------------------ report --html


def test_report_html_writes_one_page_reads_the_store_and_writes_nothing_to_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, url = write_config(tmp_path)
    with Store(url) as store:
        store.add_sample(MetricSample("ONB-1", 74.0, datetime(2026, 11, 2, tzinfo=UTC)))
    before = (tmp_path / "okrsync.db").read_bytes()
    # No source is ever connected: the page comes from the store alone.
    monkeypatch.setattr(okrsync.cli, "source_factory", lambda *a, **k: pytest.fail("connected"))
    page = tmp_path / "report.html"

    argv = ["--config", str(config), "report", "--html", str(page), "--now", "2026-11-24"]
    assert main(argv) == 0

    assert f"report written to {page}" in capsys.readouterr().out
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and 'data-kr-id="ONB-1"' in html
    assert 'data-field="current" data-value="74"' in html
    assert html.count("<svg") == 2
    assert (tmp_path / "okrsync.db").read_bytes() == before

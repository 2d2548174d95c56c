"""A corpus of broken configs, each run through the real `okrsync` command.

Every file in `broken/` starts with `# breaks: what it breaks`, and may add directives:
`# command: sync` (a secret problem, checked when a sync starts: run
`sync --once --dry-run`; `validate` must still not crash), `# env: NAME=value` and
`# file: NAME=content` (backslash escapes allowed; files are written beside the config),
`# secret: text` (a value that must never be printed). A few cases are generated here
instead of committed: a huge file, a 5,000-digit integer, bytes that are not UTF-8,
`/dev/zero`.

Each run: exit 2, every stderr line is `file:line: path: message`, no traceback, no
secret. The subprocess timeout is a hang guard only; wall times are collected, not
asserted (`-s` prints them).
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BROKEN = Path(__file__).parent / "broken"
PROBLEM_LINE = re.compile(r"^.+:\d+: \S+: .+$")
HANG_GUARD_SECONDS = 30
TIMES: dict[str, float] = {}


@dataclass
class Case:
    name: str
    text: bytes | None  # None: the path is used as it is (/dev/zero)
    breaks: str
    command: str = "validate"
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    path: str | None = None


def _unescape(text: str) -> str:
    return codecs.decode(text, "unicode_escape")


def _from_file(path: Path) -> Case:
    text = path.read_text(encoding="utf-8")
    directives = re.findall(r"^# (\w+): (.*)$", text, re.MULTILINE)
    case = Case(path.stem, text.encode(), breaks="")
    for key, value in directives:
        if key == "breaks":
            case.breaks = value
        elif key == "command":
            case.command = value
        elif key == "env":
            name, _, raw = value.partition("=")
            case.env[name] = _unescape(raw)
            case.secrets.append(case.env[name].strip())
        elif key == "file":
            name, _, raw = value.partition("=")
            case.files[name] = _unescape(raw)
            case.secrets.append(case.files[name].strip())
        elif key == "secret":
            case.secrets.append(value)
    return case


def _generated() -> list[Case]:
    minimal = b"version: 1\ncycle: {name: Q, start: 2026-10-01, end: 2026-12-31}\n"
    return [
        Case("huge-file", b"# " + b"x" * (2 * 1024 * 1024) + b"\n", "a 2 MiB file"),
        Case("huge-integer", minimal + b"x: " + b"9" * 5000 + b"\n", "a 5,000-digit integer"),
        Case("not-utf8", minimal + b"title: caf\xe9\xff\n", "bytes that are not UTF-8"),
        Case("dev-zero", None, "an endless file", path="/dev/zero"),
        Case("missing-file", None, "a file that does not exist", path="/nonexistent/okrsync.yaml"),
    ]


CASES = [_from_file(path) for path in sorted(BROKEN.glob("*.yaml"))] + _generated()


def _run(case: Case, tmp_path: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    if case.path is not None:
        config = case.path
    else:
        assert case.text is not None
        target = tmp_path / f"{case.name}.yaml"
        target.write_bytes(case.text)
        for name, content in case.files.items():
            (tmp_path / name).write_text(content, encoding="utf-8")
        config = str(target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKRTEST_", "OKRSYNC_"))}
    env.update(case.env)
    okrsync = shutil.which("okrsync", path=str(Path(sys.executable).parent)) or "okrsync"
    started = time.perf_counter()
    result = subprocess.run(
        [okrsync, "--config", config, *argv],
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        cwd=tmp_path,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    TIMES[f"{case.name} {argv[0]}"] = time.perf_counter() - started
    return result


def _check_output(case: Case, result: subprocess.CompletedProcess[str]) -> None:
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything, everything[-2000:]
    for secret in case.secrets:
        if secret:
            assert secret not in everything, f"{case.name}: a secret was printed"
    lines = result.stderr.splitlines()
    bad = [line for line in lines if not PROBLEM_LINE.match(line)]
    assert bad == [], f"{case.name}: stderr lines not file:line: path: message: {bad}"


def test_the_corpus_is_large_and_documented() -> None:
    assert len(CASES) >= 30
    for case in CASES:
        assert case.breaks, f"{case.name}: say what it breaks in a `# breaks:` line"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_validate_refuses_with_exit_2_and_problem_lines(case: Case, tmp_path: Path) -> None:
    result = _run(case, tmp_path, ["validate"])
    _check_output(case, result)
    if case.command == "sync":
        # A secret is checked when a sync starts, not by `validate` (a config is validated
        # where its secrets are not, in CI): the config itself may be fine.
        assert result.returncode in (0, 2), result.stderr
    else:
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert result.stderr.strip(), "exit 2 without a problem line"


SECRET_CASES = [case for case in CASES if case.command == "sync"]


@pytest.mark.parametrize("case", SECRET_CASES, ids=[case.name for case in SECRET_CASES])
def test_sync_refuses_a_bad_secret_with_exit_2(case: Case, tmp_path: Path) -> None:
    result = _run(case, tmp_path, ["sync", "--once", "--dry-run"])
    _check_output(case, result)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip()
    assert not (tmp_path / "okrsync.db").exists(), "the store was opened before the check"


def test_secret_problems_name_the_variable_or_file(tmp_path: Path) -> None:
    by_name = {case.name: case for case in SECRET_CASES}
    result = _run(by_name["secret-env-control-char"], tmp_path, ["sync", "--once", "--dry-run"])
    assert re.search(
        r":\d+: sources\.github\.token_env: environment variable OKRTEST_GH_TOKEN holds a "
        r"control character$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    result = _run(by_name["secret-file-missing"], tmp_path, ["sync", "--once", "--dry-run"])
    assert "sources.github.token_file: file " in result.stderr
    assert "no-such-secret.txt cannot be read" in result.stderr


def test_print_wall_times() -> None:
    """Not a check: the figures for the report (run with -s)."""
    if TIMES:
        values = sorted(TIMES.values())
        slowest = max(TIMES, key=lambda key: TIMES[key])
        print(
            f"\ncorpus runs: {len(values)}, median {statistics.median(values):.2f}s, "
            f"max {values[-1]:.2f}s ({slowest})"
        )

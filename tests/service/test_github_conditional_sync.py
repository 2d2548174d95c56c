"""GitHub end to end (the CLI, real PyGithub, the sandbox): what a cycle costs.

- An unchanged cycle is answered 304 on every list request: no rate-limit quota spent
  (`X-RateLimit-Remaining` as it was), the bookmark unchanged, nothing written; a change
  is seen by the next cycle.
- A smoke benchmark with N = 200 issues asserts deterministic figures only (request
  counts, never time). The minimum reads of a first cycle are:
  ceil(N / 100) listing pages per repository (100 issues a page is GitHub's maximum),
  + one comment page per comment target (before its first comment: the only way to find,
    and so never duplicate, a managed comment an earlier run may have left),
  + no sub-issue page (every child lives in a configured repository, so the listing
    brings it with its `parent_issue_url`; a sub-issue look-up is needed only for a mapped
    parent with children elsewhere),
  + no `GET /user` (asked only when a marked comment turns up).
  The first incremental cycle after a change reads the (short) listing once and stores
  its ETag; from then on an unchanged cycle is one 304 per repository.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okrsync.cli import main
from okrsync.store import Store
from okrsync_sandbox import GitHubSandbox
from okrsync_sandbox._server import RecordedRequest

pytestmark = pytest.mark.integration

TOKEN = "ghp_sandboxtoken"
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
NOW = "2026-11-24T12:00:00Z"
LONG_AGO = START - timedelta(days=20)


class Clock:
    """The sandbox's clock, moved by the test."""

    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gh(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubSandbox]:
    with GitHubSandbox(token=TOKEN) as sandbox:
        sandbox.now = clock
        sandbox.add_repo("acme/web")
        monkeypatch.setenv("OKR_GITHUB_TOKEN", TOKEN)
        yield sandbox
        assert sandbox.violations == []


def write_config(tmp_path: Path, gh: GitHubSandbox) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "sqlite:///{tmp_path / "okrsync.db"}"}}
sources:
  github:
    url: {gh.url}
    token_env: OKR_GITHUB_TOKEN
    repos: [acme/web]
    seconds_between_writes: 0   # pinned through the transport seam; tests never sleep
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - id: ONB-1
        title: Completion from 68% to 85%
        baseline: 68
        target: 85
""")
    return path


def sync(config: Path) -> int:
    return main(["--config", str(config), "--log-format", "json", "sync", "--once", "--now", NOW])


def reads(gh: GitHubSandbox) -> list[RecordedRequest]:
    return [r for r in gh.requests if r.method == "GET"]


def bookmark(tmp_path: Path) -> int | None:
    with Store(f"sqlite:///{tmp_path / 'okrsync.db'}") as store:
        return store.cursor("github")


def seed(gh: GitHubSandbox, issues: int, mapped: int) -> None:
    """`issues` issues last updated long ago; the first `mapped` carry the KR's label,
    and each of those has two sub-issues (in the same repository) among the rest."""
    for n in range(issues):
        labels = ["okr:ONB-1", "points:3"] if n < mapped else ["points:1"]
        updated = LONG_AGO + timedelta(minutes=n)
        gh.add_issue("acme/web", f"Issue {n + 1}", labels=labels, updated_at=updated)
    for parent in range(1, mapped + 1):
        for child in (mapped + 2 * parent - 1, mapped + 2 * parent):
            gh.add_sub_issue("acme/web", parent, "acme/web", child)
            for number in (parent, child):  # linking moved them: back to long ago
                gh.find_issue("acme/web", number).updated_at = LONG_AGO


def test_an_unchanged_cycle_costs_no_quota_and_a_change_is_seen(
    gh: GitHubSandbox, clock: Clock, tmp_path: Path
) -> None:
    seed(gh, issues=6, mapped=2)
    config = write_config(tmp_path, gh)

    assert sync(config) == 0  # full pull, and the first comments
    assert [r.method for r in gh.writes] == ["POST", "POST"]

    clock.advance(minutes=5)
    gh.reset_log()
    assert sync(config) == 0  # incremental: reads the listing, stores its ETag
    assert [(r.method, r.status) for r in gh.requests] == [("GET", 200)]
    kept = bookmark(tmp_path)

    clock.advance(minutes=5)
    gh.reset_log()
    before = gh.rate_limit_remaining
    assert sync(config) == 0  # unchanged

    assert [(r.method, r.path, r.status) for r in gh.requests] == [
        ("GET", "/repos/acme/web/issues", 304)
    ]
    assert gh.rate_limit_remaining == before  # no quota spent
    assert bookmark(tmp_path) == kept  # the same URL next time
    assert gh.writes == []

    clock.advance(minutes=5)
    gh.close_issue("acme/web", 3)  # a sub-issue of the mapped #1 is done
    gh.reset_log()
    assert sync(config) == 0

    assert [(r.path, r.status) for r in reads(gh)] == [("/repos/acme/web/issues", 200)]
    # Both comments show the KR's numbers: edited in place, none posted.
    assert [r.method for r in gh.writes] == ["PATCH", "PATCH"]
    assert bookmark(tmp_path) != kept

    # The writes moved #1 and #2: one cycle reads them again (and stores the new ETag) ...
    clock.advance(minutes=5)
    gh.reset_log()
    assert sync(config) == 0
    assert [r.status for r in gh.requests] == [200]
    # ... and then the cycles are free again.
    clock.advance(minutes=5)
    gh.reset_log()
    before = gh.rate_limit_remaining
    assert sync(config) == 0
    assert [r.status for r in gh.requests] == [304] and gh.rate_limit_remaining == before


N = 200
MAPPED = 10


def test_smoke_benchmark_200_issues_reads_the_minimum_and_then_only_304s(
    gh: GitHubSandbox, clock: Clock, tmp_path: Path
) -> None:
    seed(gh, issues=N, mapped=MAPPED)
    config = write_config(tmp_path, gh)

    assert sync(config) == 0

    listing = [r for r in reads(gh) if r.path.endswith("/issues")]
    comment_pages = [r for r in reads(gh) if r.path.endswith("/comments")]
    pull_minimum = math.ceil(N / 100)
    cycle_minimum = pull_minimum + len(gh.writes)  # one comment page per target
    assert len(gh.writes) == MAPPED
    assert len(listing) <= 1.02 * pull_minimum
    assert len(comment_pages) == len(gh.writes)
    assert len(reads(gh)) <= 1.02 * cycle_minimum
    assert not [r for r in gh.requests if r.path.endswith("/sub_issues") or r.path == "/user"]

    for _ in range(2):  # the first stores the listing's ETag, the second is unchanged
        clock.advance(minutes=5)
        gh.reset_log()
        before = gh.rate_limit_remaining
        assert sync(config) == 0
    lists = [r for r in gh.requests if r.method == "GET"]
    assert lists and all(r.status == 304 for r in lists)
    assert len(gh.requests) == 1 and gh.rate_limit_remaining == before

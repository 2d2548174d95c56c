"""The demo world's HTML report, opened in headless Chromium: it renders (a PNG), every KR
and its two charts are in the DOM Chromium built, and every number on the page is the one
`okrsync status --format json` gives.

Chromium is required, not optional: `make test` installs it (.ci/ensure-chromium); on a
machine without it these tests fail and say how to get it, they never skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from okrsync.cli import main
from okrsync_sandbox.demo import CHECK_INS
from okrsync_sandbox.world import demo_config_path, serve_world

from .page import mismatches, read_page
from .test_html import allocation_numbers, allocation_section

pytestmark = pytest.mark.integration

NOW = "2026-11-24T12:00:00Z"
# Earlier cycles, so the burn-up has history (KR snapshots) before NOW.
EARLIER = ("2026-10-15T12:00:00Z", "2026-11-05T12:00:00Z")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM_TIMEOUT_SECONDS = 120


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.fail(
        "Chromium is not installed, and the HTML report tests need it: run `make test` "
        "(it runs .ci/ensure-chromium) or `sudo apt-get install -y chromium`",
        pytrace=False,
    )


def run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--window-size=1280,2000",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, timeout=CHROMIUM_TIMEOUT_SECONDS)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


@dataclass
class DemoReport:
    page: Path
    html: str
    status: dict[str, Any]
    tmp: Path


def okrsync(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", "--log-level", "error", *args])


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoReport]:
    tmp = tmp_path_factory.mktemp("report")
    with (
        serve_world() as world,
        demo_config_path() as config,
        pytest.MonkeyPatch.context() as patch,
    ):
        for name, value in world.environ(f"sqlite:///{tmp / 'okrsync.db'}").items():
            patch.setenv(name, value)
        for kr_id, day, reading in CHECK_INS:
            assert okrsync(config, "metric", "set", kr_id, str(reading), "--at", day) == 0
        for now in (*EARLIER, NOW):
            assert okrsync(config, "sync", "--once", "--now", now) == 0
        page = tmp / "report.html"
        assert okrsync(config, "report", "--html", str(page), "--now", NOW) == 0
        status_file = tmp / "status.json"
        with status_file.open("w") as out, patch.context() as quiet:
            quiet.setattr("sys.stdout", out)
            assert okrsync(config, "status", "--format", "json", "--now", NOW) == 0
        status = json.loads(status_file.read_text())
        assert world.violations() == []
    yield DemoReport(page, page.read_text(encoding="utf-8"), status, tmp)


def kr_ids(status: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def visit(objectives: list[dict[str, Any]]) -> None:
        for objective in objectives:
            found.extend(kr["id"] for kr in objective["key_results"])
            visit(objective["children"])

    visit(status["objectives"])
    return found


@pytest.fixture(scope="module")
def dom(demo_report: DemoReport) -> str:
    done = run_chromium(demo_report.tmp, "--dump-dom", demo_report.page.as_uri())
    return done.stdout.decode()


def test_chromium_renders_the_page_to_a_png(demo_report: DemoReport) -> None:
    shot = demo_report.tmp / "report.png"
    run_chromium(demo_report.tmp, f"--screenshot={shot}", demo_report.page.as_uri())
    assert shot.exists()
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000  # a page, not a blank


def test_the_dom_has_every_kr_and_one_svg_per_chart(demo_report: DemoReport, dom: str) -> None:
    ids = kr_ids(demo_report.status)
    assert len(ids) >= 4
    found = read_page(dom)
    assert found.kr_ids == ids
    for kr_id in ids:
        assert kr_id in dom
    # Two charts per KR, and the allocation bar.
    assert dom.count("<svg") == 2 * len(ids) + 1
    assert found.tags.count("svg") == 2 * len(ids) + 1
    # The charts drew something: a sample line for the KRs with check-ins.
    assert dom.count('class="series"') >= len({kr for kr, _, _ in CHECK_INS})


def test_every_number_on_the_page_is_the_status_json(demo_report: DemoReport, dom: str) -> None:
    numbers = read_page(dom).numbers
    per_kr = {n.owner_id for n in numbers if n.owner == "kr"}
    assert per_kr == set(kr_ids(demo_report.status))
    assert len(numbers) > 10 * len(per_kr)
    assert mismatches(dom, demo_report.status) == []


def test_the_allocation_section_shows_every_objective_and_kr(
    demo_report: DemoReport, dom: str
) -> None:
    section = allocation_section(dom)
    assert "Keep the lights on (no KR)" in section
    assert section.count("<rect") >= 2  # the demo has work in flight on some KR and on none
    numbers = allocation_numbers(dom)
    objectives = [o["id"] for o in demo_report.status["objectives"]]
    for kr_id in kr_ids(demo_report.status):
        assert ("kr:" + kr_id, "share") in numbers
    # demo.yaml sets targets (ONB 50, SEC 30): each is shown with its difference.
    assert [numbers[(f"objective:{o}", "target")] for o in objectives] == [50, 30]
    shares = [numbers[(f"objective:{o}", "share")] for o in objectives]
    for objective_id, share in zip(objectives, shares, strict=True):
        difference = numbers[(f"objective:{objective_id}", "difference")]
        target = numbers[(f"objective:{objective_id}", "target")]
        assert difference == pytest.approx(100 * share - target, abs=0.1)
    # The objectives' shares and the work on no KR make up the whole in flight.
    assert numbers[("total", "weight")] > 0
    assert sum(shares) + numbers[("no_kr", "share")] == pytest.approx(1, abs=0.005)


def test_every_mapped_item_is_linked(demo_report: DemoReport, dom: str) -> None:
    hrefs = read_page(dom).hrefs
    external = [href for href in hrefs if not href.startswith("#")]
    assert external and all(href.startswith("http://127.0.0.1:") for href in external)
    unmapped = demo_report.status["unmapped"]["items"]
    assert unmapped
    for ref in unmapped:
        assert f">{ref}</a>" in dom
    # Each KR with leaves lists its items, each a link.
    for kr_id in kr_ids(demo_report.status):
        article = dom.split(f'data-kr-id="{kr_id}"', 1)[1].split("</article>", 1)[0]
        assert article.count("<li><a href=") >= kr_json(demo_report.status, kr_id)["items"]["total"]


def kr_json(status: dict[str, Any], kr_id: str) -> dict[str, Any]:
    def visit(objectives: list[dict[str, Any]]) -> dict[str, Any] | None:
        for objective in objectives:
            for kr in objective["key_results"]:
                if kr["id"] == kr_id:
                    return dict(kr)
            found = visit(objective["children"])
            if found is not None:
                return found
        return None

    found = visit(status["objectives"])
    assert found is not None
    return found

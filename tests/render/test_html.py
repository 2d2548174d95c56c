"""The HTML report: every KR, two charts each, hostile text inert, nothing loaded from
elsewhere, the numbers those of `status --format json`, and a size that stays small."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from factories import Q4, key_result, mapped, objective, sample, utc, work_item

from okrsync.domain import (
    Allocation,
    Bucket,
    ItemRef,
    KRSnapshot,
    Objective,
    Report,
    Rules,
    ValueRange,
    WorkItem,
    allocation,
    compute_report,
)
from okrsync.render import report_to_json
from okrsync.render.html import KRHistory, anchor, render_report_html, safe_url

from .page import mismatches, read_page
from .scenario import ITEMS, NOW, ONB, SAMPLES, SEC, report

HOSTILE_TITLE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def history_for(report: Report, items: list[WorkItem]) -> dict[str, KRHistory]:
    """Each KR's own samples and the items labelled for it (enough for these tests)."""
    history: dict[str, KRHistory] = {}
    for status in (kr for o in report.objectives for kr in o.key_results):
        kr_id = status.kr.id
        history[kr_id] = KRHistory(
            samples=[s for s in SAMPLES if s.kr_id.casefold() == kr_id.casefold()],
            snapshots=[
                KRSnapshot(kr_id, utc(2026, 10, day), None, None, 0.1, 0.1, "at_risk", day, 10)
                for day in (1, 8, 15)
            ],
            items=[
                i for i in items if any(kr_id.casefold() in label.casefold() for label in i.labels)
            ],
        )
    return history


def page() -> str:
    scenario = report()
    return render_report_html(
        scenario, history_for(scenario, ITEMS), {item.ref: item for item in ITEMS}
    )


def test_every_kr_is_on_the_page_with_its_two_charts() -> None:
    html = page()
    found = read_page(html)
    assert found.kr_ids == ["ONB-1", "ONB-2", "SEC-1"]
    for kr_id in found.kr_ids:
        assert f'id="{anchor(kr_id)}"' in html
        assert f"{kr_id}: metric over the cycle" in html
        assert f"{kr_id}: delivery burn-up" in html
    assert html.count("<svg") == 2 * len(found.kr_ids)
    assert found.tags.count("svg") == 2 * len(found.kr_ids)


def test_every_number_is_the_json_contracts() -> None:
    scenario = report()
    html = page()
    numbers = read_page(html).numbers
    fields = {number.field for number in numbers}
    assert {"current", "outcome_progress", "delivery_progress", "weight.done", "score"} <= fields
    assert mismatches(html, report_to_json(scenario)) == []


def test_flags_and_unmapped_items_are_listed() -> None:
    html = page()
    assert 'data-flag="shipping_without_impact"' in html
    # ONB-30 and ONB-31 are unmapped: listed with their links.
    assert 'href="https://example.test/jira/ONB-30"' in html
    assert 'href="https://example.test/jira/ONB-31"' in html
    assert read_page(html).numbers[-1].field == "unmapped.count"


def hostile_world() -> tuple[Report, dict[str, KRHistory], dict[ItemRef, WorkItem]]:
    kr = replace(key_result("EVIL-1"), title=HOSTILE_TITLE, unit="<b>u</b>")
    obj = replace(objective("EVIL", kr), title=HOSTILE_TITLE, owner="<i>me</i>")
    items = [
        replace(
            work_item("E-1", labels=["okr:EVIL-1"], title=HOSTILE_TITLE),
            url="javascript:alert(3)",
        ),
        replace(
            work_item("E-2", labels=["okr:EVIL-1"], status="<marquee>"),
            url='https://evil.test/x"onmouseover="alert(4)',
        ),
        replace(
            work_item("E-3", labels=["nothing"], title="</ul></section>"), url="data:text/html,x"
        ),
        replace(work_item("E-4", labels=["okr:EVIL-1"]), url="//evil.test/no-scheme"),
    ]
    hostile = compute_report(Q4, [obj], items, [], Rules(), NOW)
    history = {"EVIL-1": KRHistory(items=[i for i in items if i.key != "E-3"])}
    return hostile, history, {item.ref: item for item in items}


def test_hostile_titles_and_urls_stay_text() -> None:
    hostile, history, items = hostile_world()
    html = render_report_html(hostile, history, items)
    found = read_page(html)
    assert "<script" not in html
    assert "<img" not in html and "<marquee" not in html and "<b>u" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # Only the one http(s) URL became a link, its quote escaped inside the attribute.
    assert found.hrefs.count('https://evil.test/x"onmouseover="alert(4)') == 1
    assert 'onmouseover="alert' not in html
    assert not [h for h in found.hrefs if h.startswith(("javascript:", "data:", "//"))]
    assert "script" not in found.tags and "img" not in found.tags
    assert found.kr_ids == ["EVIL-1"]


def test_safe_url_only_absolute_http() -> None:
    assert safe_url("https://a.test/x") == "https://a.test/x"
    assert safe_url("HTTP://a.test") == "HTTP://a.test"
    for url in ("javascript:alert(1)", "data:text/html,x", "//a.test", "/relative", "", "http://"):
        assert safe_url(url) is None


def test_nothing_loaded_or_linked_but_the_items() -> None:
    scenario = report()
    html = page()
    found = read_page(html)
    item_urls = {item.url for item in ITEMS}
    assert found.srcs == []
    assert [href for href in found.hrefs if not href.startswith("#")]
    for href in found.hrefs:
        assert href.startswith("#") or href in item_urls, href
    # In-page anchors point at KRs on the page.
    anchors = {f"#{anchor(kr.kr.id)}" for o in scenario.objectives for kr in o.key_results}
    assert {href for href in found.hrefs if href.startswith("#")} <= anchors
    # No URL in the CSS or anywhere else but those links (the SVG namespace is no request).
    rest = html
    for url in item_urls | {"http://www.w3.org/2000/svg"}:
        rest = rest.replace(url, "")
    assert "http:" not in rest and "https:" not in rest and "url(" not in rest
    assert "@import" not in html and "<link" not in html and "<script" not in html


def test_light_dark_and_print() -> None:
    html = page()
    assert "prefers-color-scheme:dark" in html
    assert "@media print" in html
    assert "Content-Security-Policy" in html


def test_a_maintain_kr_after_the_cycle_shows_its_band_and_final() -> None:
    kr = key_result(
        "UP-1", kind="maintain", baseline=None, target=None, range=ValueRange(99.0, 100.0)
    )
    samples = [sample("UP-1", 99.5, utc(2026, 10, 1) + timedelta(days=d)) for d in range(90)]
    ended = compute_report(Q4, [objective("UP", kr)], [], samples, Rules(), utc(2027, 1, 5))
    html = render_report_html(ended, {"UP-1": KRHistory(samples=samples)}, {})
    assert 'class="band"' in html
    assert 'data-field="final"' in html
    assert mismatches(html, report_to_json(ended)) == []


def big_world() -> tuple[Report, dict[str, KRHistory], dict[ItemRef, WorkItem]]:
    """10 objectives × 5 KRs, a sample and a snapshot a day for 90 days, 12 items each."""
    start = utc(2026, 10, 1)
    now = start + timedelta(days=90)
    objectives = []
    items: list[WorkItem] = []
    samples = []
    snapshots: dict[str, list[KRSnapshot]] = {}
    for o in range(10):
        krs = []
        for k in range(5):
            kr_id = f"O{o}-KR{k}"
            krs.append(
                replace(
                    key_result(kr_id, baseline=10.0, target=90.0),
                    title=f"Raise metric {o}.{k} from 10 to 90 with a fairly long title",
                    unit="%",
                )
            )
            for day in range(90):
                at = start + timedelta(days=day, hours=9)
                samples.append(sample(kr_id, 10 + day * 0.7 + (day % 7) * 0.3, at))
                snapshots.setdefault(kr_id, []).append(
                    KRSnapshot(
                        kr_id, at, None, None, None, day / 92, "on_track", day / 3, 30 + day / 9
                    )
                )
            for n in range(12):
                items.append(
                    work_item(
                        f"K{o}{k}-{n}",
                        labels=[f"okr:{kr_id}"],
                        bucket=Bucket.DONE if n % 2 else Bucket.TODO,
                        points=3,
                        title=f"Story {n} of the work toward {kr_id}",
                    )
                )
        objectives.append(replace(objective(f"O{o}", *krs), title=f"Objective number {o}"))
    items += [work_item(f"LOOSE-{n}", labels=["bug"]) for n in range(40)]
    big = compute_report(Q4, objectives, items, samples, Rules(), now)
    history = {
        kr.id: KRHistory(
            samples=[s for s in samples if s.kr_id == kr.id],
            snapshots=snapshots[kr.id],
            items=[i for i in items if f"okr:{kr.id}" in i.labels],
        )
        for o in objectives
        for kr in o.key_results
    }
    return big, history, {item.ref: item for item in items}


def test_fifty_krs_with_ninety_days_of_history_stay_under_a_megabyte() -> None:
    big, history, items = big_world()
    html = render_report_html(big, history, items)
    size = len(html.encode())
    assert size < 1_000_000, f"{size} bytes"
    assert len(read_page(html).kr_ids) == 50
    assert html.count("<svg") == 100
    assert mismatches(html, report_to_json(big)) == []


# --------------------------------------------------------------------------- allocation


class _AllocationNumbers(HTMLParser):
    """The allocation numbers a page marks: {(owner, field): value}."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[tuple[str, str], Any] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "data-allocation" in values:
            key = (values["data-allocation"], values["data-allocation-field"])
            assert key not in self.found, key
            self.found[key] = json.loads(values["data-allocation-value"])


def allocation_numbers(html: str) -> dict[tuple[str, str], Any]:
    parser = _AllocationNumbers()
    parser.feed(html)
    return parser.found


def allocation_section(html: str) -> str:
    return html.split('<section class="allocation"', 1)[1].split("</section>", 1)[0]


IN = Bucket.IN_PROGRESS
# The scenario's in-flight leaves (ONB-13, 1 pt, on ONB-1; web#7, no points so 1, on
# ONB-2; the epic ONB-10 is made of its children and does not count), plus one item on
# ONB-2 and SEC-1 (4 pts: 2 each) and one on no KR (2 pts). Total 8.
ALLOCATED_ITEMS = [
    *ITEMS,
    work_item("ONB-50", labels=["okr:ONB-2", "okr:SEC-1"], bucket=IN, points=4),
    work_item("OPS-1", labels=["chore"], bucket=IN, points=2),
]
TARGETED = (replace(ONB, allocation=60), replace(SEC, allocation=30))


def allocated_page(
    objectives: tuple[Objective, ...] = TARGETED, items: list[WorkItem] = ALLOCATED_ITEMS
) -> tuple[Report, str, Allocation]:
    scenario = compute_report(Q4, list(objectives), items, SAMPLES, Rules(), NOW)
    found = allocation(mapped(items, objectives), objectives, Rules())
    html = render_report_html(
        scenario,
        history_for(scenario, items),
        {item.ref: item for item in items},
        allocation=found,
    )
    return scenario, html, found


def test_allocation_shows_each_share_target_and_difference() -> None:
    scenario, html, _ = allocated_page()
    assert allocation_numbers(html) == {
        ("objective:ONB", "weight"): 4,
        ("objective:ONB", "share"): 0.5,
        ("objective:ONB", "target"): 60,
        ("objective:ONB", "difference"): -10,
        ("kr:ONB-1", "weight"): 1,
        ("kr:ONB-1", "share"): 0.125,
        ("kr:ONB-2", "weight"): 3,
        ("kr:ONB-2", "share"): 0.375,
        ("objective:SEC", "weight"): 2,
        ("objective:SEC", "share"): 0.25,
        ("objective:SEC", "target"): 30,
        ("objective:SEC", "difference"): -5,
        ("kr:SEC-1", "weight"): 2,
        ("kr:SEC-1", "share"): 0.25,
        ("no_kr", "weight"): 2,
        ("no_kr", "share"): 0.25,
        ("total", "weight"): 8,
        ("total", "items"): 4,
    }
    section = allocation_section(html)
    assert "Keep the lights on (no KR)" in section
    assert ">50%<" in section and ">60%<" in section and ">-10 pp<" in section
    # The bar: one rectangle per KR with work in flight, then the work on no KR, each
    # as wide as its share of the 1000 units.
    widths = re.findall(r'<rect class="seg ([a-z0-9]+)" x="[0-9.]+" y="0" width="([0-9.]+)"', html)
    assert widths == [("a0", "125.0"), ("a0", "375.0"), ("a1", "250.0"), ("klo", "250.0")]
    assert html.count("<svg") == 2 * len(read_page(html).kr_ids) + 1
    # KR rows link to the KR on the page; the JSON-contract numbers are untouched.
    assert f'href="#{anchor("ONB-2")}"' in section
    assert mismatches(html, report_to_json(scenario)) == []
    assert read_page(html).numbers[-1].field == "unmapped.count"


def test_allocation_without_targets_shows_no_difference() -> None:
    _, html, _ = allocated_page((ONB, SEC))
    numbers = allocation_numbers(html)
    assert ("objective:ONB", "target") not in numbers
    assert numbers[("objective:ONB", "difference")] is None


def test_nothing_in_flight_draws_no_bar_and_no_shares() -> None:
    idle = [item for item in ITEMS if item.bucket is not IN]
    _, html, found = allocated_page(items=idle)
    assert found.total == 0
    section = allocation_section(html)
    assert "Nothing in flight" in section
    assert "<svg" not in section
    numbers = allocation_numbers(html)
    assert numbers[("objective:ONB", "share")] is None
    assert numbers[("objective:ONB", "difference")] is None
    assert numbers[("no_kr", "share")] is None
    assert numbers[("objective:ONB", "target")] == 60


def test_allocation_text_is_escaped() -> None:
    hostile, history, items = hostile_world()
    evil = replace(
        objective("EVIL", replace(key_result("EVIL-1"), title=HOSTILE_TITLE)),
        title=HOSTILE_TITLE,
        allocation=50,
    )
    found = allocation(mapped(items.values(), [evil]), [evil], Rules())
    html = render_report_html(hostile, history, items, allocation=found)
    section = allocation_section(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "<script" not in html and "<img" not in html
    assert "script" not in read_page(html).tags


def test_allocation_colours_follow_light_dark_and_print() -> None:
    _, html, _ = allocated_page()
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    light, dark = css.split("prefers-color-scheme:dark", 1)
    for name in ("--a0", "--a1", "--klo"):
        assert f"{name}:" in light and f"{name}:" in dark
    assert "print-color-adjust:exact" in css

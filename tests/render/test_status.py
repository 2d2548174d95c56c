"""`okrsync status`: the JSON contract, the Markdown report and the terminal table."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

import pytest
from factories import Q4, work_item
from rich.console import Console

from okrsync.domain import (
    Bucket,
    Health,
    ItemRef,
    Objective,
    Problem,
    Report,
    Rules,
    compute_report,
)
from okrsync.render import (
    escape_markdown,
    report_markdown,
    report_table,
    report_to_json,
    weight_text,
)
from okrsync.render._numbers import metric, percent
from okrsync.render.status import kr_health_word, piped_width

from .scenario import ITEMS, NOW, ONB, ONB_1, SAMPLES, report

# The example of docs/design.md, "status --format json", verbatim but for the "..." strings.
DESIGN_EXAMPLE = json.loads("""
{"cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31", "as_of": "x"},
 "objectives": [{"id": "ONB", "title": "x", "score": 0.353, "health": "at_risk",
   "key_results": [{"id": "ONB-1", "title": "x", "unit": "%", "baseline": 68, "target": 85,
     "current": 74, "outcome_progress": 0.353, "delivery_progress": 0.8,
     "expected_progress": 0.55, "health": "at_risk", "forecast": 81.2,
     "flags": ["shipping_without_impact"],
     "items": {"total": 12, "done": 9, "in_progress": 2, "todo": 1},
     "weight": {"done": 31, "total": 47},
     "kind": "auto", "grading": "committed", "range": null, "score": 0.353, "final": null,
     "samples": 2, "last_sample_at": "2026-11-15T00:00:00Z", "metric_error": null,
     "scope": {"start_weight": 40, "weight": 47, "growth": 0.175},
     "delivery_forecast": {"p50": "2026-12-10", "p85": "2026-12-24", "remaining": 16}}],
   "children": []}],
 "unmapped": {"count": 3, "items": ["github:acme/web#12", "jira:ONB-30", "jira:ONB-31"]},
 "problems": [{"item": "jira:ONB-31", "problem": "unknown_kr",
   "detail": "label okr:ONB1 names ONB1, which is not a configured KR; did you mean ONB-1?"}]}
""")


def shape(value: Any) -> Any:
    """The keys at every level, with list elements merged."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict):
                merged.update(shape(item))
        return [merged] if merged else []
    return None


# --------------------------------------------------------------------------- JSON


def test_json_follows_the_design_shape_exactly() -> None:
    # With the start's items and four weeks of history, so scope and forecast are objects.
    weeks = [(NOW - timedelta(weeks=w), 8.0 - 2 * w) for w in range(1, 5)]
    history = {"ONB-1": weeks, "ONB-2": weeks}
    produced = report_to_json(
        compute_report(
            Q4, [ONB], ITEMS, SAMPLES, Rules(), NOW, start_items=ITEMS[:3], done_history=history
        )
    )
    assert produced["objectives"][0]["key_results"][0]["delivery_forecast"] is not None
    assert shape(produced) == shape(DESIGN_EXAMPLE)
    # Key order too, so `status --format json` reads like the documentation.
    assert list(produced) == list(DESIGN_EXAMPLE)
    assert list(produced["objectives"][0]) == list(DESIGN_EXAMPLE["objectives"][0])
    kr = produced["objectives"][0]["key_results"][0]
    assert list(kr) == list(DESIGN_EXAMPLE["objectives"][0]["key_results"][0])


def test_json_values_are_hand_computed() -> None:
    assert report_to_json(report()) == {
        "cycle": {
            "name": "2026-Q4",
            "start": "2026-10-01",
            "end": "2026-12-31",
            "as_of": "2026-11-20T14:24:00Z",
        },
        "objectives": [
            {
                "id": "ONB",
                "title": "Transform customer onboarding into a delightful experience",
                "score": 0.404,  # (3 × 6/17 + 5/9) / 4 = 0.40359...
                "health": "at_risk",
                "key_results": [
                    {
                        "id": "ONB-1",
                        "title": "Increase onboarding completion rate from 68% to 85%",
                        "unit": "%",
                        "baseline": 68,
                        "target": 85,
                        "current": 74,
                        "outcome_progress": 0.353,  # 6/17 = 0.35294...
                        "delivery_progress": 0.8,  # 8 of 10 points
                        "expected_progress": 0.55,  # 50.6 of 92 days
                        "health": "at_risk",
                        "forecast": 80.27,  # 68 + 6 × 92/45 = 80.2666...
                        "flags": ["shipping_without_impact"],
                        "items": {"total": 5, "done": 3, "in_progress": 1, "todo": 1},
                        "weight": {"done": 8, "total": 10},  # 3 + 3 + 2 of 3 + 3 + 1 + 1 + 2
                        "kind": "auto",
                        "grading": "committed",
                        "range": None,
                        "score": 0.353,
                        "final": None,
                        "samples": 2,  # Dec 1 is after NOW
                        "last_sample_at": "2026-11-15T00:00:00Z",
                        "metric_error": None,
                        "scope": {"start_weight": None, "weight": 10, "growth": None},
                        "delivery_forecast": None,  # no history
                    },
                    {
                        "id": "ONB-2",
                        "title": "Cut time to first value from 14 to 5 days",
                        "unit": "days",
                        "baseline": 14,
                        "target": 5,
                        "current": 9,
                        "outcome_progress": 0.556,  # 5/9 = 0.5555...
                        "delivery_progress": 0,
                        "expected_progress": 0.55,
                        "health": "on_track",
                        "forecast": 4.85,  # 34/3 − 127/1274 × 65 = 4.8537...
                        "flags": [],
                        "items": {"total": 1, "done": 0, "in_progress": 1, "todo": 0},
                        "weight": {"done": 0, "total": 1},  # web#7: no points, default 1
                        "kind": "auto",
                        "grading": "committed",
                        "range": None,
                        "score": 0.556,
                        "final": None,
                        "samples": 3,
                        "last_sample_at": "2026-11-20T00:00:00Z",
                        "metric_error": None,
                        "scope": {"start_weight": None, "weight": 1, "growth": None},
                        "delivery_forecast": None,
                    },
                ],
                "children": [],
            },
            {
                "id": "SEC",
                "title": "Objective SEC",
                "score": None,
                "health": "no_data",
                "key_results": [
                    {
                        "id": "SEC-1",
                        "title": "KR SEC-1",
                        "unit": "%",
                        "baseline": 20,
                        "target": 60,
                        "current": None,
                        "outcome_progress": None,
                        "delivery_progress": None,
                        "expected_progress": 0.55,
                        "health": "no_data",
                        "forecast": None,
                        "flags": [],
                        "items": {"total": 0, "done": 0, "in_progress": 0, "todo": 0},
                        "weight": {"done": 0, "total": 0},
                        "kind": "auto",
                        "grading": "committed",
                        "range": None,
                        "score": None,
                        "final": None,
                        "samples": 0,
                        "last_sample_at": None,
                        "metric_error": None,
                        "scope": {"start_weight": None, "weight": 0, "growth": None},
                        "delivery_forecast": None,
                    }
                ],
                "children": [],
            },
        ],
        # ONB-30 (label bug) and ONB-31 (okr:NOPE-9); ONB-40, not planned, counts nowhere.
        "unmapped": {"count": 2, "items": ["jira:ONB-30", "jira:ONB-31"]},
        "problems": [
            {
                "item": "jira:ONB-31",
                "problem": "unknown_kr",
                "detail": "label okr:NOPE-9 names NOPE-9, which is not a configured KR",
            }
        ],
    }


def test_json_text_reads_whole_numbers_without_a_fraction() -> None:
    text = json.dumps(report_to_json(report()))
    assert '"baseline": 68, "target": 85, "current": 74,' in text
    assert "68.0" not in text and "85.0" not in text
    assert '"expected_progress": 0.55,' in text


def test_fractions_are_rounded_to_three_places_but_metric_values_are_kept() -> None:
    kr = replace(ONB_1, baseline=68.5, target=85.25)
    objective = Objective("ONB", "t", (kr,))
    samples = [replace(SAMPLES[0], value=70.123456)]
    produced = report_to_json(compute_report(Q4, [objective], [], samples, Rules(), NOW))
    [status] = produced["objectives"][0]["key_results"]
    assert (status["baseline"], status["target"], status["current"]) == (68.5, 85.25, 70.123456)
    # (70.123456 − 68.5) / 16.75 = 0.096922...
    assert status["outcome_progress"] == 0.097
    assert produced["objectives"][0]["score"] == 0.097


def test_as_of_is_utc_with_a_z_whatever_the_zone_of_now() -> None:
    elsewhere = NOW.astimezone(timezone(timedelta(hours=-5)))
    produced = report_to_json(compute_report(Q4, [ONB], ITEMS, SAMPLES, Rules(), elsewhere))
    assert produced["cycle"]["as_of"] == "2026-11-20T14:24:00Z"


def test_unmapped_count_and_items_are_the_reports() -> None:
    refs = (ItemRef("asana", "1204"), ItemRef("jira", "X-1"))
    produced = report_to_json(replace(report(), unmapped_count=17, unmapped=refs))
    assert produced["unmapped"] == {"count": 17, "items": ["asana:1204", "jira:X-1"]}


def test_weight_is_points_or_items_and_keeps_fractions() -> None:
    items = [
        work_item("A-1", labels=["okr:ONB-1"], bucket=Bucket.DONE, points=2.5),
        work_item("A-2", labels=["okr:ONB-1"], points=3),
        work_item("A-3", labels=["okr:ONB-1"], bucket=Bucket.DONE),
    ]
    by_points = compute_report(Q4, [ONB], items, [], Rules(default_points=0.5), NOW)
    status = by_points.kr_status("ONB-1")
    assert report_to_json(by_points)["objectives"][0]["key_results"][0]["weight"] == {
        "done": 3,  # 2.5 + 0.5 (no points: default_points)
        "total": 6,
    }
    assert weight_text(status.weight) == "3/6 pts"
    by_count = compute_report(Q4, [ONB], items, [], Rules(weight="count"), NOW)
    assert weight_text(by_count.kr_status("ONB-1").weight) == "2/3 items"
    halves = compute_report(Q4, [ONB], items[:2], [], Rules(), NOW)
    assert weight_text(halves.kr_status("ONB-1").weight) == "2.5/5.5 pts"


def many_problems(count: int) -> tuple[Problem, ...]:
    return tuple(
        Problem(ItemRef("jira", f"X-{n:02}"), "unknown_kr", f"label okr:Q-{n} names Q-{n}")
        for n in range(count)
    )


# --------------------------------------------------------------------------- Markdown


def table_rows(markdown: str) -> list[str]:
    return [
        line
        for line in markdown.splitlines()
        if line.startswith("| ") and not line.startswith(("| Key result", "| ---"))
    ]


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


TABLE_HEADER = [
    "| Key result | Current | Outcome | Delivery | Expected | Health | Forecast | Items done "
    "| Weight done |",
    "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
]


def test_markdown_report() -> None:
    assert report_markdown(report()) == "\n".join(
        [
            r"# 2026\-Q4: OKR status",
            "",
            "2026-10-01 to 2026-12-31, as of 2026-11-20 14:24 UTC.",
            "",
            "## ONB: Transform customer onboarding into a delightful experience",
            "",
            "Score 40%, at risk.",
            "",
            *TABLE_HEADER,
            r"| ONB\-1 Increase onboarding completion rate from 68% to 85%"
            r" ⚑ shipping_without_impact | 74% | 35% | 80% | 55% | At risk | 80\.27% | 3/5"
            r" | 8/10 pts |",
            r"| ONB\-2 Cut time to first value from 14 to 5 days"
            r" | 9 days | 56% | 0% | 55% | On track | 4\.85 days | 0/1 | 0/1 pts |",
            "",
            "## SEC: Objective SEC",
            "",
            "Score –, no data.",
            "",
            *TABLE_HEADER,
            r"| SEC\-1 KR SEC\-1 | – | – | – | 55% | No data | – | 0/0 | 0/0 pts |",
            "",
            "Unmapped work items: 2.",
            "",
            "Mapping problems: 1.",
            "",
            r"- jira:ONB\-31 unknown\_kr: label okr:NOPE\-9 names NOPE\-9, which is not a "
            r"configured KR",
            "",
        ]
    )


def test_markdown_has_one_row_per_kr_with_nine_cells() -> None:
    rows = table_rows(report_markdown(report()))
    assert [cells(row)[0].split()[0] for row in rows] == [r"ONB\-1", r"ONB\-2", r"SEC\-1"]
    assert all(len(cells(row)) == 9 for row in rows)


def test_markdown_without_problems_has_no_problem_section() -> None:
    markdown = report_markdown(replace(report(), problems=()))
    assert "problems" not in markdown
    assert markdown.endswith("Unmapped work items: 2.\n")


def test_markdown_shows_ten_problems_then_how_many_more() -> None:
    markdown = report_markdown(replace(report(), problems=many_problems(13)))
    assert "Mapping problems: 13." in markdown
    listed = [line for line in markdown.splitlines() if line.startswith("- ")]
    assert listed[0] == r"- jira:X\-00 unknown\_kr: label okr:Q\-0 names Q\-0"
    assert listed[9].startswith(r"- jira:X\-09 ")
    assert listed[10:] == ["- … and 3 more"]


def test_markdown_escapes_labels_in_problems() -> None:
    hostile = Problem(ItemRef("github", "acme/web#1"), "unknown_kr", "label okr:@team|[x](y)")
    markdown = report_markdown(replace(report(), problems=(hostile,)))
    assert r"- github:acme/web\#1 unknown\_kr: label okr:@" + "\u2060" + r"team\|\[x\]\(y\)" in (
        markdown
    )


def test_markdown_escapes_untrusted_titles() -> None:
    hostile = replace(
        ONB_1,
        title="@octocat see [this](https://evil.example) <img src=x onerror=alert(1)> a|b\n```js",
    )
    objective = Objective("ONB", "<script>alert(1)</script> @org/team", (hostile,))
    markdown = report_markdown(compute_report(Q4, [objective], [], [], Rules(), NOW))

    assert r"## ONB: \<script\>alert\(1\)\</script\> @" + "\u2060" + r"org/team" in markdown
    [row] = table_rows(markdown)
    assert cells(row)[0] == (
        r"ONB\-1 @" + "\u2060" + r"octocat see \[this\]\(https://evil\.example\) "
        r"\<img src=x onerror=alert\(1\)\> a\|b \`\`\`js"
    )
    assert len(cells(row)) == 9  # the title's pipe did not add a column
    assert "\n```" not in markdown


def test_escape_markdown() -> None:
    assert escape_markdown("@octocat") == "@\u2060octocat"
    assert escape_markdown("ping @acme/security") == "ping @\u2060acme/security"
    assert escape_markdown("[x](javascript:alert(1))") == r"\[x\]\(javascript:alert\(1\)\)"
    assert escape_markdown("![img](http://x/y.png)") == r"\!\[img\]\(http://x/y\.png\)"
    assert escape_markdown("<details open>") == r"\<details open\>"
    assert escape_markdown("&#64;octocat &lt;b&gt;") == r"\&\#64;octocat \&lt;b\&gt;"
    assert escape_markdown("a | b") == r"a \| b"
    assert escape_markdown("```\ncode\n```") == r"\`\`\` code \`\`\`"
    assert (
        escape_markdown("*a* _b_ ~~c~~ # d + e - f.") == r"\*a\* \_b\_ \~\~c\~\~ \# d \+ e \- f\."
    )
    assert escape_markdown("back\\slash \\@x") == "back\\\\slash \\\\@\u2060x"
    assert escape_markdown("Increase completion 68% to 85%") == "Increase completion 68% to 85%"


# --------------------------------------------------------------------------- the table


def rendered(report_: Report) -> str:
    console = Console(record=True, width=160)
    console.print(report_table(report_))
    return console.export_text()


def test_table_shows_every_kr_with_its_numbers_and_health() -> None:
    text = rendered(report())
    lines = text.splitlines()
    assert lines[0].rstrip() == "2026-Q4 (2026-10-01 to 2026-12-31) as of 2026-11-20 14:24 UTC"
    header = next(line for line in lines if "Key result" in line)
    assert re.findall(r"\w[\w ]*\w", header) == [
        "Key result", "Current", "Outcome", "Delivery", "Expected", "Health", "Forecast", "Done",
        "Weight",
    ]  # fmt: skip

    def row(start: str) -> list[str]:
        line = next(line for line in lines if line.lstrip("│ ").startswith(start))
        return [cell.strip() for cell in line.strip()[1:-1].split("│")]

    assert row("ONB  ") == [
        "ONB  Transform customer onboarding into a delightful experience",
        "", "40%", "", "", "At risk", "", "", "",
    ]  # fmt: skip
    assert row("ONB-1") == [
        "ONB-1  Increase onboarding completion rate from 68% to 85%",
        "74%", "35%", "80%", "55%", "At risk", "80.27%", "3/5", "8/10 pts",
    ]  # fmt: skip
    assert row("ONB-2") == [
        "ONB-2  Cut time to first value from 14 to 5 days",
        "9 days", "56%", "0%", "55%", "On track", "4.85 days", "0/1", "0/1 pts",
    ]  # fmt: skip
    assert row("SEC-1") == [
        "SEC-1  KR SEC-1", "–", "–", "–", "55%", "No data", "–", "0/0", "0/0 pts",
    ]  # fmt: skip
    flag_line = lines[next(i for i, line in enumerate(lines) if "ONB-1" in line) + 1]
    assert "⚑ shipping_without_impact" in flag_line
    assert footer_of(report()) == [
        "Unmapped work items: 2",
        "  jira:ONB-30",
        "  jira:ONB-31",
        "Mapping problems: 1",
        "  jira:ONB-31  unknown_kr  label okr:NOPE-9 names NOPE-9, which is not a configured KR",
    ]


def footer_of(report_: Report) -> list[str]:
    lines = rendered(report_).splitlines()
    bottom = next(i for i, line in enumerate(lines) if line.lstrip().startswith("└"))
    return [line.rstrip() for line in lines[bottom + 1 :]]


def test_table_lists_twenty_unmapped_items_then_how_many_more() -> None:
    refs = tuple(ItemRef("github", f"acme/web#{n}") for n in range(100, 125))
    footer = footer_of(replace(report(), unmapped=refs, unmapped_count=25, problems=()))
    assert footer[0] == "Unmapped work items: 25"
    assert footer[1:21] == [f"  github:acme/web#{n}" for n in range(100, 120)]
    assert footer[21:] == ["  … and 5 more"]


def test_table_without_unmapped_items_or_problems_says_so_in_one_line() -> None:
    assert footer_of(replace(report(), unmapped=(), unmapped_count=0, problems=())) == [
        "Unmapped work items: 0"
    ]


def test_table_shows_ten_problems_then_how_many_more() -> None:
    footer = footer_of(replace(report(), problems=many_problems(12)))
    start = footer.index("Mapping problems: 12")
    assert footer[start + 1] == "  jira:X-00  unknown_kr  label okr:Q-0 names Q-0"
    assert len(footer[start + 1 :]) == 11
    assert footer[-1] == "  … and 2 more"


def test_table_health_words_cover_every_health() -> None:
    computed = report()
    onb_1 = computed.kr_status("ONB-1")
    objectives = tuple(
        replace(computed.objectives[0], health=health, key_results=(replace(onb_1, health=health),))
        for health in Health
    )
    text = rendered(replace(computed, objectives=objectives))
    for word in ("On track", "At risk", "Off track", "No data"):
        assert text.count(word) == 2, word  # the objective's row and its KR's row


def rendered_at(report_: Report, width: int) -> str:
    console = Console(record=True, width=width)
    console.print(report_table(report_, width))
    return console.export_text()


def kr_values(report_: Report) -> list[str]:
    """What the table shows of each KR, as `status --format json` has it."""
    return [
        value
        for status in (kr for o in report_.objectives for kr in o.key_results)
        for value in (
            status.kr.id,
            metric(status.current, status.kr.unit),
            percent(status.outcome_progress),
            percent(status.delivery_progress),
            percent(status.expected_progress),
            kr_health_word(status),
            metric(status.forecast, status.kr.unit),
            f"{status.items.done}/{status.items.total}",
            weight_text(status.weight),
            *status.flags,
        )
    ]


@pytest.mark.parametrize("width", [80, 100, 160])
def test_table_fits_the_width_and_loses_no_column(width: int) -> None:
    report_ = report()
    text = rendered_at(report_, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for header in (
        "Key result", "Current", "Outcome", "Delivery", "Expected", "Health", "Forecast", "Done",
        "Weight",
    ):  # fmt: skip
        assert header in text, header
    cells = {cell.strip() for line in lines for cell in line.split("│")}
    for value in kr_values(report_):
        assert value in text, value
    for value in ("74%", "80.27%", "9 days", "4.85 days", "8/10 pts", "0/1 pts", "On track"):
        assert value in cells, value  # whole values, not pieces of wrapped ones
    assert "ONB-1  Increase onboarding" in text and "shipping_without_impact" in text


def test_table_at_80_columns_stacks_the_numbers_of_a_kr_in_its_row() -> None:
    lines = rendered_at(report(), 80).splitlines()
    start = next(i for i, line in enumerate(lines) if "ONB-2" in line)
    rows = [[c.strip() for c in line.strip()[1:-1].split("│")][1:] for line in lines[start:][:3]]
    assert rows == [
        ["9 days", "56%", "On track", "0/1"],
        ["4.85 days", "0%", "", "0/1 pts"],
        ["", "55%", "", ""],
    ]


@pytest.mark.parametrize(
    ("columns", "width"), [(None, 80), ("120", 120), ("", 80), ("wide", 80), ("10", 80)]
)
def test_piped_width_is_columns_when_sensible_else_80(columns: str | None, width: int) -> None:
    assert piped_width(columns) == width

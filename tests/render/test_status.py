"""`okrsync status`: the JSON contract, the Markdown report and the terminal table."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

from factories import Q4
from rich.console import Console

from okrsync.domain import Health, Objective, Report, Rules, compute_report
from okrsync.render import escape_markdown, report_markdown, report_table, report_to_json

from .scenario import ITEMS, NOW, ONB, ONB_1, SAMPLES, report

# The example of docs/design.md, "status --format json", verbatim but for the "..." strings.
DESIGN_EXAMPLE = json.loads("""
{"cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31", "as_of": "x"},
 "objectives": [{"id": "ONB", "title": "x", "score": 0.353, "health": "at_risk",
   "key_results": [{"id": "ONB-1", "title": "x", "unit": "%", "baseline": 68, "target": 85,
     "current": 74, "outcome_progress": 0.353, "delivery_progress": 0.8,
     "expected_progress": 0.55, "health": "at_risk", "forecast": 81.2,
     "flags": ["shipping_without_impact"],
     "items": {"total": 12, "done": 9, "in_progress": 2, "todo": 1}}]}],
 "unmapped": {"count": 5}}
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
    produced = report_to_json(report())
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
                    },
                ],
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
                    }
                ],
            },
        ],
        # ONB-30 (label bug) and ONB-31 (okr:NOPE-9); ONB-40, not planned, counts nowhere.
        "unmapped": {"count": 2},
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


def test_unmapped_count_is_the_reports() -> None:
    assert report_to_json(replace(report(), unmapped_count=17))["unmapped"] == {"count": 17}


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
    "| Key result | Current | Outcome | Delivery | Expected | Health | Forecast | Items done |",
    "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
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
            r" ⚑ shipping_without_impact | 74% | 35% | 80% | 55% | At risk | 80\.27% | 3/5 |",
            r"| ONB\-2 Cut time to first value from 14 to 5 days"
            r" | 9 days | 56% | 0% | 55% | On track | 4\.85 days | 0/1 |",
            "",
            "## SEC: Objective SEC",
            "",
            "Score –, no data.",
            "",
            *TABLE_HEADER,
            r"| SEC\-1 KR SEC\-1 | – | – | – | 55% | No data | – | 0/0 |",
            "",
            "Unmapped work items: 2.",
            "",
        ]
    )


def test_markdown_has_one_row_per_kr_with_eight_cells() -> None:
    rows = table_rows(report_markdown(report()))
    assert [cells(row)[0].split()[0] for row in rows] == [r"ONB\-1", r"ONB\-2", r"SEC\-1"]
    assert all(len(cells(row)) == 8 for row in rows)


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
    assert len(cells(row)) == 8  # the title's pipe did not add a column
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
    ]  # fmt: skip

    def row(start: str) -> list[str]:
        line = next(line for line in lines if line.lstrip("│ ").startswith(start))
        return [cell.strip() for cell in line.strip()[1:-1].split("│")]

    assert row("ONB  ") == [
        "ONB  Transform customer onboarding into a delightful experience",
        "", "40%", "", "", "At risk", "", "",
    ]  # fmt: skip
    assert row("ONB-1") == [
        "ONB-1  Increase onboarding completion rate from 68% to 85%",
        "74%", "35%", "80%", "55%", "At risk", "80.27%", "3/5",
    ]  # fmt: skip
    assert row("ONB-2") == [
        "ONB-2  Cut time to first value from 14 to 5 days",
        "9 days", "56%", "0%", "55%", "On track", "4.85 days", "0/1",
    ]  # fmt: skip
    assert row("SEC-1") == ["SEC-1  KR SEC-1", "–", "–", "–", "55%", "No data", "–", "0/0"]
    flag_line = lines[next(i for i, line in enumerate(lines) if "ONB-1" in line) + 1]
    assert "⚑ shipping_without_impact" in flag_line
    assert lines[-1].rstrip() == "Unmapped work items: 2"


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

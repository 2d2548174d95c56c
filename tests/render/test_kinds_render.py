"""How KR kinds, `final`, `stale_metric`, scope and the objective tree read in status and
comments."""

from __future__ import annotations

from datetime import timedelta

from factories import Q4, key_result, objective, sample, utc, work_item
from rich.console import Console

from okrsync.domain import Bucket, Report, Rules, ValueRange, compute_report
from okrsync.render import (
    render_asana_comment,
    render_github_comment,
    render_jira_comment,
    report_markdown,
    report_table,
    report_to_json,
)
from okrsync.render._comment import comment_content

NOW = utc(2026, 11, 20, 14, 24)
END = utc(2027, 1, 1)

OBJECTIVES = [
    objective("CO", key_result("CO-1", baseline=0, target=10)),
    objective(
        "TEAM",
        key_result("T-1", kind="maintain", range=ValueRange(99.5, 100), baseline=None, target=None),
        key_result("T-2", kind="milestone", grading="aspirational"),
        key_result("T-3", kind="delivery"),
        parent="CO",
        weight=2,
    ),
]
ITEMS = [
    work_item("T-10", labels=["okr:T-1"], bucket=Bucket.DONE, points=5),
    work_item("T-30", labels=["okr:T-3"], bucket=Bucket.DONE, points=3),
    work_item("T-31", labels=["okr:T-3"], bucket=Bucket.TODO, points=1),
]
SAMPLES = [
    sample("CO-1", 4, utc(2026, 11, 1)),  # 19 days before NOW: stale
    sample("T-1", 99.7, utc(2026, 11, 19)),
    sample("T-2", 1, utc(2026, 11, 2)),
]


def report(now=NOW) -> Report:  # type: ignore[no-untyped-def]
    start = [work_item("T-30", labels=["okr:T-3"], bucket=Bucket.TODO, points=2)]
    return compute_report(
        Q4, OBJECTIVES, ITEMS, SAMPLES, Rules(), now, start_items=start, metric_errors={}
    )


def test_json_nests_children_and_carries_the_new_fields() -> None:
    produced = report_to_json(report())
    [company] = produced["objectives"]
    assert company["id"] == "CO"
    [team] = company["children"]
    assert team["id"] == "TEAM" and team["children"] == []
    # CO: CO-1 at 0.4 (weight 1) and TEAM (weight 2) at (1 + 1 + 0.75) / 3.
    assert company["score"] == round((0.4 + 2 * (2.75 / 3)) / 3, 3)
    maintain, milestone, delivery = team["key_results"]
    assert (maintain["kind"], maintain["baseline"], maintain["target"]) == ("maintain", None, None)
    assert maintain["range"] == {"min": 99.5, "max": 100}
    assert (maintain["outcome_progress"], maintain["health"]) == (1, "on_track")
    assert (milestone["kind"], milestone["grading"], milestone["score"]) == (
        "milestone",
        "aspirational",
        1,
    )
    assert (delivery["outcome_progress"], delivery["current"]) == (0.75, None)
    assert delivery["scope"] == {"start_weight": 2, "weight": 4, "growth": 1}
    [co_1] = company["key_results"]
    assert co_1["flags"] == ["stale_metric"]
    assert (co_1["samples"], co_1["last_sample_at"]) == (1, "2026-11-01T00:00:00Z")
    assert co_1["final"] is None and co_1["metric_error"] is None


def test_json_final_at_the_cycle_end() -> None:
    produced = report_to_json(report(END))
    [company] = produced["objectives"]
    [team] = company["children"]
    assert company["key_results"][0]["final"] == "partial"  # 0.4
    assert [kr["final"] for kr in team["key_results"]] == ["achieved", "achieved", "partial"]


def test_table_and_markdown_show_the_tree_the_flag_and_final() -> None:
    console = Console(width=200, record=True)
    console.print(report_table(report(END)))
    table = console.export_text()
    assert "  TEAM  Objective TEAM" in table
    assert "Achieved (final)" in table
    markdown = report_markdown(report())
    assert "### TEAM: Objective TEAM" in markdown and "Part of CO." in markdown
    assert "⚑ stale\\_metric" in markdown or "⚑ stale_metric" in markdown


def test_comments_show_the_stale_flag_and_final() -> None:
    now_report = report()
    end_report = report(END)
    for render in (render_github_comment, render_jira_comment, render_asana_comment):
        target = now_report.targets[0]
        statuses = [now_report.kr_status("CO-1"), now_report.kr_status("T-1")]
        text = render(target, statuses, Q4)
        assert "stale metric, last check" in text and "metric set CO" in text
        assert "keep within 99" in text
        final = render(end_report.targets[0], [end_report.kr_status("T-2")], Q4)
        assert "Achieved (final)" in final
        assert "milestone reached" in final


def test_the_stale_warning_names_a_date_not_an_age() -> None:
    # "N days ago" would rewrite the comment every day although nothing changed.
    today, tomorrow = report(), report(NOW + timedelta(days=1))
    target = today.targets[0]
    warnings = [
        comment_content(target, [computed.kr_status("CO-1")], Q4).warnings
        for computed in (today, tomorrow)
    ]
    assert (
        warnings[0]
        == warnings[1]
        == (
            "CO-1: stale metric, last check-in 2026-11-01; record one with okrsync metric set "
            "CO-1 VALUE.",
        )
    )

"""Prometheus metrics: what a cycle, a request, a retry and a webhook record."""

from __future__ import annotations

from datetime import datetime

import pytest
from domain.factories import Q4, key_result, objective, sample, utc, work_item
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from okrsync.domain import Bucket, Report, Rules, compute_report
from okrsync.service.pipeline import CommentCounts, CycleResult, PullCounts, SourceOutcome
from okrsync.service.telemetry import Telemetry
from okrsync.sources import RequestCounter

NOW = utc(2026, 11, 15)


def report(*krs: str, now: datetime = NOW) -> Report:
    """ONB-1 has two items (one done) and a metric at 30%; ONB-2 has nothing at all."""
    items = [
        work_item("ONB-10", labels=["okr:ONB-1"], bucket=Bucket.DONE),
        work_item("ONB-11", labels=["okr:ONB-1"]),
    ]
    samples = [sample("ONB-1", 30.0, utc(2026, 11, 1))]
    objectives = [objective("ONB", *(key_result(kr) for kr in krs))]
    return compute_report(Q4, objectives, items, samples, Rules(), now)


def cycle(*outcomes: SourceOutcome, krs: tuple[str, ...] = ("ONB-1", "ONB-2")) -> CycleResult:
    return CycleResult(report(*krs), list(outcomes))


def samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, keyed by name and sorted labels."""
    body, _ = telemetry.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(telemetry: Telemetry, name: str, **labels: str) -> float | None:
    return samples(telemetry).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry(clock=lambda: 1_800_000_000.0)


def test_a_cycle_records_sources_writebacks_and_duration(telemetry: Telemetry) -> None:
    jira = SourceOutcome(
        "jira",
        items=PullCounts(pulled=12),
        comments=CommentCounts(created=2, edited=1, skipped=5),
    )
    github = SourceOutcome("github", error="401 Unauthorized")
    telemetry.record_cycle(cycle(jira, github), seconds=3.2)

    assert value(telemetry, "okrsync_cycles_total", source="jira", result="ok") == 1
    assert value(telemetry, "okrsync_cycles_total", source="github", result="failed") == 1
    assert value(telemetry, "okrsync_items", source="jira") == 12
    assert value(telemetry, "okrsync_items", source="github") is None  # never pulled
    assert value(telemetry, "okrsync_writebacks_total", source="jira", action="created") == 2
    assert value(telemetry, "okrsync_writebacks_total", source="jira", action="edited") == 1
    assert value(telemetry, "okrsync_writebacks_total", source="jira", action="skipped") == 5
    assert value(telemetry, "okrsync_cycle_duration_seconds_count") == 1
    assert value(telemetry, "okrsync_cycle_duration_seconds_sum") == pytest.approx(3.2)
    assert value(telemetry, "okrsync_cycle_duration_seconds_bucket", le="5.0") == 1
    assert value(telemetry, "okrsync_last_cycle_ok", source="github") == 0
    assert value(telemetry, "okrsync_last_cycle_timestamp_seconds", source="jira") == 1.8e9
    assert telemetry.last_cycle == {"jira": (1.8e9, True), "github": (1.8e9, False)}


def test_counters_add_up_over_cycles(telemetry: Telemetry) -> None:
    telemetry.record_cycle(
        cycle(SourceOutcome("jira", items=PullCounts(pulled=3), comments=CommentCounts(created=1))),
        seconds=1,
    )
    telemetry.record_cycle(
        cycle(SourceOutcome("jira", items=PullCounts(pulled=4), comments=CommentCounts(created=1))),
        seconds=1,
    )
    assert value(telemetry, "okrsync_cycles_total", source="jira", result="ok") == 2
    assert value(telemetry, "okrsync_writebacks_total", source="jira", action="created") == 2
    assert value(telemetry, "okrsync_items", source="jira") == 4  # a gauge: the last cycle


def test_kr_gauges_follow_the_report(telemetry: Telemetry) -> None:
    result = cycle(SourceOutcome("jira"))
    telemetry.record_cycle(result, seconds=1)
    status = result.report.kr_status("ONB-1")

    assert value(telemetry, "okrsync_kr_progress", kr="ONB-1", kind="outcome") == 0.3
    assert value(telemetry, "okrsync_kr_progress", kr="ONB-1", kind="delivery") == 0.5
    assert value(telemetry, "okrsync_kr_progress", kr="ONB-1", kind="expected") == (
        pytest.approx(status.expected_progress)
    )
    assert value(telemetry, "okrsync_kr_health", kr="ONB-1", health=status.health.value) == 1
    others = [h for h in ("on_track", "at_risk", "off_track", "no_data") if h != status.health]
    for health in others:
        assert value(telemetry, "okrsync_kr_health", kr="ONB-1", health=health) == 0
    # No metric and no items: no progress to show, and health no_data.
    assert value(telemetry, "okrsync_kr_progress", kr="ONB-2", kind="outcome") is None
    assert value(telemetry, "okrsync_kr_progress", kr="ONB-2", kind="delivery") is None
    assert value(telemetry, "okrsync_kr_health", kr="ONB-2", health="no_data") == 1


def test_a_kr_removed_from_the_config_stops_being_exported(telemetry: Telemetry) -> None:
    telemetry.record_cycle(cycle(SourceOutcome("jira"), krs=("ONB-1", "ONB-2")), seconds=1)
    telemetry.record_cycle(cycle(SourceOutcome("jira"), krs=("ONB-2",)), seconds=1)
    exported = {dict(labels).get("kr") for _, labels in samples(telemetry)}
    assert "ONB-1" not in exported
    assert "ONB-2" in exported


def test_requests_retries_and_webhooks(telemetry: Telemetry) -> None:
    telemetry.record_request("jira", "get", 200)
    telemetry.record_request("jira", "GET", 200)
    telemetry.record_request("github", "PATCH", 403)
    telemetry.record_retry("github", 1.5)
    telemetry.record_retry("github", 2.5)
    telemetry.record_webhook("asana", 200)
    telemetry.record_webhook("github", 401)

    assert (
        value(telemetry, "okrsync_api_requests_total", source="jira", method="GET", status="200")
        == 2
    )
    assert (
        value(
            telemetry, "okrsync_api_requests_total", source="github", method="PATCH", status="403"
        )
        == 1
    )
    assert value(telemetry, "okrsync_retries_total", source="github") == 2
    assert value(telemetry, "okrsync_rate_limit_wait_seconds_total", source="github") == 4.0
    assert value(telemetry, "okrsync_webhooks_total", source="asana", status="200") == 1
    assert value(telemetry, "okrsync_webhooks_total", source="github", status="401") == 1


def test_render_gives_the_prometheus_text_format(telemetry: Telemetry) -> None:
    body, content_type = telemetry.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"# TYPE okrsync_cycles_total counter" in body


def test_each_telemetry_has_its_own_registry() -> None:
    first, second = Telemetry(), Telemetry()
    first.record_webhook("jira", 200)
    assert value(second, "okrsync_webhooks_total", source="jira", status="200") is None
    assert first.registry is not REGISTRY
    assert REGISTRY.get_sample_value("okrsync_webhooks_total") is None


def test_a_cycle_carries_the_connectors_request_and_retry_counts(telemetry: Telemetry) -> None:
    counter = RequestCounter()
    for method, status in (("GET", 200), ("GET", 200), ("GET", 429), ("PUT", 200)):
        counter.record(method, status)
    counter.record_wait(7.0)

    telemetry.record_cycle(cycle(SourceOutcome("jira", counter=counter)), seconds=1)

    requests = "okrsync_api_requests_total"
    assert value(telemetry, requests, source="jira", method="GET", status="200") == 2
    assert value(telemetry, requests, source="jira", method="GET", status="429") == 1
    assert value(telemetry, requests, source="jira", method="PUT", status="200") == 1
    assert value(telemetry, "okrsync_retries_total", source="jira") == 1
    assert value(telemetry, "okrsync_rate_limit_wait_seconds_total", source="jira") == 7.0


def test_per_source_counters_start_at_zero_before_any_cycle(telemetry: Telemetry) -> None:
    telemetry.register_sources(["jira", "github"])
    for source in ("jira", "github"):
        for result in ("ok", "failed"):
            assert value(telemetry, "okrsync_cycles_total", source=source, result=result) == 0
        for action in ("created", "edited", "skipped"):
            written = value(telemetry, "okrsync_writebacks_total", source=source, action=action)
            assert written == 0
        assert value(telemetry, "okrsync_retries_total", source=source) == 0
        assert value(telemetry, "okrsync_rate_limit_wait_seconds_total", source=source) == 0
    # Registering again (a reload) keeps what was counted.
    telemetry.record_cycle(
        cycle(SourceOutcome("jira", comments=CommentCounts(created=2))), seconds=1
    )
    telemetry.register_sources(["jira", "github"])
    assert value(telemetry, "okrsync_cycles_total", source="jira", result="ok") == 1
    assert value(telemetry, "okrsync_writebacks_total", source="jira", action="created") == 2


def test_mapping_problems_are_a_gauge_per_kind(telemetry: Telemetry) -> None:
    items = [
        work_item("ONB-10", labels=["okr:ONB-1"]),
        work_item("ONB-12", labels=["okr:ONB-9"]),  # no such KR: a typo
    ]
    objectives = [objective("ONB", key_result("ONB-1"))]
    typo = compute_report(Q4, objectives, items, [], Rules(), NOW)
    telemetry.record_cycle(CycleResult(typo, []), 0.1)
    assert value(telemetry, "okrsync_mapping_problems", kind="unknown_kr") == 1
    assert value(telemetry, "okrsync_mapping_problems", kind="cycle_in_parents") == 0

    telemetry.record_cycle(cycle(), 0.1)  # the label fixed: the gauge goes back to 0
    assert value(telemetry, "okrsync_mapping_problems", kind="unknown_kr") == 0

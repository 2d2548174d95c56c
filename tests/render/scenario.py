"""One small quarter, computed for real, that the render tests read back.

Q4 2026 runs 92 days; at NOW 50.6 of them have passed, so expected progress is 0.55.

ONB-1 (68% → 85%, weight 3): samples 68 (Oct 1) and 74 (Nov 15); a later sample on
    Dec 1 is after NOW and ignored. Outcome (74 − 68) / 17 = 0.353 ≥ 0.6 × 0.55 → at risk.
    Leaves: epic ONB-10 (okr:ONB-1) has ONB-11 done 3, ONB-12 done 3, ONB-13 in progress 1,
    ONB-14 to do (no points → 1); ONB-20 (label onboarding-completion) done 2.
    Delivery 8 / 10 = 0.8; 0.8 − 0.353 ≥ 0.4 → shipping_without_impact.
    Forecast: the line through (day 0, 68) and (day 45, 74) at day 92 = 68 + 6 × 92 / 45 = 80.27.
ONB-2 (14 → 5 days): samples 14 (Oct 1), 11 (Nov 1), 9 (Nov 20). Outcome 5 / 9 = 0.556
    ≥ 0.9 × 0.55 → on track. One leaf, github web#7, in progress: delivery 0, no flag.
    Forecast: least squares through days 0, 31, 50 → slope −127 / 1274, read at day 92: 4.85.
ONB score: (3 × 6/17 + 1 × 5/9) / 4 = 0.404 → at risk.
SEC-1 has no samples and no items: no data everywhere.
Unmapped: ONB-30 (label bug) and ONB-31 (okr:NOPE-9, an unknown KR). ONB-40 is closed as
not planned and counts nowhere although it carries okr:ONB-1.
"""

from __future__ import annotations

from dataclasses import replace

from factories import Q4, key_result, objective, sample, utc, work_item

from okrsync.domain import Bucket, Report, Rules, compute_report

NOW = utc(2026, 11, 20, 14, 24)

ONB_1 = replace(
    key_result("ONB-1", baseline=68, target=85, labels=["onboarding-completion"], weight=3),
    title="Increase onboarding completion rate from 68% to 85%",
    unit="%",
)
ONB_2 = replace(
    key_result("ONB-2", baseline=14, target=5),
    title="Cut time to first value from 14 to 5 days",
    unit="days",
)
SEC_1 = replace(key_result("SEC-1", baseline=20, target=60), unit="%")
ONB = replace(
    objective("ONB", ONB_1, ONB_2),
    title="Transform customer onboarding into a delightful experience",
)
SEC = objective("SEC", SEC_1)

ITEMS = [
    work_item("ONB-10", labels=["okr:ONB-1"], bucket=Bucket.IN_PROGRESS),
    work_item("ONB-11", parent="ONB-10", bucket=Bucket.DONE, points=3),
    work_item("ONB-12", parent="ONB-10", bucket=Bucket.DONE, points=3),
    work_item("ONB-13", parent="ONB-10", bucket=Bucket.IN_PROGRESS, points=1),
    work_item("ONB-14", parent="ONB-10", bucket=Bucket.TODO),
    work_item("ONB-20", labels=["Onboarding-Completion"], bucket=Bucket.DONE, points=2),
    work_item("web#7", labels=["kr/onb-2"], bucket=Bucket.IN_PROGRESS, source="github"),
    work_item("ONB-30", labels=["bug"]),
    work_item("ONB-31", labels=["okr:NOPE-9"]),
    work_item("ONB-40", labels=["okr:ONB-1"], bucket=Bucket.EXCLUDED, points=50),
]

SAMPLES = [
    sample("ONB-1", 68, utc(2026, 10, 1)),
    sample("ONB-1", 74, utc(2026, 11, 15)),
    sample("ONB-1", 99, utc(2026, 12, 1)),
    sample("onb-2", 14, utc(2026, 10, 1)),
    sample("ONB-2", 11, utc(2026, 11, 1)),
    sample("ONB-2", 9, utc(2026, 11, 20)),
]


def report() -> Report:
    return compute_report(Q4, [ONB, SEC], ITEMS, SAMPLES, Rules(), NOW)

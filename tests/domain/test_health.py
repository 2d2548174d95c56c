from __future__ import annotations

import pytest

from okrsync.domain import (
    SHIPPING_WITHOUT_IMPACT,
    Health,
    Rules,
    clamp01,
    flags_for,
    health_for,
    shipping_without_impact,
)

RULES = Rules()


class TestHealthFor:
    def test_no_progress_is_no_data(self) -> None:
        assert health_for(None, 0.5, RULES) is Health.NO_DATA

    @pytest.mark.parametrize(
        ("progress", "expected_health"),
        [
            (0.60, Health.ON_TRACK),  # above 0.9 × 0.55 = 0.495
            (0.495, Health.ON_TRACK),  # exactly on the threshold
            (0.40, Health.AT_RISK),  # between 0.33 and 0.495
            (0.33, Health.AT_RISK),  # exactly 0.6 × 0.55
            (0.32, Health.OFF_TRACK),
        ],
    )
    def test_thresholds_scale_with_expected_progress(
        self, progress: float, expected_health: Health
    ) -> None:
        assert health_for(progress, 0.55, RULES) is expected_health

    def test_design_example_is_at_risk(self) -> None:
        assert health_for(6 / 17, 0.55, RULES) is Health.AT_RISK

    def test_unclamped_progress_above_target_is_on_track(self) -> None:
        assert health_for(1.4, 1.0, RULES) is Health.ON_TRACK

    def test_before_the_cycle_any_non_negative_progress_is_on_track(self) -> None:
        assert health_for(0.0, 0.0, RULES) is Health.ON_TRACK
        assert health_for(-0.1, 0.0, RULES) is Health.OFF_TRACK

    def test_configured_thresholds(self) -> None:
        strict = Rules(on_track=1.0, at_risk=0.8)
        assert health_for(0.45, 0.5, strict) is Health.AT_RISK
        assert health_for(0.39, 0.5, strict) is Health.OFF_TRACK


def test_clamp01() -> None:
    assert [clamp01(x) for x in (-0.5, 0.0, 0.3, 1.0, 1.7)] == [0.0, 0.0, 0.3, 1.0, 1.0]


class TestShippingWithoutImpact:
    def test_design_example_is_flagged(self) -> None:
        assert flags_for(0.8, 6 / 17, RULES) == (SHIPPING_WITHOUT_IMPACT,)

    def test_divergence_exactly_at_threshold_despite_float_error(self) -> None:
        assert shipping_without_impact(0.8, 0.4, RULES)
        # 0.7 - 0.3 == 0.39999999999999997 in binary floating point.
        assert 0.7 - 0.3 < 0.4
        assert shipping_without_impact(0.7, 0.3, RULES)

    def test_just_below_threshold_is_not_flagged(self) -> None:
        assert not shipping_without_impact(0.79, 0.4, RULES)

    def test_unknown_delivery_or_outcome_is_not_flagged(self) -> None:
        assert flags_for(1.0, None, RULES) == ()
        assert flags_for(None, 0.0, RULES) == ()

    def test_outcome_is_clamped_before_comparing(self) -> None:
        assert not shipping_without_impact(1.0, 1.5, RULES)
        # Moving away from target counts as 0, not as a bigger gap.
        assert shipping_without_impact(0.4, -2.0, RULES)
        assert not shipping_without_impact(0.39, -2.0, RULES)

    def test_configured_divergence(self) -> None:
        assert shipping_without_impact(0.5, 0.3, Rules(divergence=0.2))
        assert not shipping_without_impact(0.5, 0.3, RULES)

"""`check_labels`: bare labels (no items) classified by the mapping's own rule."""

from __future__ import annotations

from factories import key_result, objective

from okrsync.domain import KRIndex, LabelCheck, LabelMatch, Rules, check_labels

OBJECTIVES = [
    objective("ONB", key_result("ONB-1", labels=["onboarding-completion"]), key_result("ONB-2")),
    objective("PLAT", key_result("PLAT-7", labels=["kr-platform", "Platform"])),
]
INDEX = KRIndex.from_objectives(OBJECTIVES)


def test_kr_labels_with_their_krs_and_rules_others_left_out_sorted_case_insensitively() -> None:
    labels = {"okr:ONB-1", "bug", "KR/onb-2", "onboarding-completion", "points:3", "kr-platform"}

    assert check_labels(labels, INDEX, Rules()) == (
        # Matches the pattern (kr group "platform"), but is PLAT-7's explicit label: known.
        LabelCheck("kr-platform", (LabelMatch("kr-platform", "PLAT-7", "labels"),)),
        LabelCheck("KR/onb-2", (LabelMatch("KR/onb-2", "ONB-2", "label_pattern"),)),
        LabelCheck("okr:ONB-1", (LabelMatch("okr:ONB-1", "ONB-1", "label_pattern"),)),
        LabelCheck(
            "onboarding-completion", (LabelMatch("onboarding-completion", "ONB-1", "labels"),)
        ),
    )


def test_a_label_naming_no_kr_with_the_same_suggestion_as_the_unknown_kr_problem() -> None:
    checks = check_labels(["okr:ONB1", "okr:ONB-9", "kr:NOPE"], INDEX, Rules())

    assert [(c.label, c.unknown, c.suggestion, c.kr_ids) for c in checks] == [
        ("kr:NOPE", "NOPE", None, ()),
        ("okr:ONB-9", "ONB-9", None, ()),  # ONB-1 and ONB-2 are equally close: no guess
        ("okr:ONB1", "ONB1", "ONB-1", ()),
    ]


def test_the_configured_pattern_decides_what_a_kr_label_is() -> None:
    rules = Rules(label_pattern=r"^goal=(?P<kr>.+)$")

    checks = check_labels(["okr:ONB-1", "goal=onb-2", "goal=PLAT7", "Platform"], INDEX, rules)

    assert [(c.label, c.kr_ids, c.unknown) for c in checks] == [
        ("goal=onb-2", ("ONB-2",), None),
        ("goal=PLAT7", (), "PLAT7"),
        ("Platform", ("PLAT-7",), None),
    ]

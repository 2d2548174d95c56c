from __future__ import annotations

from factories import key_result, mapped, objective, utc, work_item

from okrsync.domain import (
    Bucket,
    ItemRef,
    KRIndex,
    Rules,
    break_parent_cycles,
    effective_bucket,
    kr_ids_for_labels,
    leaves_by_kr,
    subtree_leaves,
    unmapped_items,
)

ONB = objective(
    "ONB",
    key_result("ONB-1", labels=["onboarding-completion"]),
    key_result("ONB-2"),
)
INDEX = KRIndex.from_objectives([ONB])
RULES = Rules()


def ref(key: str, source: str = "jira") -> ItemRef:
    return ItemRef(source, key)


def leaf_keys(leaves: object) -> list[str]:
    assert isinstance(leaves, tuple)
    return [entry.item.key for entry in leaves]


# --------------------------------------------------------------------------- buckets


class TestEffectiveBucket:
    def test_native_bucket_without_overrides(self) -> None:
        assert effective_bucket(work_item("A", bucket=Bucket.DONE), RULES) is Bucket.DONE

    def test_status_override_is_case_insensitive(self) -> None:
        rules = Rules(status_buckets={"In Review": Bucket.DONE})
        item = work_item("A", status="in review", bucket=Bucket.IN_PROGRESS)
        assert effective_bucket(item, rules) is Bucket.DONE

    def test_label_override_is_case_insensitive(self) -> None:
        rules = Rules(label_buckets={"blocked": Bucket.TODO})
        item = work_item("A", labels=["Blocked"], bucket=Bucket.IN_PROGRESS)
        assert effective_bucket(item, rules) is Bucket.TODO

    def test_label_override_wins_over_status_override(self) -> None:
        rules = Rules(
            status_buckets={"In Review": Bucket.DONE}, label_buckets={"blocked": Bucket.TODO}
        )
        item = work_item("A", status="In Review", labels=["blocked"])
        assert effective_bucket(item, rules) is Bucket.TODO

    def test_several_label_overrides_first_in_config_order_wins(self) -> None:
        rules = Rules(label_buckets={"shipped": Bucket.DONE, "blocked": Bucket.TODO})
        item = work_item("A", labels=["blocked", "shipped"], bucket=Bucket.IN_PROGRESS)
        assert effective_bucket(item, rules) is Bucket.DONE

    def test_override_can_exclude(self) -> None:
        rules = Rules(label_buckets={"wontfix": Bucket.EXCLUDED})
        assert effective_bucket(work_item("A", labels=["wontfix"]), rules) is Bucket.EXCLUDED


# --------------------------------------------------------------------------- labels


class TestLabels:
    def test_pattern_label_maps_case_insensitively(self) -> None:
        assert kr_ids_for_labels(["OKR:onb-1"], INDEX, RULES) == {"ONB-1"}

    def test_pattern_accepts_each_separator_and_prefix(self) -> None:
        for label in ["okr:ONB-2", "kr/onb-2", "Kr-Onb-2"]:
            assert kr_ids_for_labels([label], INDEX, RULES) == {"ONB-2"}, label

    def test_surrounding_whitespace_is_ignored(self) -> None:
        assert kr_ids_for_labels(["  okr:onb-1 "], INDEX, RULES) == {"ONB-1"}

    def test_explicit_label_maps_case_insensitively(self) -> None:
        assert kr_ids_for_labels(["Onboarding-Completion"], INDEX, RULES) == {"ONB-1"}

    def test_label_naming_unknown_kr_maps_to_nothing(self) -> None:
        assert kr_ids_for_labels(["okr:SEC-9"], INDEX, RULES) == frozenset()

    def test_label_not_matching_pattern_maps_to_nothing(self) -> None:
        assert kr_ids_for_labels(["onb-1", "bug", "okr:"], INDEX, RULES) == frozenset()

    def test_labels_for_two_krs(self) -> None:
        labels = ["okr:onb-2", "onboarding-completion", "frontend"]
        assert kr_ids_for_labels(labels, INDEX, RULES) == {"ONB-1", "ONB-2"}

    def test_one_explicit_label_shared_by_two_krs(self) -> None:
        shared = objective(
            "X", key_result("X-1", labels=["growth"]), key_result("X-2", labels=["GROWTH"])
        )
        index = KRIndex.from_objectives([shared])
        assert kr_ids_for_labels(["growth"], index, RULES) == {"X-1", "X-2"}

    def test_custom_pattern(self) -> None:
        rules = Rules(label_pattern=r"^goal=(?P<kr>.+)$")
        assert kr_ids_for_labels(["GOAL=onb-1", "okr:onb-2"], INDEX, rules) == {"ONB-1"}

    def test_pattern_without_kr_group_maps_nothing(self) -> None:
        rules = Rules(label_pattern=r"^okr:.+$")
        assert kr_ids_for_labels(["okr:onb-1"], INDEX, rules) == frozenset()


# --------------------------------------------------------------------------- the tree


class TestMapItems:
    def test_direct_and_effective_kr_ids(self) -> None:
        result = mapped([work_item("A", labels=["okr:onb-1"])], [ONB])
        entry = result.items[ref("A")]
        assert entry.direct_kr_ids == {"ONB-1"}
        assert entry.kr_ids == {"ONB-1"}

    def test_child_and_grandchild_inherit_ancestors_krs(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("STORY", parent="EPIC", labels=["okr:onb-2"]),
            work_item("TASK", parent="STORY"),
        ]
        result = mapped(items, [ONB])
        assert result.items[ref("STORY")].direct_kr_ids == {"ONB-2"}
        assert result.items[ref("STORY")].kr_ids == {"ONB-1", "ONB-2"}
        assert result.items[ref("TASK")].direct_kr_ids == frozenset()
        assert result.items[ref("TASK")].kr_ids == {"ONB-1", "ONB-2"}

    def test_no_inheritance_when_disabled(self) -> None:
        items = [work_item("EPIC", labels=["okr:onb-1"]), work_item("STORY", parent="EPIC")]
        result = mapped(items, [ONB], Rules(inherit_from_parent=False))
        assert result.items[ref("STORY")].kr_ids == frozenset()
        # The tree is still known: the epic keeps its child.
        assert result.children[ref("EPIC")] == (ref("STORY"),)

    def test_excluded_items_are_dropped_and_are_nobodys_children(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("GONE", parent="EPIC", bucket=Bucket.EXCLUDED),
        ]
        result = mapped(items, [ONB])
        assert ref("GONE") not in result.items
        assert ref("EPIC") not in result.children

    def test_children_of_an_excluded_item_have_no_parent(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"], bucket=Bucket.EXCLUDED),
            work_item("STORY", parent="EPIC"),
        ]
        entry = mapped(items, [ONB]).items[ref("STORY")]
        assert entry.parent is None
        assert entry.kr_ids == frozenset()

    def test_unknown_parent_is_no_parent(self) -> None:
        entry = mapped([work_item("STORY", parent="MISSING")], [ONB]).items[ref("STORY")]
        assert entry.parent is None

    def test_parent_key_resolves_within_the_same_source(self) -> None:
        items = [
            work_item("1", source="github", labels=["okr:onb-1"]),
            work_item("2", source="asana", parent="1"),
        ]
        assert mapped(items, [ONB]).items[ref("2", "asana")].parent is None

    def test_parent_cycle_terminates_and_is_cut_at_smallest_ref(self) -> None:
        items = [
            work_item("A", parent="B", labels=["okr:onb-1"]),
            work_item("B", parent="A"),
            work_item("C", parent="C"),
        ]
        result = mapped(items, [ONB])
        assert result.items[ref("A")].parent is None
        assert result.items[ref("B")].parent == ref("A")
        assert result.items[ref("C")].parent is None
        assert result.items[ref("B")].kr_ids == {"ONB-1"}

    def test_duplicate_key_keeps_most_recently_updated(self) -> None:
        old = work_item("A", labels=["okr:onb-1"], updated=utc(2026, 10, 1))
        new = work_item("A", labels=["okr:onb-2"], updated=utc(2026, 10, 2))
        for order in ([old, new], [new, old]):
            assert mapped(order, [ONB]).items[ref("A")].kr_ids == {"ONB-2"}

    def test_effective_bucket_is_recorded(self) -> None:
        rules = Rules(status_buckets={"Shipped": Bucket.DONE})
        result = mapped([work_item("A", status="Shipped")], [ONB], rules)
        assert result.items[ref("A")].bucket is Bucket.DONE


def test_break_parent_cycles_leaves_a_forest_untouched() -> None:
    parents = {ref("A"): None, ref("B"): ref("A"), ref("C"): ref("B")}
    assert break_parent_cycles(parents) == parents


# --------------------------------------------------------------------------- leaves


class TestLeaves:
    def test_epic_with_children_is_rolled_up_and_does_not_count_itself(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("S1", parent="EPIC"),
            work_item("S2", parent="EPIC"),
        ]
        assert leaf_keys(leaves_by_kr(mapped(items, [ONB]))["ONB-1"]) == ["S1", "S2"]

    def test_item_without_children_counts_as_itself(self) -> None:
        leaves = leaves_by_kr(mapped([work_item("EPIC", labels=["okr:onb-1"])], [ONB]))
        assert leaf_keys(leaves["ONB-1"]) == ["EPIC"]

    def test_epic_counts_itself_when_its_children_are_not_mapped_to_it(self) -> None:
        items = [work_item("EPIC", labels=["okr:onb-1"]), work_item("S1", parent="EPIC")]
        leaves = leaves_by_kr(mapped(items, [ONB], Rules(inherit_from_parent=False)))
        assert leaf_keys(leaves["ONB-1"]) == ["EPIC"]

    def test_leaves_are_per_kr(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("S1", parent="EPIC", labels=["okr:onb-2"]),
            work_item("S2", parent="EPIC"),
        ]
        leaves = leaves_by_kr(mapped(items, [ONB]))
        assert leaf_keys(leaves["ONB-1"]) == ["S1", "S2"]
        assert leaf_keys(leaves["ONB-2"]) == ["S1"]

    def test_item_in_two_krs_is_a_leaf_of_both(self) -> None:
        leaves = leaves_by_kr(mapped([work_item("A", labels=["okr:onb-1", "okr:onb-2"])], [ONB]))
        assert leaf_keys(leaves["ONB-1"]) == ["A"]
        assert leaf_keys(leaves["ONB-2"]) == ["A"]

    def test_grandchildren_are_the_leaves(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("STORY", parent="EPIC"),
            work_item("T1", parent="STORY"),
            work_item("T2", parent="STORY"),
            work_item("S2", parent="EPIC"),
        ]
        assert leaf_keys(leaves_by_kr(mapped(items, [ONB]))["ONB-1"]) == ["S2", "T1", "T2"]

    def test_excluded_child_does_not_make_its_parent_a_non_leaf(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("GONE", parent="EPIC", bucket=Bucket.EXCLUDED),
        ]
        assert leaf_keys(leaves_by_kr(mapped(items, [ONB]))["ONB-1"]) == ["EPIC"]

    def test_subtree_leaves(self) -> None:
        items = [
            work_item("EPIC"),
            work_item("STORY", parent="EPIC"),
            work_item("T1", parent="STORY"),
            work_item("S2", parent="EPIC"),
            work_item("OTHER"),
        ]
        result = mapped(items, [ONB])
        assert leaf_keys(subtree_leaves(result, ref("EPIC"))) == ["S2", "T1"]
        assert leaf_keys(subtree_leaves(result, ref("OTHER"))) == ["OTHER"]


def test_unmapped_counts_any_level_but_not_excluded() -> None:
    items = [
        work_item("EPIC"),
        work_item("STORY", parent="EPIC"),
        work_item("MAPPED", labels=["okr:onb-1"]),
        work_item("INHERITS", parent="MAPPED"),
        work_item("GONE", bucket=Bucket.EXCLUDED),
    ]
    assert sorted(e.item.key for e in unmapped_items(mapped(items, [ONB]))) == ["EPIC", "STORY"]

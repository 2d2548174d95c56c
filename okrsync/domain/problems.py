"""Problems found while mapping: what an admin most likely wants to fix in labels or links.

Every check reads the same mapped items as the report (excluded items are dropped
first, parents are the effective ones: present, not excluded, cycles cut), so a
problem always names something that changes the numbers the report shows.

- `unknown_kr`: a label matches `label_pattern`, but the KR its `kr` group names is
  not configured, and the label is not one of any KR's explicit `labels` either. It
  maps to nothing, which is almost always a typo. The detail suggests a KR id ("did
  you mean ONB-1?") when exactly one configured id is nearest to the named one and
  within edit distance 2 (Damerau-Levenshtein, optimal string alignment,
  case-insensitive): `ONB1` suggests ONB-1 even with ONB-2 at distance 2, but `ONB-3`
  suggests nothing when ONB-1 and ONB-2 are both at distance 1; no guess between two.
- `kr_label_on_child_only`: an item carries, by its own labels, a KR that its parent
  does not map to, while that parent maps to some other KR. (A parent that maps to
  nothing is the normal case: its labelled children are top-level themselves.)
  "Maps to" is the parent's full set of KRs, its own labels plus, with
  `inherit_from_parent`, what it inherits. Why it matters: with inheritance the child
  also counts toward the parent's KRs, so its weight moves KRs the label did not
  name; and under `writeback.targets: top_level` the child is not a target (its parent
  is mapped) while the parent's comment does not list the child's KR, so no managed
  comment anywhere shows that KR for that work. One problem per (item, KR).
- `cycle_in_parents`: parent links forming a cycle (an item its own ancestor). The
  mapping cuts each cycle at its smallest member (by source, then key), which then
  counts as top-level. One problem per cycle, reported on that member.

`check_labels` applies the `unknown_kr` rule to bare labels, before any item is pulled
(`okrsync validate --check-labels`): each KR label in use with the KRs it maps to, or the
KR it names in vain and the suggestion, by the same functions as the mapping and
`unknown_kr` above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from okrsync.domain.mapping import (
    KRIndex,
    LabelMatch,
    MappedItem,
    MappedItems,
    kr_ids_for_label,
    label_matches,
    pattern_kr,
)
from okrsync.domain.models import PROBLEM_KINDS, ItemRef, Problem, ProblemKind, Rules

SUGGESTION_DISTANCE = 2


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): insertions, deletions,
    substitutions and swaps of two adjacent characters each cost 1."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def suggest_kr(named: str, kr_ids: Iterable[str]) -> str | None:
    """The KR id closest to `named` (case-insensitive) when it is within edit distance 2
    and no other KR id is as close; None otherwise, rather than a guess between two."""
    folded = named.strip().casefold()
    distances = {kr_id: edit_distance(folded, kr_id.casefold()) for kr_id in set(kr_ids)}
    close = {kr_id: d for kr_id, d in distances.items() if d <= SUGGESTION_DISTANCE}
    if not close:
        return None
    best = min(close.values())
    nearest = [kr_id for kr_id, d in close.items() if d == best]
    return nearest[0] if len(nearest) == 1 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def unknown_kr_named(label: str, index: KRIndex, rules: Rules) -> str | None:
    """The KR `label` names through `label_pattern` when that is no configured KR and the
    label is no KR's explicit label either (it maps to nothing); None otherwise."""
    named = pattern_kr(label, rules)
    if named is None or index.canonical_id(named) is not None:
        return None
    if kr_ids_for_label(label, index, rules):
        return None  # an explicit label of some KR that happens to match the pattern too
    return named


@dataclass(frozen=True, slots=True)
class LabelCheck:
    """One KR label, classified against the configured KRs by the mapping's rule: the KRs
    it maps to (`matches`, each with its rule), or, when it maps to nothing, the KR it
    names (`unknown`) and the nearest configured id (`suggestion`, see `suggest_kr`)."""

    label: str
    matches: tuple[LabelMatch, ...] = ()
    unknown: str | None = None
    suggestion: str | None = None

    @property
    def kr_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(match.kr_id for match in self.matches))


def check_label(label: str, index: KRIndex, rules: Rules) -> LabelCheck | None:
    """`label` classified, or None when it is no KR label at all (it neither maps to a KR
    nor matches `label_pattern`)."""
    matches = label_matches(label, index, rules)
    if matches:
        return LabelCheck(label, matches)
    named = unknown_kr_named(label, index, rules)
    if named is None:
        return None
    return LabelCheck(label, unknown=named, suggestion=suggest_kr(named, index.ids.values()))


def check_labels(labels: Iterable[str], index: KRIndex, rules: Rules) -> tuple[LabelCheck, ...]:
    """The KR labels among `labels` (each once), classified, sorted case-insensitively."""
    ordered = sorted(set(labels), key=lambda label: (label.casefold(), label))
    checked = (check_label(label, index, rules) for label in ordered)
    return tuple(check for check in checked if check is not None)


def unknown_kr_detail(check: LabelCheck) -> str:
    """The `unknown_kr` problem's detail for a label that names no configured KR."""
    named = _one_line(check.unknown or "")
    detail = f"label {_one_line(check.label)} names {named}, which is not a configured KR"
    if check.suggestion is not None:
        detail += f"; did you mean {check.suggestion}?"
    return detail


def unknown_kr_problems(mapped: MappedItems, index: KRIndex, rules: Rules) -> list[Problem]:
    details: dict[str, str | None] = {}  # label → its problem's detail; labels repeat a lot
    found: dict[tuple[str, ...], list[str]] = {}  # labels → their problems' details
    for labels in set(map(_labels_of, mapped.items.values())):
        for label in labels:
            if label not in details:
                check = check_label(label, index, rules)
                unknown = check is not None and check.unknown is not None
                details[label] = unknown_kr_detail(check) if check and unknown else None
        named = [detail for label in labels if (detail := details[label]) is not None]
        if named:
            found[labels] = named
    if not found:  # most often: then no item needs a look
        return []
    return [
        Problem(ref, "unknown_kr", detail)
        for ref, entry in mapped.items.items()
        for detail in found.get(entry.item.labels, ())
    ]


_labels_of = attrgetter("item.labels")


def _labels_naming(entry: MappedItem, kr_id: str, index: KRIndex, rules: Rules) -> list[str]:
    return [label for label in entry.item.labels if kr_id in kr_ids_for_label(label, index, rules)]


def child_only_problems(mapped: MappedItems, index: KRIndex, rules: Rules) -> list[Problem]:
    problems: list[Problem] = []
    # Most items carry no KR of their own: no look-up of their parent.
    for entry in [entry for entry in mapped.items.values() if entry.direct_kr_ids]:
        if entry.parent is None:
            continue
        parent = mapped.items[entry.parent]
        # Most children carry no KR of their own beyond their parent's: nothing to sort.
        own = entry.direct_kr_ids - parent.kr_ids if parent.kr_ids else None
        if not own:
            continue
        parent_krs = ", ".join(sorted(parent.kr_ids))
        for kr_id in sorted(own):
            naming = [_one_line(label) for label in _labels_naming(entry, kr_id, index, rules)]
            labels = (
                f"label {naming[0]} maps"
                if len(naming) == 1
                else (f"labels {', '.join(naming)} map")
            )
            detail = f"{labels} it to {kr_id}, but its parent {entry.parent} maps to {parent_krs}"
            if rules.inherit_from_parent:
                detail += f" only; by inheritance it counts toward {parent_krs} too"
            else:
                detail += " only"
            problems.append(Problem(entry.ref, "kr_label_on_child_only", detail))
    return problems


def cycle_problems(cycles: Sequence[Sequence[ItemRef]]) -> list[Problem]:
    problems: list[Problem] = []
    for cycle in cycles:
        if len(cycle) == 1:
            detail = f"{cycle[0]} is its own parent; it counts as top-level"
        else:
            chain = " → ".join(str(ref) for ref in (*cycle, cycle[0]))
            detail = f"parent links form a cycle {chain}; {cycle[0]} counts as top-level"
        problems.append(Problem(cycle[0], "cycle_in_parents", detail))
    return problems


def mapping_problems(mapped: MappedItems, index: KRIndex, rules: Rules) -> tuple[Problem, ...]:
    """Every problem of the mapping, deduplicated, sorted by item, kind and detail."""
    found = {
        *unknown_kr_problems(mapped, index, rules),
        *child_only_problems(mapped, index, rules),
        *cycle_problems(mapped.cycles),
    }
    return tuple(sorted(found, key=lambda problem: problem.sort_key))


def problem_counts(problems: Iterable[Problem]) -> dict[ProblemKind, int]:
    """How many problems of each kind, every kind present (0 when none): what a gauge
    labelled by kind exports, so a fixed problem drops to 0 instead of lingering."""
    counts: dict[ProblemKind, int] = dict.fromkeys(PROBLEM_KINDS, 0)
    for problem in problems:
        counts[problem.kind] += 1
    return counts


def problems_summary(problems: Sequence[Problem]) -> str:
    """One line for `sync`: "mapping problems: none" or the total and the count per kind."""
    if not problems:
        return "mapping problems: none"
    counts: Mapping[ProblemKind, int] = problem_counts(problems)
    per_kind = ", ".join(f"{kind} {count}" for kind, count in counts.items() if count)
    return (
        f"mapping problems: {len(problems)} ({per_kind}); "
        "see `okrsync status --format json` (problems)"
    )

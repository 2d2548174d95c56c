"""The sandbox's JQL: parsing, Jira's evaluation rules, Jira's error messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from okrsync_sandbox._jql import (
    EMPTY,
    And,
    Clause,
    JqlError,
    JqlField,
    JqlValueError,
    Not,
    Or,
    SortKey,
    Value,
    compile_jql,
    jql_date,
    parse_jql,
)

NOW = datetime(2026, 11, 24, 10, 0, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    key: str
    labels: tuple[str, ...] = ()
    points: float | None = None


def known_key(text: str) -> str:
    if text not in {"A-1", "A-2", "A-3"}:
        raise JqlValueError(f"An issue with key '{text}' does not exist for field 'key'.")
    return text


FIELDS: dict[str, JqlField[Item]] = {
    "key": JqlField("key", lambda i: [i.key], known_key, sort_key=lambda i: i.key),
    "labels": JqlField("labels", lambda i: list(i.labels), str),
    "points": JqlField(
        "points",
        lambda i: [] if i.points is None else [i.points],
        float,
        operators=frozenset({"=", ">", ">=", "<", "<=", "is", "is not"}),
        sort_key=lambda i: (i.points is None, i.points or 0),
    ),
}
ITEMS = [Item("A-1", ("x",), 3), Item("A-2", ("y",), None), Item("A-3", (), 1)]


def select(jql: str) -> list[str]:
    compiled = compile_jql(parse_jql(jql), FIELDS)
    return [i.key for i in compiled.sort([i for i in ITEMS if compiled.matches(i)], default=[])]


def test_and_binds_tighter_than_or_and_not_applies_to_one_clause() -> None:
    query = parse_jql("key = A-1 OR key = A-2 AND NOT labels = x")
    assert query.where == Or(
        (
            Clause("key", "=", Value("A-1", 7), 1),
            And(
                (
                    Clause("key", "=", Value("A-2", 20), 14),
                    Not(Clause("labels", "=", Value("x", 41), 32)),
                )
            ),
        )
    )


def test_parses_lists_quotes_custom_fields_empty_and_order_by() -> None:
    query = parse_jql(
        r'(labels in ("a b", "say \"hi\"") or cf[10014] is not EMPTY) '
        "order by updated desc, key"
    )
    assert isinstance(query.where, Or)
    labels, epic = query.where.parts
    assert isinstance(labels, Clause) and isinstance(epic, Clause)
    assert [v.text for v in labels.operand] == ["a b", 'say "hi"']  # type: ignore[union-attr]
    assert (epic.field, epic.operator, epic.operand) == ("cf[10014]", "is not", EMPTY)
    assert query.order_by == (SortKey("updated", True), SortKey("key", False))


def test_evaluates_like_jira() -> None:
    assert select("labels = x OR labels = y ORDER BY key DESC") == ["A-2", "A-1"]
    assert select("labels != x") == ["A-2"]  # `!=` never matches an empty field
    assert select("labels is EMPTY") == ["A-3"]
    assert select("points > 1 ORDER BY points") == ["A-1"]
    assert select("key not in (A-1) ORDER BY points") == ["A-3", "A-2"]  # empty sorts last
    assert select("NOT (key = A-1 OR key = A-2)") == ["A-3"]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("key = 'A-1", "The quoted string 'A-1' has not been completed. (line 1, character 7)"),
        ("key A-1", "Expecting operator but got 'A-1'."),
        ("key = A-1 labels = x", "Expecting either 'OR' or 'AND' but got 'labels'."),
        ("key in A-1", "Expecting '(' but got 'A-1'."),
        ("key = currentUser()", "Unable to find JQL function 'currentUser()'."),
        ("key = a@b", "The character '@' is a reserved JQL character."),
        ("key = (A-1", "Expecting ')' but reached the end of the query."),
        ("nope = 1", "Field 'nope' does not exist or you do not have permission to view it."),
        ("labels > x", "The operator '>' is not supported by the 'labels' field."),
        ("key = A-9", "An issue with key 'A-9' does not exist for field 'key'."),
        ("labels = x ORDER BY labels", "Field 'labels' does not support sorting."),
    ],
)
def test_refuses_with_jira_messages(jql: str, message: str) -> None:
    with pytest.raises(JqlError) as refused:
        select(jql)
    assert message in str(refused.value)


def test_lenient_mode_turns_unknown_values_into_warnings() -> None:
    compiled = compile_jql(parse_jql("key in (A-1, A-9)"), FIELDS, lenient=True)
    assert compiled.warnings == ("An issue with key 'A-9' does not exist for field 'key'.",)
    assert [i.key for i in ITEMS if compiled.matches(i)] == ["A-1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1795514445123", datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),  # epoch ms, 10:00:45
        ("2026-11-24 09:15", datetime(2026, 11, 24, 9, 15, tzinfo=UTC)),
        ("2026/11/24", datetime(2026, 11, 24, tzinfo=UTC)),
        ("-1d", datetime(2026, 11, 23, 10, 0, tzinfo=UTC)),
        ("-1w 2d", datetime(2026, 11, 15, 10, 0, tzinfo=UTC)),
    ],
)
def test_dates_are_read_in_utc_at_minute_precision(text: str, expected: datetime) -> None:
    assert jql_date(text, "updated", NOW) == expected


def test_a_date_that_is_not_one_is_refused() -> None:
    with pytest.raises(JqlError, match="Date value 'soon' for field 'updated' is invalid"):
        jql_date("soon", "updated", NOW)

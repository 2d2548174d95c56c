"""Refuse user regexes that can backtrack catastrophically (ReDoS).

Python's `re` backtracks: `(a+)+$` against "aaaa…b" takes time exponential in the
length of the label. A label comes from Jira, GitHub or Asana, that is, from anyone who
may label an issue, so a config pattern must not hold such a construction. The check
walks the parsed pattern (`re._parser`, the former `sre_parse`) and refuses:

- a repeat inside a repeat whose body has a variable length: `(a+)+`, `(a*)*`,
  `(.*a){2,}`, `(\\w+\\s?)+`;
- a repeat over alternatives that can start with the same character: `(a|a)*`,
  `(a|ab)+`, `(\\w|\\d)+`.

It is conservative (some harmless patterns are refused too) and every refusal says why.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# The parser behind `re` (the former `sre_parse`), not part of the typed stub.
_sre: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")

_REPEATS = {
    _c.MAX_REPEAT,
    _c.MIN_REPEAT,
    *([_c.POSSESSIVE_REPEAT] if hasattr(_c, "POSSESSIVE_REPEAT") else []),
}
_POSSESSIVE = getattr(_c, "POSSESSIVE_REPEAT", None)
_ALPHABET = range(256)  # first characters are compared over Latin-1: enough to see overlap
_ANY_CHAR = frozenset(_ALPHABET)
_CATEGORY_PATTERNS = {
    _c.CATEGORY_DIGIT: r"\d",
    _c.CATEGORY_NOT_DIGIT: r"\D",
    _c.CATEGORY_SPACE: r"\s",
    _c.CATEGORY_NOT_SPACE: r"\S",
    _c.CATEGORY_WORD: r"\w",
    _c.CATEGORY_NOT_WORD: r"\W",
}


def backtracking_problem(pattern: str, flags: int = re.IGNORECASE) -> str | None:
    """Why `pattern` may backtrack catastrophically, or None when it looks linear."""
    try:
        parsed = _sre.parse(pattern, flags)
    except Exception:  # compile errors are reported by the caller
        return None
    return _walk(list(parsed.data), flags)


def _walk(items: list[tuple[Any, Any]], flags: int) -> str | None:
    for op, av in items:
        for sub in _children(op, av):
            found = _walk(sub, flags)
            if found:
                return found
        if op in _REPEATS and op != _POSSESSIVE:
            low, high, body = av
            body_items = list(body.data) if hasattr(body, "data") else list(body)
            if high is not _c.MAXREPEAT and high <= 1:
                continue
            low_w, high_w = _width(body_items, body.state)
            if low_w != high_w and _contains_repeat(body_items):
                return "a repeated group holds another repeat (nested quantifiers such as (a+)+)"
            if _overlapping_branch(body_items, flags):
                return (
                    "a repeated group has alternatives that can match the same text "
                    "(such as (a|a)* or (a|ab)+)"
                )
    return None


def _width(items: list[tuple[Any, Any]], state: Any = None) -> tuple[int, int]:
    """The shortest and longest match of a sequence; "anything" when it cannot be told."""
    try:
        low, high = _sre.SubPattern(state or _sre.State(), items).getwidth()
        return int(low), int(high)
    except Exception:
        return 0, int(_c.MAXREPEAT)


def _children(op: Any, av: Any) -> list[list[tuple[Any, Any]]]:
    """The sub-sequences of one parsed item."""
    if op in _REPEATS:
        return [list(av[2].data)]
    if op is _c.SUBPATTERN:
        return [list(av[-1].data)]
    if op is _c.BRANCH:
        return [list(branch.data) for branch in av[1]]
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        return [list(av[1].data)]
    if hasattr(_c, "ATOMIC_GROUP") and op is _c.ATOMIC_GROUP:
        return [list(av.data)]
    if op is _c.GROUPREF_EXISTS:
        return [list(part.data) for part in av[1:] if part is not None]
    return []


def _contains_repeat(items: list[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op in _REPEATS:
            high = av[1]
            if high is _c.MAXREPEAT or high > 1:
                return True
        if any(_contains_repeat(sub) for sub in _children(op, av)):
            return True
    return False


def _overlapping_branch(items: list[tuple[Any, Any]], flags: int) -> bool:
    """Whether the body holds alternatives whose first characters overlap (the parser
    factors out common prefixes: `(a|ab)` arrives as `a(?:|b)`, with an empty branch)."""
    for op, av in items:
        if op is _c.BRANCH:
            seen: set[int] = set()
            for branch in av[1]:
                first = _first_chars(list(branch.data), flags)
                if seen & first:
                    return True
                seen |= first
        if any(_overlapping_branch(sub, flags) for sub in _children(op, av)):
            return True
    return False


def _first_chars(items: list[tuple[Any, Any]], flags: int) -> frozenset[int]:
    """The characters (of Latin-1) a sequence can start with; all of them when unsure."""
    found: set[int] = set()
    for op, av in items:
        if op is _c.AT:
            continue  # anchors match no character
        first = _item_first(op, av, flags)
        found |= first
        if _width([(op, av)])[0] > 0:
            return frozenset(found)
    return _ANY_CHAR  # the whole sequence may match nothing: anything may follow


def _item_first(op: Any, av: Any, flags: int) -> frozenset[int]:
    try:
        if op is _c.LITERAL:
            return _folded({av}, flags)
        if op is _c.NOT_LITERAL:
            return _ANY_CHAR - _folded({av}, flags)
        if op is _c.ANY:
            return _ANY_CHAR - {ord("\n")}
        if op is _c.IN:
            return _in_set(av, flags)
        if op in _REPEATS:
            return _first_chars(list(av[2].data), flags)
        if op is _c.SUBPATTERN:
            return _first_chars(list(av[-1].data), flags)
        if op is _c.BRANCH:
            return frozenset().union(*(_first_chars(list(b.data), flags) for b in av[1]))
    except Exception:
        return _ANY_CHAR
    return _ANY_CHAR


def _folded(codes: set[int], flags: int) -> frozenset[int]:
    if not flags & re.IGNORECASE:
        return frozenset(codes)
    out = set(codes)
    for code in codes:
        char = chr(code)
        out |= {ord(c) for c in (char.lower(), char.upper()) if len(c) == 1}
    return frozenset(out)


def _in_set(items: list[tuple[Any, Any]], flags: int) -> frozenset[int]:
    negate = False
    chars: set[int] = set()
    for op, av in items:
        if op is _c.NEGATE:
            negate = True
        elif op is _c.LITERAL:
            chars.add(av)
        elif op is _c.RANGE:
            chars.update(range(av[0], min(av[1], 255) + 1))
        elif op is _c.CATEGORY and av in _CATEGORY_PATTERNS:
            test = re.compile(_CATEGORY_PATTERNS[av])
            chars.update(code for code in _ALPHABET if test.fullmatch(chr(code)))
        else:
            return _ANY_CHAR
    folded = _folded(chars, flags)
    return _ANY_CHAR - folded if negate else folded

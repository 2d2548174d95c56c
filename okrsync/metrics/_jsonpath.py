"""JSONPath through jsonpath-ng (its `ext` dialect: filters such as `$.kpis[?(@.name == "x")]`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.ext.parser import parse


@lru_cache(maxsize=256)
def compile_jsonpath(path: str) -> JSONPath:
    """The compiled expression; ValueError naming the parser's reason when it does not parse."""
    try:
        return parse(path)
    except Exception as error:  # noqa: BLE001 - jsonpath-ng raises bare Exception and lexer errors
        raise ValueError(f"JSONPath {path!r} does not parse: {error}") from None


def matches(path: str, document: Any) -> list[Any]:
    """The values `path` finds in `document`, in document order."""
    return [match.value for match in compile_jsonpath(path).find(document)]

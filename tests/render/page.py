"""Reading the HTML report back: its links, its sources, and the numbers it marks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any


@dataclass
class PageNumber:
    owner: str  # "kr", "objective" or "report"
    owner_id: str
    field: str  # the path in `status --format json`, dotted
    value: Any  # the JSON value


@dataclass
class _Collected:
    hrefs: list[str] = field(default_factory=list)
    srcs: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    numbers: list[PageNumber] = field(default_factory=list)
    kr_ids: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = _Collected()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.tags.append(tag)
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name in ("href", "xlink:href"):
                self.found.hrefs.append(value)
            elif name in ("src", "srcset", "action", "data", "poster"):
                self.found.srcs.append(value)
        if "data-kr-id" in values:
            self.found.kr_ids.append(values["data-kr-id"])
        if "data-field" in values:
            for owner in ("kr", "objective", "report"):
                if f"data-{owner}" in values:
                    self.found.numbers.append(
                        PageNumber(
                            owner,
                            values[f"data-{owner}"],
                            values["data-field"],
                            json.loads(values["data-value"]),
                        )
                    )


def read_page(html: str) -> _Collected:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.found


def json_value(status: dict[str, Any], number: PageNumber) -> Any:
    """The value `status --format json` gives for a number marked on the page."""
    if number.owner == "report":
        node: Any = status
    else:
        node = _find(status["objectives"], number.owner, number.owner_id)
    for part in number.field.split("."):
        node = node[part]
    return node


def _find(objectives: list[dict[str, Any]], owner: str, owner_id: str) -> dict[str, Any]:
    for objective in objectives:
        if owner == "objective" and objective["id"] == owner_id:
            return objective
        if owner == "kr":
            for kr in objective["key_results"]:
                if kr["id"] == owner_id:
                    return dict(kr)
        try:
            return _find(objective["children"], owner, owner_id)
        except KeyError:
            continue
    raise KeyError(f"{owner} {owner_id}")


def mismatches(html: str, status: dict[str, Any]) -> list[str]:
    """Every marked number whose value differs from the JSON's, as readable lines."""
    return [
        f"{n.owner} {n.owner_id} {n.field}: page {n.value!r}, json {json_value(status, n)!r}"
        for n in read_page(html).numbers
        if n.value != json_value(status, n)
    ]

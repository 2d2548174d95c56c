"""`escape_github` and `escape_wiki` look only at the characters they may change (a
regular expression finds them); here they are checked against the character-by-character
walks they replaced, which decide the same for every character of the text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.render import escape_wiki
from okrsync.render.github import escape_github

_MD_ALWAYS = frozenset("\\`*[]|~#")
_MD_LINE_START = frozenset("+-=>")
_ORDERED_LIST_START = re.compile(r"^(\d{1,9})([.)])(?= |$)")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def reference_github(text: str) -> str:
    chars = " ".join(text.split())
    out: list[str] = []
    for index, char in enumerate(chars):
        before = chars[index - 1] if index else ""
        after = chars[index + 1] if index + 1 < len(chars) else ""
        if char == "@":
            out.append("@\u2060")
            continue
        if char == "<":
            out.append("&lt;")
            continue
        starts_markup = (
            char in _MD_ALWAYS
            or (char in _MD_LINE_START and index == 0)
            or (char == "_" and not (before.isalnum() and after.isalnum()))
            or (char == "&" and _ENTITY.match(chars, index) is not None)
        )
        out.append("\\" + char if starts_markup else char)
    return _ORDERED_LIST_START.sub(r"\1\\\2", "".join(out))


_WIKI_ALWAYS = frozenset("\\|![]{}~^")
_WIKI_AT_EDGE = frozenset("*_-+?")
_WIKI_BLOCK_START = re.compile(r"^(h[1-6]|bq)\.", re.IGNORECASE)


def reference_wiki(text: str) -> str:
    chars = " ".join(text.split())
    out: list[str] = []
    for index, char in enumerate(chars):
        before = chars[index - 1] if index else ""
        after = chars[index + 1] if index + 1 < len(chars) else ""
        alone = (before.isalnum() and after.isalnum()) or (before == " " and after == " ")
        starts_markup = (
            char in _WIKI_ALWAYS
            or (char == "#" and index == 0)
            or (char in _WIKI_AT_EDGE and not alone)
        )
        out.append("\\" + char if starts_markup else char)
    return _WIKI_BLOCK_START.sub(r"\1\\.", "".join(out))


# Text made mostly of what the escapes look at, next to letters, digits and spaces.
MARKUP = st.text(
    alphabet=st.sampled_from(list("\\`*[]|~#+-=>@<_&!{}^?;.)xX1aZ é\t\n")), max_size=40
)
SAMPLES = [
    "",
    "KR-1 ONB_1 21.44 min",
    "- item",
    "> quote",
    "1. first",
    "1) first",
    "h1. heading",
    "BQ. quote",
    "#12 issue",
    "&#64; &lt; & &amp",
    "@user <b>",
    "_em_ *bold* -del- +ins+ ??cite??",
    "a _ b - c",
    "[~jsmith] {code} !image! x^2^ ~sub~",
    "  spaced\n\tout  ",
    "é_é",
]


def test_the_escapes_match_the_character_walks_on_known_markup() -> None:
    for text in SAMPLES:
        assert escape_github(text) == reference_github(text), text
        assert escape_wiki(text) == reference_wiki(text), text


@settings(deadline=None)
@given(st.one_of(MARKUP, st.text(max_size=40)))
def test_the_escapes_match_the_character_walks_on_any_text(text: str) -> None:
    assert escape_github(text) == reference_github(text)
    assert escape_wiki(text) == reference_wiki(text)

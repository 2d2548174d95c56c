"""Cut Atlassian's Jira Cloud platform description down to what the sandbox serves.

Usage (from the repository root):

    python okrsync/sandbox/specs/trim.py ../shared/specs/

(a directory stands for its jira-platform.v3.json) writes jira.json next to this script.
The result keeps the served operations unchanged in meaning (schemas, parameters,
responses, security) and the components they reference transitively; it drops prose
(descriptions, summaries, examples, `x-` vendor extensions, tags) and the OAuth2 scopes
no kept operation asks for.
No relaxation happens here: those live in okrsync/sandbox/jira.py, in one place.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = Path("../shared/specs")
SOURCE_NAME = "jira-platform.v3.json"
DEFAULT_OUTPUT = Path(__file__).with_name("jira.json")

SERVED_OPERATIONS: dict[str, tuple[str, ...]] = {
    "/rest/api/3/serverInfo": ("get",),
    "/rest/api/3/myself": ("get",),
    "/rest/api/3/field": ("get",),
    "/rest/api/3/search": ("get", "post"),
    "/rest/api/3/search/jql": ("get", "post"),
    "/rest/api/3/issue/{issueIdOrKey}": ("get", "put"),
    "/rest/api/3/issue/{issueIdOrKey}/comment": ("get", "post"),
    "/rest/api/3/issue/{issueIdOrKey}/comment/{id}": ("get", "put", "delete"),
}

# Documentation-only keywords. They are dropped only where they are keywords, never
# where they name something (a schema property called "description" stays).
PROSE_KEYWORDS = frozenset(
    {"description", "summary", "example", "examples", "externalDocs", "tags"}
)

# Mappings whose keys are names chosen by the author, not OpenAPI keywords.
NAMED_MAPS = frozenset({"properties", "paths", "content", "schemas", "securitySchemes", "headers"})

SCHEMA_REF_PREFIX = "#/components/schemas/"


def strip_prose(node: Any, role: str = "object") -> Any:
    """Drop prose keywords from an OpenAPI node.

    `role` says what `node` is: an OpenAPI "object"; a "names" mapping, whose keys are
    names chosen by the author; "responses", the mapping of status codes; or a
    "response", whose `description` is required and so stays.
    """
    if isinstance(node, list):
        return [strip_prose(item) for item in node]
    if not isinstance(node, dict):
        return node
    if role in ("names", "responses"):
        child_role = "response" if role == "responses" else "object"
        return {key: strip_prose(value, child_role) for key, value in node.items()}
    kept: dict[str, Any] = {}
    for key, value in node.items():
        required_prose = role == "response" and key == "description"
        if (key in PROSE_KEYWORDS or key.startswith("x-")) and not required_prose:
            continue
        kept[key] = strip_prose(value, child_role_of(key))
    return kept


def child_role_of(key: str) -> str:
    if key == "responses":
        return "responses"
    return "names" if key in NAMED_MAPS else "object"


def schema_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF_PREFIX):
            yield ref.removeprefix(SCHEMA_REF_PREFIX)
        for value in node.values():
            yield from schema_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_refs(item)


def referenced_schemas(paths: dict[str, Any], all_schemas: dict[str, Any]) -> dict[str, Any]:
    """The schemas reachable from `paths`, following references between schemas."""
    wanted = list(schema_refs(paths))
    found: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name in found:
            continue
        found[name] = all_schemas[name]
        wanted.extend(schema_refs(found[name]))
    return dict(sorted(found.items()))


def used_security(paths: dict[str, Any], schemes: dict[str, Any]) -> dict[str, Any]:
    """Security schemes the kept operations name, with only the OAuth2 scopes they use."""
    used_scopes: dict[str, set[str]] = {}
    for operations in paths.values():
        for operation in operations.values():
            for requirement in operation.get("security", []):
                for scheme, scopes in requirement.items():
                    used_scopes.setdefault(scheme, set()).update(scopes)
    kept: dict[str, Any] = {}
    for name, scopes in sorted(used_scopes.items()):
        scheme = json.loads(json.dumps(schemes[name]))
        for flow in scheme.get("flows", {}).values():
            flow["scopes"] = {s: d for s, d in flow["scopes"].items() if s in scopes}
        kept[name] = scheme
    return kept


def trim(source: dict[str, Any]) -> Any:
    paths = {
        path: {method: source["paths"][path][method] for method in methods}
        for path, methods in SERVED_OPERATIONS.items()
    }
    components = source["components"]
    return strip_prose(
        {
            "openapi": source["openapi"],
            "info": {"title": source["info"]["title"], "version": source["info"]["version"]},
            "servers": source["servers"],
            "paths": paths,
            "components": {
                "schemas": referenced_schemas(paths, components["schemas"]),
                "securitySchemes": used_security(paths, components["securitySchemes"]),
            },
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    source: Path = args.source / SOURCE_NAME if args.source.is_dir() else args.source
    trimmed = trim(json.loads(source.read_text(encoding="utf-8")))
    text = json.dumps(trimmed, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    print(
        f"{args.output}: {len(trimmed['paths'])} paths, "
        f"{len(trimmed['components']['schemas'])} schemas, {len(text)} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

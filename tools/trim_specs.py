"""Cut the vendors' API descriptions down to what the sandboxes serve.

Usage (from the repository root):

    python tools/trim_specs.py ../shared/specs/

A directory stands for every vendor description found in it (`VENDORS`: Atlassian's
jira-platform.v3.json, GitHub's github.api.github.com.json, Asana's asana.oas.yaml); each
is written to okrsync_sandbox/specs/ (jira.json, github.json, asana.json). A single description
file is recognised by its name, or named with `--vendor`, and may be written elsewhere
with `--output`.

The result keeps the served operations unchanged in meaning (schemas, parameters,
responses, headers, security) and the components they reference transitively; it drops
prose (descriptions, summaries, examples, `x-` vendor extensions, tags) and the OAuth2
scopes no kept operation asks for.
No relaxation happens here: those live in okrsync_sandbox/jira.py, github.py and asana.py,
in one place per vendor. Trimming is idempotent: a trimmed file trims to itself, which
tests/sandbox/test_trim_specs.py checks on the vendored files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = Path("../shared/specs")
SOURCE_NAME = "jira-platform.v3.json"
# Where the trimmed descriptions live: the sandbox's package data.
HERE = Path(__file__).resolve().parent.parent / "okrsync_sandbox" / "specs"
DEFAULT_OUTPUT = HERE / "jira.json"

SERVED_OPERATIONS: dict[str, tuple[str, ...]] = {
    "/rest/api/3/serverInfo": ("get",),
    "/rest/api/3/myself": ("get",),
    "/rest/api/3/field": ("get",),
    "/rest/api/3/search": ("get", "post"),
    "/rest/api/3/search/jql": ("get", "post"),
    "/rest/api/3/search/approximate-count": ("post",),
    "/rest/api/3/issue": ("post",),
    "/rest/api/3/issue/{issueIdOrKey}": ("get", "put"),
    "/rest/api/3/issue/{issueIdOrKey}/editmeta": ("get",),
    "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}": ("get", "put", "delete"),
    "/rest/api/3/issue/{issueIdOrKey}/comment": ("get", "post"),
    "/rest/api/3/issue/{issueIdOrKey}/comment/{id}": ("get", "put", "delete"),
    "/rest/api/3/issueLink": ("post",),
    "/rest/api/3/issueLink/{linkId}": ("delete",),
    "/rest/api/3/issueLinkType": ("get",),
}

GITHUB_OPERATIONS: dict[str, tuple[str, ...]] = {
    "/rate_limit": ("get",),
    "/user": ("get",),
    "/repos/{owner}/{repo}": ("get",),
    "/repos/{owner}/{repo}/issues": ("get",),
    "/repos/{owner}/{repo}/labels": ("get", "post"),
    "/repos/{owner}/{repo}/issues/comments/{comment_id}": ("get", "patch", "delete"),
    "/repos/{owner}/{repo}/issues/{issue_number}": ("get",),
    "/repos/{owner}/{repo}/issues/{issue_number}/comments": ("get", "post"),
    "/repos/{owner}/{repo}/issues/{issue_number}/labels": ("post",),
    "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}": ("delete",),
    "/repos/{owner}/{repo}/issues/{issue_number}/parent": ("get",),
    "/repos/{owner}/{repo}/issues/{issue_number}/sub_issues": ("get",),
    "/search/issues": ("get",),
}

# Asana's paths sit under its server URL, https://app.asana.com/api/1.0.
ASANA_OPERATIONS: dict[str, tuple[str, ...]] = {
    "/users/{user_gid}": ("get",),
    "/projects/{project_gid}": ("get",),
    "/projects/{project_gid}/custom_field_settings": ("get",),
    "/projects/{project_gid}/tasks": ("get",),
    "/tasks": ("get",),
    "/tasks/{task_gid}": ("get", "put"),
    "/tasks/{task_gid}/subtasks": ("get",),
    "/tasks/{task_gid}/stories": ("get", "post"),
    "/stories/{story_gid}": ("get", "put", "delete"),
}


@dataclass(frozen=True)
class Vendor:
    """One vendor description: its file in the source folder, the trimmed file, and the
    operations its sandbox serves (path -> methods)."""

    source_name: str
    output_name: str
    operations: Mapping[str, tuple[str, ...]]


VENDORS: dict[str, Vendor] = {
    "jira": Vendor(SOURCE_NAME, DEFAULT_OUTPUT.name, SERVED_OPERATIONS),
    "github": Vendor("github.api.github.com.json", "github.json", GITHUB_OPERATIONS),
    "asana": Vendor("asana.oas.yaml", "asana.json", ASANA_OPERATIONS),
}

# Documentation-only keywords. They are dropped only where they are keywords, never
# where they name something (a schema property called "description" stays).
PROSE_KEYWORDS = frozenset(
    {"description", "summary", "example", "examples", "externalDocs", "tags"}
)

# Mappings whose keys are names chosen by the author, not OpenAPI keywords.
NAMED_MAPS = frozenset(
    {"properties", "paths", "content", "schemas", "securitySchemes", "headers", "parameters"}
)

COMPONENTS_PREFIX = "#/components/"


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


def component_refs(node: Any) -> Iterator[tuple[str, str]]:
    """(kind, name) of every `#/components/<kind>/<name>` reference inside `node`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENTS_PREFIX):
            kind, _, name = ref.removeprefix(COMPONENTS_PREFIX).partition("/")
            yield kind, name
        for value in node.values():
            yield from component_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from component_refs(item)


def referenced_components(
    paths: dict[str, Any], all_components: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The components reachable from `paths` (already without prose, so that references
    made only by examples are not followed), following references between components."""
    wanted = list(component_refs(paths))
    found: dict[str, dict[str, Any]] = {}
    while wanted:
        kind, name = wanted.pop()
        if name in found.setdefault(kind, {}):
            continue
        role = "response" if kind == "responses" else "object"
        found[kind][name] = strip_prose(all_components[kind][name], role)
        wanted.extend(component_refs(found[kind][name]))
    return {kind: dict(sorted(named.items())) for kind, named in sorted(found.items())}


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


def trim(source: dict[str, Any], operations: Mapping[str, tuple[str, ...]]) -> Any:
    paths = strip_prose(
        {path: served(source["paths"][path], methods) for path, methods in operations.items()},
        "names",
    )
    components = referenced_components(paths, source["components"])
    methods_only = {path: {m: item[m] for m in operations[path]} for path, item in paths.items()}
    security = used_security(methods_only, source["components"].get("securitySchemes", {}))
    if security:
        components["securitySchemes"] = security
    return strip_prose(
        {
            "openapi": source["openapi"],
            "info": {"title": source["info"]["title"], "version": source["info"]["version"]},
            "servers": source["servers"],
            "paths": paths,
            "components": components,
        }
    )


def served(path_item: dict[str, Any], methods: tuple[str, ...]) -> dict[str, Any]:
    """The served operations of a path, with its path-level `parameters` (Asana puts the
    gid in the path and opt_pretty there): they belong to every operation of the path."""
    kept = {method: path_item[method] for method in methods}
    if "parameters" in path_item:
        kept = {"parameters": path_item["parameters"], **kept}
    return kept


def load_description(path: Path) -> dict[str, Any]:
    """A description file, JSON or YAML, as the JSON it stands for."""
    if path.suffix not in (".yaml", ".yml"):
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    import yaml  # only Asana publishes YAML

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser: 0.3 s, not 10
    with path.open(encoding="utf-8") as stream:
        described: dict[str, Any] = json_ready(yaml.load(stream, Loader=loader))
    return described


def json_ready(node: Any) -> Any:
    """`node` with string keys (YAML reads the response code `200:` as an integer, which
    openapi-core rejects) and unquoted dates as ISO strings."""
    if isinstance(node, dict):
        return {str(key): json_ready(value) for key, value in node.items()}
    if isinstance(node, list):
        return [json_ready(item) for item in node]
    if isinstance(node, date):  # datetime is a date too
        return node.isoformat()
    return node


def jobs(source: Path, vendor: str | None, output: Path | None) -> list[tuple[Vendor, Path, Path]]:
    """(vendor, description file, trimmed file) for each description to trim."""
    if source.is_dir():
        if output is not None or vendor is not None:
            raise SystemExit("--output and --vendor need a description file, not a folder")
        found = [v for v in VENDORS.values() if (source / v.source_name).exists()]
        if not found:
            raise SystemExit(f"no vendor description in {source}")
        return [(v, source / v.source_name, HERE / v.output_name) for v in found]
    by_file = {v.source_name: v for v in VENDORS.values()}
    chosen = VENDORS[vendor] if vendor is not None else by_file.get(source.name)
    if chosen is None:
        raise SystemExit(f"which vendor is {source.name}? say --vendor {'|'.join(VENDORS)}")
    return [(chosen, source, output or HERE / chosen.output_name)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--vendor", choices=sorted(VENDORS), default=None)
    args = parser.parse_args(argv)
    for vendor, source, output in jobs(args.source, args.vendor, args.output):
        trimmed = trim(load_description(source), vendor.operations)
        text = json.dumps(trimmed, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        output.write_text(text, encoding="utf-8")
        kinds = ", ".join(f"{len(named)} {kind}" for kind, named in trimmed["components"].items())
        print(f"{output}: {len(trimmed['paths'])} paths, {kinds}, {len(text)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

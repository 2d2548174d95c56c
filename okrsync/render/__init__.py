"""Bodies for each target's markup, and the status report in every output format.

The names below load their module on first use: the registry imports only the comment
renderers it names, and the console table (rich) loads only for `status`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okrsync.render.adf import render_adf_comment
    from okrsync.render.asana import escape_html, render_asana_comment
    from okrsync.render.github import escape_github, render_github_comment
    from okrsync.render.jira import escape_wiki, render_jira_comment, render_jira_wiki
    from okrsync.render.status import (
        escape_markdown,
        problem_json,
        problem_lines,
        report_console,
        report_markdown,
        report_table,
        report_to_json,
        unmapped_lines,
        weight_text,
    )

_MODULES = {
    "render_adf_comment": "okrsync.render.adf",
    "escape_html": "okrsync.render.asana",
    "render_asana_comment": "okrsync.render.asana",
    "escape_github": "okrsync.render.github",
    "render_github_comment": "okrsync.render.github",
    "escape_wiki": "okrsync.render.jira",
    "render_jira_comment": "okrsync.render.jira",
    "render_jira_wiki": "okrsync.render.jira",
    "escape_markdown": "okrsync.render.status",
    "problem_json": "okrsync.render.status",
    "problem_lines": "okrsync.render.status",
    "report_console": "okrsync.render.status",
    "report_markdown": "okrsync.render.status",
    "report_table": "okrsync.render.status",
    "report_to_json": "okrsync.render.status",
    "unmapped_lines": "okrsync.render.status",
    "weight_text": "okrsync.render.status",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        from importlib import import_module

        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "escape_github",
    "escape_html",
    "render_adf_comment",
    "render_asana_comment",
    "render_github_comment",
    "render_jira_wiki",
    "escape_markdown",
    "escape_wiki",
    "problem_json",
    "problem_lines",
    "render_jira_comment",
    "report_console",
    "report_markdown",
    "report_table",
    "report_to_json",
    "unmapped_lines",
    "weight_text",
]

"""Bodies for each target's markup, and the status report in every output format."""

from okrsync.render.asana import render_asana_comment
from okrsync.render.github import render_github_comment
from okrsync.render.jira import escape_wiki, render_jira_comment
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

__all__ = [
    "render_asana_comment",
    "render_github_comment",
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

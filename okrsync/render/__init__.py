"""Bodies for each target's markup, and the status report in every output format."""

from okrsync.render.asana import render_asana_comment
from okrsync.render.github import render_github_comment
from okrsync.render.jira import escape_wiki, render_jira_comment
from okrsync.render.status import (
    escape_markdown,
    report_console,
    report_markdown,
    report_table,
    report_to_json,
)

__all__ = [
    "render_asana_comment",
    "render_github_comment",
    "escape_markdown",
    "escape_wiki",
    "render_jira_comment",
    "report_console",
    "report_markdown",
    "report_table",
    "report_to_json",
]

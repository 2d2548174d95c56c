"""GitHub webhooks: ``X-Hub-Signature-256: sha256=<hex>`` (docs.github.com, "Validating
webhook deliveries"); `issues` and `sub_issues` events name the issues to pull."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from okrsync.logs import get_logger
from okrsync.webhooks._core import (
    Reject,
    WebhookResult,
    ignored,
    json_member,
    json_object,
    signed_webhook,
    verify_prefixed,
)

log = get_logger(__name__)

_SUB_ISSUE_ACTIONS = frozenset(
    {"sub_issue_added", "sub_issue_removed", "parent_issue_added", "parent_issue_removed"}
)
_REPO_FROM_API_URL = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/?$")


class GithubWebhook:
    delivery_header = "x-github-delivery"

    def __init__(self, secret: str):
        self._secret = secret

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[str] | WebhookResult:
        verify_prefixed(self._secret, body, headers.get("x-hub-signature-256"))
        event = headers.get("x-github-event", "")
        if event == "ping":
            return WebhookResult(200, {"status": "pong"})
        if event not in ("issues", "sub_issues"):
            return ignored(event or "unnamed")
        payload = json_object(body, headers)
        if event == "issues":
            return _issue_keys(payload)
        if payload.get("action") not in _SUB_ISSUE_ACTIONS:
            return ignored(f"sub_issues.{payload.get('action')}")
        return _sub_issue_keys(payload)


WEBHOOK = signed_webhook("github_secret", GithubWebhook)


def _issue_keys(payload: Mapping[str, Any]) -> list[str]:
    issue = json_member(payload, "issue")
    if "pull_request" in issue:
        return []  # pull requests count nowhere (docs/design.md)
    return [_key(_repo(payload, "issue"), issue)]


def _sub_issue_keys(payload: Mapping[str, Any]) -> list[str]:
    """Both ends of the link: the parent's roll-up and the child's parent both change."""
    keys = []
    for role in ("parent_issue", "sub_issue"):
        issue = json_member(payload, role)
        if "pull_request" not in issue:
            keys.append(_key(_repo(payload, role), issue))
    return keys


def _repo(payload: Mapping[str, Any], role: str) -> str:
    """The issue's own repository: sub-issues may live in another repo than the event's.

    `parent_issue_repo` / `sub_issue_repo` name it when present; every issue also carries
    its `repository_url`; the event's `repository` is the last resort."""
    named = payload.get(f"{role}_repo")
    if isinstance(named, dict) and isinstance(named.get("full_name"), str):
        return str(named["full_name"])
    issue = payload.get(role)
    url = issue.get("repository_url") if isinstance(issue, dict) else None
    if isinstance(url, str) and (match := _REPO_FROM_API_URL.search(url)):
        return match["repo"]
    repository = payload.get("repository")
    if isinstance(repository, dict) and isinstance(repository.get("full_name"), str):
        return str(repository["full_name"])
    raise Reject(400, f"cannot tell the repository of `{role}`")


def _key(repo: str, issue: Mapping[str, Any]) -> str:
    number = issue.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise Reject(400, "issue without a number")
    return f"{repo}#{number}"

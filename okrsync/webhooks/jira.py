"""Jira webhooks: Jira Cloud admin webhooks registered with a secret sign with
``X-Hub-Signature: sha256=<hex>`` (WebSub "method=signature"; developer.atlassian.com,
"Secure admin webhooks"); issue created/updated events name the issue to pull."""

from __future__ import annotations

from collections.abc import Mapping

from okrsync.logs import get_logger
from okrsync.webhooks._core import (
    Reject,
    WebhookResult,
    ignored,
    json_object,
    signed_webhook,
    verify_prefixed,
)

log = get_logger(__name__)

_ISSUE_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated"})


class JiraWebhook:
    delivery_header = "x-atlassian-webhook-identifier"

    def __init__(self, secret: str):
        self._secret = secret

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[str] | WebhookResult:
        verify_prefixed(self._secret, body, headers.get("x-hub-signature"))
        payload = json_object(body, headers)
        event = payload.get("webhookEvent")
        if event not in _ISSUE_EVENTS:
            return ignored(str(event))
        issue = payload.get("issue")
        key = issue.get("key") if isinstance(issue, dict) else None
        if not isinstance(key, str) or not key:
            raise Reject(400, "issue event without issue.key")
        return [key]


WEBHOOK = signed_webhook("jira_secret", JiraWebhook)

"""Jira webhooks: Jira Cloud admin webhooks registered with a secret sign with
``X-Hub-Signature: sha256=<hex>`` (WebSub "method=signature"; developer.atlassian.com,
"Secure admin webhooks"); issue created/updated events name the issue to pull."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from okrsync.config import EnvName
from okrsync.webhooks._core import (
    Receiver,
    Reject,
    SecretBook,
    WebhookResult,
    WebhookSpec,
    ignored,
    json_object,
    secret_from,
    verify_prefixed,
)

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


def _receiver(
    name: str, settings: Any, environ: Mapping[str, str], secrets: SecretBook
) -> Receiver | None:
    secret = secret_from(environ, settings.jira_secret_env)
    return JiraWebhook(secret) if secret else None


WEBHOOK = WebhookSpec(settings=(("jira_secret_env", EnvName | None, None),), receiver=_receiver)

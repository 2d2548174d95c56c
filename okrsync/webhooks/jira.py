"""Jira webhooks: Jira Cloud admin webhooks registered with a secret sign with
``X-Hub-Signature: sha256=<hex>`` (WebSub "method=signature"; developer.atlassian.com,
"Secure admin webhooks"); issue created/updated events name the issue to pull."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from okrsync.config import EnvName, SecretError, SecretFile, optional_secret, secret_choice
from okrsync.webhooks._core import (
    Receiver,
    Reject,
    SecretBook,
    WebhookResult,
    WebhookSpec,
    ignored,
    json_object,
    verify_prefixed,
)

log = structlog.get_logger(__name__)

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
    # `jira_secret_file` wins over `jira_secret_env`; an unset variable leaves the webhook off.
    ref = secret_choice(settings, "jira_secret", ("service", "webhooks"))
    try:
        secret = optional_secret(ref, environ)
    except SecretError as error:
        # Checked when the config is loaded: this is a file or variable changed since.
        log.error("webhook.secret_unusable", source=name, problem=str(error))
        return None
    return JiraWebhook(secret) if secret else None


WEBHOOK = WebhookSpec(
    settings=(
        ("jira_secret_env", EnvName | None, None),
        ("jira_secret_file", SecretFile | None, None),
    ),
    receiver=_receiver,
)

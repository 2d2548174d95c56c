"""Asana webhooks (developers.asana.com, "Webhooks"): a handshake request carries
``X-Hook-Secret``, echoed back and kept in the store (so replicas share it and restarts
keep it); later deliveries carry ``X-Hook-Signature: <hex>``. Task events name the tasks
to pull."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from okrsync.logs import get_logger
from okrsync.webhooks._core import (
    Receiver,
    Reject,
    SecretBook,
    WebhookResult,
    WebhookSpec,
    json_object,
    verify,
)

log = get_logger(__name__)

# Asana secrets are hex today; allow a little more, but never CR/LF or spaces, because the
# value is echoed into a response header.
_HOOK_SECRET = re.compile(r"^[A-Za-z0-9._~+/=-]{1,256}$")


class AsanaWebhook:
    delivery_header = None

    def __init__(self, secrets: SecretBook, secret_name: str, replace_secret: bool = False):
        """`replace_secret`: whether a new handshake may replace a secret already kept.
        Off by default: the handshake itself is unsigned, so anyone who can reach the
        endpoint could otherwise swap in a secret of their own and sign forged
        deliveries. Turn it on only while (re-)registering the Asana webhook."""
        self._secrets = secrets
        self._secret_name = secret_name
        self.replace_secret = replace_secret

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[str] | WebhookResult:
        offered = headers.get("x-hook-secret")
        if offered is not None:
            return self._handshake(offered.strip())
        secret = self._secrets.get(self._secret_name)
        if secret is None:
            raise Reject(401, "no Asana handshake yet")
        verify(secret, body, headers.get("x-hook-signature"))
        events = json_object(body, headers).get("events")
        if not isinstance(events, list):
            raise Reject(400, "expected an `events` list")
        if not events:
            return WebhookResult(200, {"status": "ok"})  # a heartbeat
        return _task_keys(events)

    def _handshake(self, offered: str) -> WebhookResult:
        if not _HOOK_SECRET.match(offered):
            raise Reject(400, "malformed X-Hook-Secret")
        kept = self._secrets.get(self._secret_name)
        # Asana may repeat the same handshake; a different one would replace the key that
        # authenticates every later delivery, so it needs the explicit opt-in.
        replacing = kept is not None and not hmac.compare_digest(kept.encode(), offered.encode())
        if replacing and not self.replace_secret:
            raise Reject(409, "an Asana webhook secret is already kept")
        self._secrets.save(self._secret_name, offered)
        log.info("webhook.asana_handshake", replaced=replacing)
        return WebhookResult(200, {"status": "ok"}, headers={"X-Hook-Secret": offered})


def _receiver(
    name: str, settings: Any, environ: Mapping[str, str], secrets: SecretBook
) -> Receiver | None:
    # One Asana webhook per okrsync: its handshake secret is kept under the source's name.
    return AsanaWebhook(secrets, secret_name=name) if settings.asana else None


WEBHOOK = WebhookSpec(settings=(("asana", bool, False),), receiver=_receiver)


def _task_keys(events: Iterable[Any]) -> list[str]:
    """Task events only: story events (comments, including okrsync's own write-backs)
    change no progress, and following them would pull after every write-back."""
    keys = []
    for event in events:
        if not isinstance(event, dict):
            raise Reject(400, "an event is not an object")
        resource = event.get("resource")
        if not _is_task(resource):
            continue
        keys.append(str(resource["gid"]))
        parent = event.get("parent")
        if _is_task(parent):
            keys.append(str(parent["gid"]))
    return keys


def _is_task(node: Any) -> TypeGuard[dict[str, Any]]:
    return (
        isinstance(node, dict)
        and node.get("resource_type") == "task"
        and isinstance(node.get("gid"), str | int)
        and str(node["gid"]) != ""
    )

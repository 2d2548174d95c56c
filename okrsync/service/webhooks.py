"""Webhook requests from GitHub, Jira and Asana: verify, parse, and name what changed.

Pure request handling, no server: `Webhooks.handle` takes the source, the headers and
the raw body and answers with a status, a JSON body, headers to send, and the
(source, item key) pairs the daemon should pull now. A webhook is only a hint to pull
sooner: nothing in a payload is trusted beyond the item keys it names.

Signatures (all HMAC-SHA256 over the raw body, hex, compared in constant time):
- GitHub: ``X-Hub-Signature-256: sha256=<hex>`` (docs.github.com, "Validating webhook
  deliveries").
- Jira Cloud admin webhooks registered with a secret: ``X-Hub-Signature: sha256=<hex>``
  (WebSub "method=signature" form; developer.atlassian.com, "Secure admin webhooks").
- Asana: a handshake request carries ``X-Hook-Secret``, echoed back and kept; later
  deliveries carry ``X-Hook-Signature: <hex>`` (developers.asana.com, "Webhooks").

Secrets and signatures are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard

import structlog

log = structlog.get_logger(__name__)

SOURCES = ("github", "jira", "asana")
# One Asana webhook per okrsync today: its handshake secret is kept under this name.
ASANA_SECRET_NAME = "asana"
DEFAULT_MAX_BODY = 1_000_000

_GITHUB_SUB_ISSUE_ACTIONS = frozenset(
    {"sub_issue_added", "sub_issue_removed", "parent_issue_added", "parent_issue_removed"}
)
_JIRA_ISSUE_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated"})
# Asana secrets are hex today; allow a little more, but never CR/LF or spaces, because the
# value is echoed into a response header.
_HOOK_SECRET = re.compile(r"^[A-Za-z0-9._~+/=-]{1,256}$")
_REPO_FROM_API_URL = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/?$")


class SecretBook(Protocol):
    """Where secrets learnt at run time (the Asana handshake) are kept across restarts."""

    def get(self, name: str) -> str | None: ...

    def save(self, name: str, secret: str) -> None: ...


class MemorySecretBook:
    """A SecretBook that forgets on restart: for tests, and until the store keeps them."""

    def __init__(self, secrets: Mapping[str, str] | None = None):
        self._secrets = dict(secrets or {})
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._secrets.get(name)

    def save(self, name: str, secret: str) -> None:
        with self._lock:
            self._secrets[name] = secret


@dataclass(frozen=True)
class WebhookResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    # (source, item key) pairs to pull now, without duplicates, in payload order.
    changed: tuple[tuple[str, str], ...] = ()


class _Reject(Exception):
    """Ends the handling of one request with an error status."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Webhooks:
    def __init__(
        self,
        *,
        github_secret: str | None,
        jira_secret: str | None,
        asana_enabled: bool,
        asana_secrets: SecretBook,
        max_body: int = DEFAULT_MAX_BODY,
        asana_replace_secret: bool = False,
    ):
        """`asana_replace_secret`: whether a new Asana handshake may replace a secret
        already kept. Off by default: the handshake itself is unsigned, so anyone who can
        reach the endpoint could otherwise swap in a secret of their own and sign forged
        deliveries. Turn it on only while (re-)registering the Asana webhook."""
        self._github_secret = github_secret or None
        self._jira_secret = jira_secret or None
        self._asana_enabled = asana_enabled
        self._asana_secrets = asana_secrets
        self.max_body = max_body
        self.asana_replace_secret = asana_replace_secret

    def configured(self, source: str) -> bool:
        return {
            "github": self._github_secret is not None,
            "jira": self._jira_secret is not None,
            "asana": self._asana_enabled,
        }.get(source, False)

    def handle(self, source: str, headers: Mapping[str, str], body: bytes) -> WebhookResult:
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            if source not in SOURCES:
                raise _Reject(404, "unknown webhook source")
            if not self.configured(source):
                raise _Reject(404, "webhook not configured")
            self._check_size(lowered, body)
            result = self._dispatch(source, lowered, body)
        except _Reject as reject:
            log.warning(
                "webhook.rejected",
                source=source,
                status=reject.status,
                reason=reject.reason,
                delivery=_delivery_id(lowered),
            )
            return WebhookResult(reject.status, {"error": reject.reason})
        log.info(
            "webhook.handled",
            source=source,
            status=result.status,
            changed=len(result.changed),
            delivery=_delivery_id(lowered),
        )
        return result

    def _check_size(self, headers: Mapping[str, str], body: bytes) -> None:
        # The declared length first: the server can then refuse without reading the body.
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise _Reject(400, "invalid Content-Length") from None
            if length < 0:
                raise _Reject(400, "invalid Content-Length")
            if length > self.max_body:
                raise _Reject(413, f"body over {self.max_body} bytes")
        if len(body) > self.max_body:
            raise _Reject(413, f"body over {self.max_body} bytes")

    def _dispatch(self, source: str, headers: Mapping[str, str], body: bytes) -> WebhookResult:
        if source == "github":
            return self._github(headers, body)
        if source == "jira":
            return self._jira(headers, body)
        return self._asana(headers, body)

    # ------------------------------------------------------------------- GitHub

    def _github(self, headers: Mapping[str, str], body: bytes) -> WebhookResult:
        assert self._github_secret is not None  # configured() was checked
        _verify_prefixed(self._github_secret, body, headers.get("x-hub-signature-256"))
        event = headers.get("x-github-event", "")
        if event == "ping":
            return WebhookResult(200, {"status": "pong"})
        if event not in ("issues", "sub_issues"):
            return _ignored(event or "unnamed")
        payload = _json_object(body, headers)
        if event == "issues":
            return _queued(_github_issue_keys(payload))
        if payload.get("action") not in _GITHUB_SUB_ISSUE_ACTIONS:
            return _ignored(f"sub_issues.{payload.get('action')}")
        return _queued(_github_sub_issue_keys(payload))

    # --------------------------------------------------------------------- Jira

    def _jira(self, headers: Mapping[str, str], body: bytes) -> WebhookResult:
        assert self._jira_secret is not None  # configured() was checked
        _verify_prefixed(self._jira_secret, body, headers.get("x-hub-signature"))
        payload = _json_object(body, headers)
        event = payload.get("webhookEvent")
        if event not in _JIRA_ISSUE_EVENTS:
            return _ignored(str(event))
        issue = payload.get("issue")
        key = issue.get("key") if isinstance(issue, dict) else None
        if not isinstance(key, str) or not key:
            raise _Reject(400, "issue event without issue.key")
        return _queued([("jira", key)])

    # -------------------------------------------------------------------- Asana

    def _asana(self, headers: Mapping[str, str], body: bytes) -> WebhookResult:
        offered = headers.get("x-hook-secret")
        if offered is not None:
            return self._asana_handshake(offered.strip())
        secret = self._asana_secrets.get(ASANA_SECRET_NAME)
        if secret is None:
            raise _Reject(401, "no Asana handshake yet")
        _verify(secret, body, headers.get("x-hook-signature"))
        events = _json_object(body, headers).get("events")
        if not isinstance(events, list):
            raise _Reject(400, "expected an `events` list")
        if not events:
            return WebhookResult(200, {"status": "ok"})  # a heartbeat
        return _queued(_asana_task_keys(events))

    def _asana_handshake(self, offered: str) -> WebhookResult:
        if not _HOOK_SECRET.match(offered):
            raise _Reject(400, "malformed X-Hook-Secret")
        kept = self._asana_secrets.get(ASANA_SECRET_NAME)
        # Asana may repeat the same handshake; a different one would replace the key that
        # authenticates every later delivery, so it needs the explicit opt-in.
        replacing = kept is not None and not hmac.compare_digest(kept.encode(), offered.encode())
        if replacing and not self.asana_replace_secret:
            raise _Reject(409, "an Asana webhook secret is already kept")
        self._asana_secrets.save(ASANA_SECRET_NAME, offered)
        log.info("webhook.asana_handshake", replaced=replacing)
        return WebhookResult(200, {"status": "ok"}, headers={"X-Hook-Secret": offered})


# ------------------------------------------------------------------ signatures


def _verify_prefixed(secret: str, body: bytes, header: str | None) -> None:
    """GitHub and Jira send ``sha256=<hex>``."""
    if not header:
        raise _Reject(401, "missing signature")
    algorithm, _, digest = header.strip().partition("=")
    if algorithm.lower() != "sha256":
        raise _Reject(401, "invalid signature")
    _verify(secret, body, digest)


def _verify(secret: str, body: bytes, digest: str | None) -> None:
    if not digest:
        raise _Reject(401, "missing signature")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header may carry any.
    given = digest.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode(), given):
        raise _Reject(401, "invalid signature")


# --------------------------------------------------------------------- payloads


def _json_object(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        raise _Reject(400, "send the webhook as application/json")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Reject(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise _Reject(400, "body is not a JSON object")
    return payload


def _github_issue_keys(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    issue = _object(payload, "issue")
    if "pull_request" in issue:
        return []  # pull requests count nowhere (DESIGN.md)
    return [("github", _github_key(_github_repo(payload, "issue"), issue))]


def _github_sub_issue_keys(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Both ends of the link: the parent's roll-up and the child's parent both change."""
    keys = []
    for role in ("parent_issue", "sub_issue"):
        issue = _object(payload, role)
        if "pull_request" not in issue:
            keys.append(("github", _github_key(_github_repo(payload, role), issue)))
    return keys


def _github_repo(payload: Mapping[str, Any], role: str) -> str:
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
    raise _Reject(400, f"cannot tell the repository of `{role}`")


def _github_key(repo: str, issue: Mapping[str, Any]) -> str:
    number = issue.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise _Reject(400, "issue without a number")
    return f"{repo}#{number}"


def _asana_task_keys(events: Iterable[Any]) -> list[tuple[str, str]]:
    """Task events only: story events (comments, including okrsync's own write-backs)
    change no progress, and following them would pull after every write-back."""
    keys = []
    for event in events:
        if not isinstance(event, dict):
            raise _Reject(400, "an event is not an object")
        resource = event.get("resource")
        if not _is_task(resource):
            continue
        keys.append(("asana", str(resource["gid"])))
        parent = event.get("parent")
        if _is_task(parent):
            keys.append(("asana", str(parent["gid"])))
    return keys


def _is_task(node: Any) -> TypeGuard[dict[str, Any]]:
    return (
        isinstance(node, dict)
        and node.get("resource_type") == "task"
        and isinstance(node.get("gid"), str | int)
        and str(node["gid"]) != ""
    )


def _object(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    if not isinstance(value, dict):
        raise _Reject(400, f"expected `{name}` to be an object")
    return value


# ---------------------------------------------------------------------- results


def _queued(keys: Iterable[tuple[str, str]]) -> WebhookResult:
    changed = tuple(dict.fromkeys(keys))
    if not changed:
        return WebhookResult(202, {"status": "ignored"})
    return WebhookResult(200, {"status": "queued", "changed": len(changed)}, {}, changed)


def _ignored(event: str) -> WebhookResult:
    return WebhookResult(202, {"status": "ignored", "event": event})


def _delivery_id(headers: Mapping[str, str]) -> str | None:
    """The sender's delivery id (not a secret): lets an admin match a log line to the
    sender's delivery log."""
    return headers.get("x-github-delivery") or headers.get("x-atlassian-webhook-identifier")

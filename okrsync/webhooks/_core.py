"""Webhook requests, verified and parsed: pure request handling, no server.

`Webhooks.handle` takes the source, the headers and the raw body and answers with a
status, a JSON body, headers to send, and the (source, item key) pairs the daemon should
pull now. Each source's `Receiver` (its own module) checks the signature and names the
items; this module does what every source shares. A webhook is only a hint to pull
sooner: nothing in a payload is trusted beyond the item keys it names.

Secrets and signatures are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from okrsync.config import EnvName, SecretError, SecretFile, optional_secret, secret_choice
from okrsync.logs import get_logger

log = get_logger(__name__)

DEFAULT_MAX_BODY = 1_000_000
# No sender nests its payload anywhere near this deep; a body that does is refused
# before `json.loads`, whose recursion would otherwise end in RecursionError.
MAX_JSON_DEPTH = 64
# A JSON string (escapes included), and the brackets left once strings are gone.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


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


class Reject(Exception):
    """Ends the handling of one request with an error status."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Receiver(Protocol):
    """One source's webhooks: verify a delivery and name the items it says changed.

    `receive` answers with the item keys to pull (possibly none), or with a finished
    result (a ping, a handshake, an ignored event); it raises `Reject` for a bad request.
    """

    @property
    def delivery_header(self) -> str | None:
        """The header carrying the sender's delivery id (not a secret), for the logs."""
        ...

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[str] | WebhookResult: ...


# What a source registers: the `service.webhooks` keys it reads, as (key, type, default),
# and how to build its receiver from them (None when its webhooks are not configured).
ReceiverFactory = Callable[[str, Any, Mapping[str, str], SecretBook], "Receiver | None"]


@dataclass(frozen=True)
class WebhookSpec:
    settings: tuple[tuple[str, Any, Any], ...]
    receiver: ReceiverFactory


def signed_webhook(key: str, receiver: Callable[[str], Receiver]) -> WebhookSpec:
    """The webhooks of a source that signs with a shared secret: `service.webhooks.<key>_env`
    or `<key>_file` holds it (the file wins), and `receiver(secret)` checks deliveries. An
    unset secret leaves the webhook off."""

    def build(
        name: str, settings: Any, environ: Mapping[str, str], secrets: SecretBook
    ) -> Receiver | None:
        ref = secret_choice(settings, key, ("service", "webhooks"))
        try:
            secret = optional_secret(ref, environ)
        except SecretError as error:
            # Checked when the config is loaded: this is a file or variable changed since.
            log.error("webhook.secret_unusable", source=name, problem=str(error))
            return None
        return receiver(secret) if secret else None

    settings = ((f"{key}_env", EnvName | None, None), (f"{key}_file", SecretFile | None, None))
    return WebhookSpec(settings=settings, receiver=build)


class Webhooks:
    """Every configured source's receiver behind `/webhooks/<source>`."""

    def __init__(self, receivers: Mapping[str, Receiver], max_body: int = DEFAULT_MAX_BODY):
        self.receivers = dict(receivers)
        self.max_body = max_body

    @classmethod
    def from_settings(
        cls,
        specs: Mapping[str, WebhookSpec],
        settings: Any,
        environ: Mapping[str, str],
        secrets: SecretBook,
    ) -> Webhooks:
        receivers = {}
        for name, spec in specs.items():
            receiver = spec.receiver(name, settings, environ, secrets)
            if receiver is not None:
                receivers[name] = receiver
        return cls(receivers)

    def configured(self, source: str) -> bool:
        return source in self.receivers

    def handle(self, source: str, headers: Mapping[str, str], body: bytes) -> WebhookResult:
        lowered = {name.lower(): value for name, value in headers.items()}
        receiver = self.receivers.get(source)
        delivery = _delivery_id(receiver, lowered)
        try:
            if receiver is None:
                raise Reject(404, "webhook not configured")
            self._check_size(lowered, body)
            answer = receiver.receive(lowered, body)
            result = answer if isinstance(answer, WebhookResult) else queued(source, answer)
        except Reject as reject:
            log.warning(
                "webhook.rejected",
                source=source,
                status=reject.status,
                reason=reject.reason,
                delivery=delivery,
            )
            return WebhookResult(reject.status, {"error": reject.reason})
        log.info(
            "webhook.handled",
            source=source,
            status=result.status,
            changed=len(result.changed),
            delivery=delivery,
        )
        return result

    def _check_size(self, headers: Mapping[str, str], body: bytes) -> None:
        # The declared length first: the server can then refuse without reading the body.
        declared = headers.get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise Reject(400, "invalid Content-Length") from None
            if length < 0:
                raise Reject(400, "invalid Content-Length")
            if length > self.max_body:
                raise Reject(413, f"body over {self.max_body} bytes")
        if len(body) > self.max_body:
            raise Reject(413, f"body over {self.max_body} bytes")


# ------------------------------------------------------------------ signatures


def verify_prefixed(secret: str, body: bytes, header: str | None) -> None:
    """GitHub and Jira send ``sha256=<hex>``."""
    if not header:
        raise Reject(401, "missing signature")
    algorithm, _, digest = header.strip().partition("=")
    if algorithm.lower() != "sha256":
        raise Reject(401, "invalid signature")
    verify(secret, body, digest)


def verify(secret: str, body: bytes, digest: str | None) -> None:
    """HMAC-SHA256 of the raw body, hex, compared in constant time."""
    if not digest:
        raise Reject(401, "missing signature")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header may carry any.
    given = digest.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode(), given):
        raise Reject(401, "invalid signature")


# --------------------------------------------------------------------- payloads


def json_object(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        raise Reject(400, "send the webhook as application/json")
    if json_depth(body) > MAX_JSON_DEPTH:
        raise Reject(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: the depth check above should make it unreachable; kept as the
        # backstop, so no body can end a request thread without an answer.
        raise Reject(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise Reject(400, "body is not a JSON object")
    return payload


def json_depth(body: bytes) -> int:
    """How deep the body's arrays and objects nest, counted without parsing it (brackets
    inside strings do not count). Linear in the body, with no recursion."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", body)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def json_member(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    if not isinstance(value, dict):
        raise Reject(400, f"expected `{name}` to be an object")
    return value


def secret_from(environ: Mapping[str, str], variable: str | None) -> str | None:
    """The secret in the variable a `*_secret_env` key names; None when unset or empty."""
    return (environ.get(variable) or None) if variable else None


# ---------------------------------------------------------------------- results


def queued(source: str, keys: Iterable[str]) -> WebhookResult:
    changed = tuple(dict.fromkeys((source, key) for key in keys))
    if not changed:
        return WebhookResult(202, {"status": "ignored"})
    return WebhookResult(200, {"status": "queued", "changed": len(changed)}, {}, changed)


def ignored(event: str) -> WebhookResult:
    return WebhookResult(202, {"status": "ignored", "event": event})


def _delivery_id(receiver: Receiver | None, headers: Mapping[str, str]) -> str | None:
    """The sender's delivery id: lets an admin match a log line to the sender's log."""
    name = receiver.delivery_header if receiver is not None else None
    return headers.get(name) if name else None

"""Webhook signatures as GitHub, Jira and Asana send them: HMAC-SHA256 of the raw body.

The one place tests sign a delivery (import it as `from signing import ...`; the tests
directory is on `sys.path` through its conftest.py)."""

from __future__ import annotations

import hashlib
import hmac

JSON = {"Content-Type": "application/json"}


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `body` under `secret`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(secret: str, body: bytes, event: str = "issues") -> dict[str, str]:
    """GitHub: the event name and `X-Hub-Signature-256: sha256=<hex>`."""
    return {"X-GitHub-Event": event, "X-Hub-Signature-256": f"sha256={sign(secret, body)}", **JSON}


def jira_headers(secret: str, body: bytes) -> dict[str, str]:
    """Jira (a webhook with a secret): `X-Hub-Signature: sha256=<hex>`."""
    return {"X-Hub-Signature": f"sha256={sign(secret, body)}", **JSON}


def asana_headers(secret: str, body: bytes) -> dict[str, str]:
    """Asana: `X-Hook-Signature: <hex>` under the secret of the handshake."""
    return {"X-Hook-Signature": sign(secret, body), **JSON}

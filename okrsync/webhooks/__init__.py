"""Webhooks: what every source shares (size, dispatch, signatures) and one receiver each."""

from okrsync.webhooks._core import (
    DEFAULT_MAX_BODY,
    MemorySecretBook,
    Receiver,
    Reject,
    SecretBook,
    WebhookResult,
    Webhooks,
    WebhookSpec,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "MemorySecretBook",
    "Receiver",
    "Reject",
    "SecretBook",
    "WebhookResult",
    "WebhookSpec",
    "Webhooks",
]

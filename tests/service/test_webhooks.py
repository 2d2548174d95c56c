"""Webhook handling without a server: signatures, payload shapes, limits, handshake."""

from __future__ import annotations

import hashlib
import hmac
import json
from types import SimpleNamespace
from typing import Any

import pytest
from signing import asana_headers, github_headers, jira_headers, sign
from structlog.testing import capture_logs

from okrsync.registry import REGISTRY
from okrsync.webhooks import DEFAULT_MAX_BODY, MemorySecretBook, SecretBook, Webhooks
from okrsync.webhooks.asana import AsanaWebhook

GITHUB_SECRET = "gh-webhook-secret-1"
JIRA_SECRET = "jira-webhook-secret-2"
ASANA_SECRET = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


ASANA_SECRET_NAME = "asana"  # the Asana receiver keeps its handshake under the source's name


def make_webhooks(
    *,
    github_secret: str | None = GITHUB_SECRET,
    jira_secret: str | None = JIRA_SECRET,
    asana_enabled: bool = True,
    asana_secrets: SecretBook | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Webhooks:
    """The receivers as the daemon builds them: from `service.webhooks` and the environment."""
    settings = SimpleNamespace(
        github_secret_env="GH_HOOK", jira_secret_env="JIRA_HOOK", asana=asana_enabled
    )
    environ = {"GH_HOOK": github_secret or "", "JIRA_HOOK": jira_secret or ""}
    book = asana_secrets if asana_secrets is not None else MemorySecretBook()
    hooks = Webhooks.from_settings(REGISTRY.webhooks(), settings, environ, book)
    hooks.max_body = max_body
    return hooks


def github(hooks: Webhooks, event: str, payload: Any, *, secret: str = GITHUB_SECRET) -> Any:
    body = encode(payload)
    return hooks.handle("github", github_headers(secret, body, event), body)


def jira(hooks: Webhooks, payload: Any, *, secret: str = JIRA_SECRET) -> Any:
    body = encode(payload)
    return hooks.handle("jira", jira_headers(secret, body), body)


def asana(hooks: Webhooks, payload: Any, *, secret: str = ASANA_SECRET) -> Any:
    body = encode(payload)
    return hooks.handle("asana", asana_headers(secret, body), body)


def issue(number: int, repo: str = "acme/web", **extra: Any) -> dict[str, Any]:
    return {
        "number": number,
        "title": f"Issue {number}",
        "repository_url": f"https://api.github.com/repos/{repo}",
        **extra,
    }


# ------------------------------------------------------------------------ GitHub


def test_github_ping_is_answered() -> None:
    result = github(make_webhooks(), "ping", {"zen": "Keep it logically awesome."})
    assert (result.status, result.changed) == (200, ())


def test_github_issue_event_names_the_issue() -> None:
    payload = {"action": "labeled", "issue": issue(7), "repository": {"full_name": "acme/web"}}
    result = github(make_webhooks(), "issues", payload)
    assert result.status == 200
    assert result.changed == (("github", "acme/web#7"),)


def test_github_pull_request_is_skipped() -> None:
    pr = issue(8, pull_request={"url": "https://api.github.com/repos/acme/web/pulls/8"})
    result = github(make_webhooks(), "issues", {"action": "opened", "issue": pr})
    assert (result.status, result.changed) == (202, ())


@pytest.mark.parametrize("action", ["sub_issue_added", "sub_issue_removed"])
def test_github_sub_issue_event_names_parent_and_child_across_repos(action: str) -> None:
    # GitHub's shape for sub_issue_*: `repository` is the parent's, `sub_issue_repo` the child's.
    payload = {
        "action": action,
        "parent_issue": issue(1, "acme/plans"),
        "sub_issue": issue(42, "acme/web"),
        "sub_issue_repo": {"full_name": "acme/web"},
        "repository": {"full_name": "acme/plans"},
    }
    result = github(make_webhooks(), "sub_issues", payload)
    assert result.changed == (("github", "acme/plans#1"), ("github", "acme/web#42"))


def test_github_parent_issue_event_reads_the_parent_repo() -> None:
    # parent_issue_*: `repository` is the child's, `parent_issue_repo` the parent's; the
    # issues here lack `repository_url` so the repo objects are all there is to go on.
    payload = {
        "action": "parent_issue_added",
        "parent_issue": {"number": 3},
        "parent_issue_repo": {"full_name": "acme/plans"},
        "sub_issue": {"number": 9},
        "repository": {"full_name": "acme/web"},
    }
    result = github(make_webhooks(), "sub_issues", payload)
    assert result.changed == (("github", "acme/plans#3"), ("github", "acme/web#9"))


def test_github_other_events_are_accepted_and_ignored() -> None:
    result = github(make_webhooks(), "push", {"ref": "refs/heads/main"})
    assert (result.status, result.changed) == (202, ())


def test_github_bad_signature_is_refused() -> None:
    payload = {"action": "opened", "issue": issue(7)}
    result = github(make_webhooks(), "issues", payload, secret="not-the-secret")
    assert (result.status, result.changed) == (401, ())


def test_github_missing_signature_is_refused() -> None:
    body = encode({"action": "opened", "issue": issue(7)})
    result = make_webhooks().handle("github", {"X-GitHub-Event": "issues"}, body)
    assert (result.status, result.changed) == (401, ())


def test_github_sha1_signature_alone_is_refused() -> None:
    body = encode({"action": "opened", "issue": issue(7)})
    sha1 = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha1).hexdigest()
    headers = {"X-GitHub-Event": "issues", "X-Hub-Signature": f"sha1={sha1}"}
    assert make_webhooks().handle("github", headers, body).status == 401


def test_signature_is_checked_over_the_raw_bytes() -> None:
    body = encode({"action": "opened", "issue": issue(7)})
    headers = github_headers(GITHUB_SECRET, body)
    reformatted = json.dumps(json.loads(body), indent=2).encode()
    assert make_webhooks().handle("github", headers, reformatted).status == 401


def test_headers_are_read_case_insensitively() -> None:
    body = encode({"action": "opened", "issue": issue(7)})
    headers = {
        "x-github-event": "issues",
        "x-hub-signature-256": f"SHA256={sign(GITHUB_SECRET, body)}",
    }
    assert make_webhooks().handle("github", headers, body).changed == (("github", "acme/web#7"),)


# -------------------------------------------------------------------------- Jira


@pytest.mark.parametrize("event", ["jira:issue_created", "jira:issue_updated"])
def test_jira_issue_events_name_the_issue(event: str) -> None:
    payload = {"webhookEvent": event, "issue": {"id": "10001", "key": "ONB-12"}}
    result = jira(make_webhooks(), payload)
    assert (result.status, result.changed) == (200, (("jira", "ONB-12"),))


def test_jira_other_events_are_ignored() -> None:
    result = jira(make_webhooks(), {"webhookEvent": "comment_created", "comment": {}})
    assert (result.status, result.changed) == (202, ())


def test_jira_bad_and_missing_signatures_are_refused() -> None:
    payload = {"webhookEvent": "jira:issue_updated", "issue": {"key": "ONB-12"}}
    assert jira(make_webhooks(), payload, secret="wrong").status == 401
    assert make_webhooks().handle("jira", {}, encode(payload)).status == 401


def test_jira_issue_event_without_a_key_is_a_bad_request() -> None:
    assert jira(make_webhooks(), {"webhookEvent": "jira:issue_updated", "issue": {}}).status == 400


# ------------------------------------------------------------------------- Asana


def test_asana_handshake_then_signed_delivery_then_forgery() -> None:
    secrets = MemorySecretBook()
    hooks = make_webhooks(asana_secrets=secrets)

    handshake = hooks.handle("asana", {"X-Hook-Secret": ASANA_SECRET}, b"")
    assert handshake.status == 200
    assert handshake.headers == {"X-Hook-Secret": ASANA_SECRET}
    assert secrets.get(ASANA_SECRET_NAME) == ASANA_SECRET

    events = {
        "events": [
            {
                "action": "changed",
                "resource": {"gid": "1201", "resource_type": "task"},
                "parent": {"gid": "1100", "resource_type": "task"},
            },
            {
                "action": "added",
                "resource": {"gid": "1202", "resource_type": "task"},
                "parent": {"gid": "77", "resource_type": "project"},
            },
            {
                "action": "added",
                "resource": {"gid": "9", "resource_type": "story"},
                "parent": {"gid": "1201", "resource_type": "task"},
            },
            {"action": "changed", "resource": {"gid": "1201", "resource_type": "task"}},
        ]
    }
    delivered = asana(hooks, events)
    assert delivered.status == 200
    assert delivered.changed == (("asana", "1201"), ("asana", "1100"), ("asana", "1202"))

    forged = asana(hooks, events, secret="attacker-secret")
    assert (forged.status, forged.changed) == (401, ())


def test_asana_heartbeat_is_answered() -> None:
    hooks = make_webhooks(asana_secrets=MemorySecretBook({ASANA_SECRET_NAME: ASANA_SECRET}))
    result = asana(hooks, {"events": []})
    assert (result.status, result.changed) == (200, ())


def test_asana_delivery_before_any_handshake_is_refused() -> None:
    assert asana(make_webhooks(), {"events": []}).status == 401


def test_asana_missing_signature_is_refused() -> None:
    hooks = make_webhooks(asana_secrets=MemorySecretBook({ASANA_SECRET_NAME: ASANA_SECRET}))
    assert hooks.handle("asana", {}, encode({"events": []})).status == 401


def test_asana_second_handshake_cannot_replace_the_secret_by_default() -> None:
    secrets = MemorySecretBook({ASANA_SECRET_NAME: ASANA_SECRET})
    hooks = make_webhooks(asana_secrets=secrets)
    assert hooks.handle("asana", {"X-Hook-Secret": ASANA_SECRET}, b"").status == 200
    assert hooks.handle("asana", {"X-Hook-Secret": "attacker"}, b"").status == 409
    assert secrets.get(ASANA_SECRET_NAME) == ASANA_SECRET

    receiver = hooks.receivers["asana"]
    assert isinstance(receiver, AsanaWebhook)
    receiver.replace_secret = True  # while re-registering the webhook on purpose
    assert hooks.handle("asana", {"X-Hook-Secret": "renewed"}, b"").status == 200
    assert secrets.get(ASANA_SECRET_NAME) == "renewed"


def test_asana_handshake_secret_that_cannot_be_a_header_is_refused() -> None:
    result = make_webhooks().handle("asana", {"X-Hook-Secret": "a b\r\nSet-Cookie: x"}, b"")
    assert result.status == 400
    assert result.headers == {}


# ---------------------------------------------------------------- common rules


def test_body_over_the_limit_is_refused_by_declared_length_before_anything() -> None:
    hooks = make_webhooks(max_body=100)
    headers = {"Content-Length": "101", "X-GitHub-Event": "issues"}
    assert hooks.handle("github", headers, b"").status == 413


def test_body_over_the_limit_is_refused_by_actual_length() -> None:
    hooks = make_webhooks(max_body=100)
    body = b"{" + b" " * 200 + b"}"
    headers = github_headers(GITHUB_SECRET, body)
    assert hooks.handle("github", headers, body).status == 413


def test_bad_json_is_a_bad_request() -> None:
    body = b"{not json"
    headers = github_headers(GITHUB_SECRET, body)
    result = make_webhooks().handle("github", headers, body)
    assert (result.status, result.changed) == (400, ())
    assert jira(make_webhooks(), [1, 2]).status == 400  # JSON, but not an object


def test_unconfigured_and_unknown_sources_are_not_found() -> None:
    hooks = make_webhooks(github_secret=None, jira_secret="", asana_enabled=False)
    for source in ("github", "jira", "asana", "trello"):
        assert hooks.handle(source, {}, b"{}").status == 404


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes | str, bytes | str]] = []
    real = hmac.compare_digest

    def recording(a: bytes | str, b: bytes | str) -> bool:
        calls.append((a, b))
        return real(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(hmac, "compare_digest", recording)
    hooks = make_webhooks(asana_secrets=MemorySecretBook({ASANA_SECRET_NAME: ASANA_SECRET}))
    github(hooks, "issues", {"action": "opened", "issue": issue(1)})
    jira(hooks, {"webhookEvent": "jira:issue_updated", "issue": {"key": "A-1"}})
    asana(hooks, {"events": []})
    assert len(calls) == 3


def test_secrets_and_signatures_are_never_logged() -> None:
    hooks = make_webhooks()
    body = encode({"action": "opened", "issue": issue(7)})
    signature = f"sha256={sign(GITHUB_SECRET, body)}"
    with capture_logs() as logs:
        hooks.handle("github", {"X-GitHub-Event": "issues", "X-Hub-Signature-256": signature}, body)
        hooks.handle(
            "github", {"X-GitHub-Event": "issues", "X-Hub-Signature-256": "sha256=00"}, body
        )
        hooks.handle("asana", {"X-Hook-Secret": ASANA_SECRET}, b"")
    assert logs, "handling is logged"
    text = repr(logs)
    for secret in (GITHUB_SECRET, JIRA_SECRET, ASANA_SECRET, signature[7:]):
        assert secret not in text

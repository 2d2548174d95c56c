"""Open a connection to each configured source, with its secrets from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from okrsync.config import Config
from okrsync.logs import redact_secrets
from okrsync.sources import AsanaSource, FatalError, GithubSource, JiraSource, Source

SourceFactory = Callable[[str], Source]


def source_factory(config: Config, environ: Mapping[str, str] | None = None) -> SourceFactory:
    env = os.environ if environ is None else environ

    def connect(name: str) -> Source:
        if name == "jira" and config.sources.jira is not None:
            jira = config.sources.jira
            email = env.get(jira.auth.email_env) if jira.auth.email_env else None
            token = env.get(jira.auth.token_env, "")
            redact_secrets.add(token)
            if email:
                redact_secrets.add_basic_auth(email, token)
            return JiraSource(jira, token=token, email=email)
        if name == "github" and config.sources.github is not None:
            github = config.sources.github
            github_token = env.get(github.token_env) if github.token_env else None
            if github_token:
                redact_secrets.add(github_token)
            return GithubSource(github, token=github_token)
        if name == "asana" and config.sources.asana is not None:
            asana = config.sources.asana
            asana_token = env.get(asana.token_env, "")
            redact_secrets.add(asana_token)
            return AsanaSource(asana, token=asana_token)
        raise FatalError(name, f"no source named {name!r} is configured")

    return connect

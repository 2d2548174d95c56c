"""Open a connection to each configured source, with its secrets from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from okrsync.config import Config
from okrsync.logs import redact_secrets
from okrsync.registry import REGISTRY, Registry
from okrsync.sources import FatalError, Source

SourceFactory = Callable[[str], Source]


def source_factory(
    config: Config, environ: Mapping[str, str] | None = None, registry: Registry = REGISTRY
) -> SourceFactory:
    env = os.environ if environ is None else environ

    def connect(name: str) -> Source:
        spec, source_config = registry.get(name), config.sources.get(name)
        if spec is None or source_config is None:
            raise FatalError(name, f"no source named {name!r} is configured")
        for _, variable in source_config.secrets():
            # Known before any request: a library's error text can never carry it out.
            redact_secrets.add(env.get(variable, ""))
        return spec.connect(source_config, env)

    return connect

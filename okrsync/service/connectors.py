"""Open a connection to each configured source, with its secrets from the environment
or from the files the config names."""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Callable, Mapping

from okrsync.config import Config, SecretError, as_secret_ref, read_secret
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
        # Every secret is read once, here: stripped, checked, and registered for
        # redaction before any request, so a library's error text can never carry it
        # out. The connector finds each value under the name it reads.
        resolved: dict[str, str] = {}
        for ref in map(as_secret_ref, source_config.secrets()):
            try:
                value = read_secret(ref, env)
            except SecretError as error:
                key = ".".join(("sources", name, *ref.path))
                raise FatalError(name, f"{key}: {error}") from None
            resolved[ref.resolved_key] = value
        return spec.connect(source_config, ChainMap(resolved, dict(env)))

    return connect

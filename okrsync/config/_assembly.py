"""One Config model from the registered sources: each adds its `sources.<name>` model,
its `writeback.<name>` switches and its webhook settings; nothing here names a source."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any, Protocol

from pydantic import create_model

from okrsync.config._models import (
    Config,
    ServiceConfig,
    SourceConfig,
    SourcesConfig,
    WebhooksConfig,
    WritebackConfig,
    writeback_model_of,
)


class ConfigPart(Protocol):
    """What a registered source contributes to the config (see `okrsync.registry`)."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> type[SourceConfig]: ...

    @property
    def webhook_settings(self) -> tuple[tuple[str, Any, Any], ...]:
        """`(key, type, default)` for each `service.webhooks` key the source reads."""
        ...


def config_model(parts: Iterable[ConfigPart]) -> type[Config]:
    return _assemble(tuple((part.name, part.config, part.webhook_settings) for part in parts))


@cache
def _assemble(
    parts: tuple[tuple[str, type[SourceConfig], tuple[tuple[str, Any, Any], ...]], ...],
) -> type[Config]:
    sources: Any = {name: (model | None, None) for name, model, _ in parts}
    switches: Any = {
        name: (writeback_model_of(model), writeback_model_of(model)()) for name, model, _ in parts
    }
    settings: Any = {key: (kind, default) for *_, keys in parts for key, kind, default in keys}
    sources_model = create_model("SourcesConfig", __base__=SourcesConfig, **sources)
    writeback_model = create_model("WritebackConfig", __base__=WritebackConfig, **switches)
    webhooks_model = create_model("WebhooksConfig", __base__=WebhooksConfig, **settings)
    service_model = create_model(
        "ServiceConfig", __base__=ServiceConfig, webhooks=(webhooks_model, webhooks_model())
    )
    model: type[Config] = create_model(
        "Config",
        __base__=Config,
        sources=(sources_model, sources_model()),
        writeback=(writeback_model, writeback_model()),
        service=(service_model, service_model()),
    )
    return model

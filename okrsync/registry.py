"""Every source okrsync knows, registered once: its config model, how to connect with its
secrets, how its comments are rendered, and what its webhooks look like.

Everything that varies by source reads this list: the config models and secret checks,
the connector factory, planning (renderers), the webhook endpoint, the daemon's jobs and
the deploy manifests' tests. Adding a source is one connector module with its settings in
a module of their own beside it (`okrsync/sources/<name>_config.py`), one renderer (or a
reused one), one sandbox module, and one line below.

Reading the registry loads each source's settings and webhook spec, never its connector
or its renderer: those load on first use, so that the commands that only read the config
(`validate`, `status`, `metric`) never import an HTTP client, tenacity or orjson.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from okrsync.config import Config, SourceConfig, config_model
from okrsync.sources import asana_config, github_config, jira_config
from okrsync.webhooks import WebhookSpec
from okrsync.webhooks import asana as asana_webhook
from okrsync.webhooks import github as github_webhook
from okrsync.webhooks import jira as jira_webhook

if TYPE_CHECKING:
    from okrsync.sources import Source

# (target, its KRs' statuses, cycle, **the writeback config's `comment_options()`) -> body
CommentRenderer = Callable[..., str]
# Builds a connection from the source's own config and the environment holding its secrets.
Connect = Callable[[Any, Mapping[str, str]], "Source"]


def _connect(module: str) -> Connect:
    """`module.connect`, imported when the first connection is made (see `_renderer`)."""

    def connect(config: Any, environ: Mapping[str, str]) -> Source:
        from importlib import import_module

        function: Connect = import_module(module).connect
        return function(config, environ)

    return connect


def _renderer(module: str, name: str) -> CommentRenderer:
    """`module.name`, imported when the first comment is rendered: the commands that only
    read the config (`validate`, `status`, `metric`) never load the renderers."""

    def render(*args: Any, **kwargs: Any) -> str:
        from importlib import import_module

        function: CommentRenderer = getattr(import_module(module), name)
        return function(*args, **kwargs)

    return render


@dataclass(frozen=True)
class SourceSpec:
    """One system okrsync pulls from and writes back to."""

    name: str
    config: type[SourceConfig]
    connect: Connect
    render_comment: CommentRenderer
    webhook: WebhookSpec | None = None

    @property
    def webhook_settings(self) -> tuple[tuple[str, Any, Any], ...]:
        return self.webhook.settings if self.webhook is not None else ()


class Registry:
    """The registered sources, in the order cycles visit them."""

    def __init__(self, specs: Iterable[SourceSpec]):
        self._specs = {spec.name: spec for spec in specs}

    def __iter__(self) -> Iterator[SourceSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> SourceSpec | None:
        return self._specs.get(name)

    def with_source(self, spec: SourceSpec) -> Registry:
        """This registry plus one more source (a plugin, or a test's toy source)."""
        return Registry([*self, spec])

    def config_model(self) -> type[Config]:
        return config_model(self)

    def webhooks(self) -> dict[str, WebhookSpec]:
        return {spec.name: spec.webhook for spec in self if spec.webhook is not None}


# One line a source. Kept on one line each so that adding a source is one line.
# fmt: off
REGISTRY = Registry([
    SourceSpec("jira", jira_config.JiraSourceConfig, _connect("okrsync.sources.jira"), _renderer("okrsync.render.jira", "render_jira_comment"), jira_webhook.WEBHOOK),
    SourceSpec("github", github_config.GithubSourceConfig, _connect("okrsync.sources.github"), _renderer("okrsync.render.github", "render_github_comment"), github_webhook.WEBHOOK),
    SourceSpec("asana", asana_config.AsanaSourceConfig, _connect("okrsync.sources.asana"), _renderer("okrsync.render.asana", "render_asana_comment"), asana_webhook.WEBHOOK),
])
# fmt: on

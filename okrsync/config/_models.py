"""The config's shape: what every deployment has, and the base every source's model extends.

The per-source parts (`sources.<name>`, `writeback.<name>`, webhook settings) are not
listed here: each source brings its own model, and `_assembly.config_model` puts them
together from the source registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from okrsync.config._secrets import SecretFile, SecretRef, paired_refs, secret_choice
from okrsync.config._types import EnvName, Interval, Seconds, Strict, compiled_pattern
from okrsync.config._types import require_http_url as _require_http_url
from okrsync.domain import (
    DEFAULT_LABEL_PATTERN,
    Bucket,
    Cycle,
    Grading,
    KeyResult,
    KRKind,
    Objective,
    Rules,
    ValueRange,
)


class CycleConfig(Strict):
    name: str
    start: date
    end: date

    @model_validator(mode="after")
    def _end_not_before_start(self) -> CycleConfig:
        if self.end < self.start:
            raise ValueError(f"the cycle ends ({self.end}) before it starts ({self.start})")
        return self


class StoreConfig(Strict):
    url: str = "sqlite:///okrsync.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return url


class SourceConfig(Strict):
    """What every source has: where it is, how often to pull, how long a request may take."""

    url: str
    timeout: Seconds = 30
    # Re-read this much before the bookmark: covers search-index lag and clock rounding.
    overlap: Seconds = 120
    interval: Interval = Field(default="5m", validate_default=True)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return _require_http_url(url)

    def secrets(self) -> Iterator[SecretRef]:
        """The secrets this source needs to connect: each one's key (`*_env` or `*_file`,
        below the source's own key) and the environment variable or file it names."""
        return iter(())


def writeback_model_of(source_model: type[SourceConfig]) -> type[TargetWritebackConfig]:
    """The `writeback.<name>` model of a source: its config model's `writeback_model`
    class attribute (a `TargetWritebackConfig` subclass) when it has one."""
    model = getattr(source_model, "writeback_model", None)
    if isinstance(model, type) and issubclass(model, TargetWritebackConfig):
        return model
    return TargetWritebackConfig


class SourcesConfig(Strict):
    """`sources:`: one optional key per registered source (see `_assembly`)."""

    def enabled(self) -> list[str]:
        return [name for name, _ in self.items()]

    def get(self, name: str) -> SourceConfig | None:
        value = getattr(self, name, None) if name in type(self).model_fields else None
        return value if isinstance(value, SourceConfig) else None

    def items(self) -> list[tuple[str, SourceConfig]]:
        found = ((name, self.get(name)) for name in type(self).model_fields)
        return [(name, config) for name, config in found if config is not None]


class CreditConfig(Strict):
    todo: float = Field(default=0.0, ge=0, le=1)
    in_progress: float = Field(default=0.0, ge=0, le=1)
    done: float = Field(default=1.0, ge=0, le=1)


class MappingConfig(Strict):
    label_pattern: str = DEFAULT_LABEL_PATTERN
    inherit_from_parent: bool = True
    weight: Literal["points", "count"] = "points"
    default_points: float = Field(default=1.0, ge=0)
    credit: CreditConfig = CreditConfig()
    status_buckets: dict[str, Bucket] = Field(default_factory=dict)
    label_buckets: dict[str, Bucket] = Field(default_factory=dict)

    @field_validator("label_pattern")
    @classmethod
    def _pattern_with_kr_group(cls, pattern: str) -> str:
        return compiled_pattern(pattern, "label_pattern", "kr", "the KR id")


# --- outcome metrics: where a KR's value comes from ------------------------------------

METRIC_TYPES = ("manual", "csv", "http", "sql", "jql_count", "github_search_count", "prometheus")


class _MetricBase(Strict):
    """What every metric has: how often it is read (`interval`; the daemon samples each
    metric on its own schedule, `sync --once` reads every one once)."""

    interval: Interval = Field(default="1h", validate_default=True)

    def secrets(self) -> Iterator[SecretRef]:
        """The secrets a reading needs, each with its key below `metric`."""
        return iter(())


class ManualMetric(Strict):
    """Check-ins with `okrsync metric set` / `metric import`: nothing to read."""

    type: Literal["manual"] = "manual"


class CsvMetric(_MetricBase):
    """A file with `at,value` rows (or `kr,at,value` when one file serves several KRs)."""

    type: Literal["csv"]
    path: Annotated[str, Field(min_length=1)]
    interval: Interval = Field(default="5m", validate_default=True)


class _Headers(Strict):
    """Request headers whose values are secrets: header name -> env var / file."""

    headers_env: dict[str, EnvName] = Field(default_factory=dict)
    headers_file: dict[str, SecretFile] = Field(default_factory=dict)

    def header_refs(self) -> Iterator[tuple[str, SecretRef]]:
        """(header name, its secret); for a header in both maps the file wins, as for
        every `*_file` key."""
        for name, env in self.headers_env.items():
            if name not in self.headers_file:
                yield name, SecretRef(("headers_env",), env)
        for name, file in self.headers_file.items():
            yield name, SecretRef(("headers_file",), file)


class HttpMetric(_MetricBase, _Headers):
    """GET a JSON document; a JSONPath picks the one number."""

    type: Literal["http"]
    url: str
    path: Annotated[str, Field(min_length=1)]
    timeout: Seconds = 30

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return _require_http_url(url)

    @field_validator("path")
    @classmethod
    def _jsonpath_parses(cls, path: str) -> str:
        from okrsync.metrics._jsonpath import compile_jsonpath

        compile_jsonpath(path)  # ValueError with the parser's reason
        return path

    def secrets(self) -> Iterator[SecretRef]:
        return (ref for _, ref in self.header_refs())


class SqlMetric(_MetricBase):
    """A query returning one number, on a database whose SQLAlchemy URL is a secret."""

    type: Literal["sql"]
    url_env: EnvName | None = None
    url_file: SecretFile | None = None
    query: Annotated[str, Field(min_length=1)]
    timeout: Seconds = 30

    @model_validator(mode="after")
    def _one_url(self) -> SqlMetric:
        if not self.url_env and not self.url_file:
            raise ValueError("a sql metric needs `url_env` (or `url_file`)")
        return self

    def url(self) -> SecretRef:
        ref = secret_choice(self, "url")
        assert ref is not None  # checked above
        return ref

    def secrets(self) -> Iterator[SecretRef]:
        yield self.url()


class JqlCountMetric(_MetricBase):
    """How many issues a JQL matches, through the configured Jira source."""

    type: Literal["jql_count"]
    jql: Annotated[str, Field(min_length=1)]


class GithubSearchCountMetric(_MetricBase):
    """`total_count` of a GitHub issue search, through the configured GitHub source."""

    type: Literal["github_search_count"]
    query: Annotated[str, Field(min_length=1)]


class PrometheusMetric(_MetricBase, _Headers):
    """An instant query through Prometheus' HTTP API; it must give one series or a scalar."""

    type: Literal["prometheus"]
    url: str
    query: Annotated[str, Field(min_length=1)]
    timeout: Seconds = 30

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return _require_http_url(url)

    def secrets(self) -> Iterator[SecretRef]:
        return (ref for _, ref in self.header_refs())


def _metric_type(value: Any) -> str:
    """The union's tag: `type`, or manual when it is left out (as before there were types)."""
    found = value.get("type", "manual") if isinstance(value, dict) else getattr(value, "type", "")
    return found if found in METRIC_TYPES else str(found)


MetricConfig = Annotated[
    Annotated[ManualMetric, Tag("manual")]
    | Annotated[CsvMetric, Tag("csv")]
    | Annotated[HttpMetric, Tag("http")]
    | Annotated[SqlMetric, Tag("sql")]
    | Annotated[JqlCountMetric, Tag("jql_count")]
    | Annotated[GithubSearchCountMetric, Tag("github_search_count")]
    | Annotated[PrometheusMetric, Tag("prometheus")],
    Discriminator(
        _metric_type,
        custom_error_type="metric_type",
        custom_error_message=f"metric.type must be one of {', '.join(METRIC_TYPES)}",
    ),
]
# The metrics a reader samples (every type but manual).
SampledMetric = (
    CsvMetric | HttpMetric | SqlMetric | JqlCountMetric | GithubSearchCountMetric | PrometheusMetric
)


class RangeConfig(Strict):
    """A `maintain` KR's band, both ends inclusive."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> RangeConfig:
        if self.min > self.max:
            raise ValueError(f"range min ({self.min}) is above max ({self.max})")
        return self


class KeyResultConfig(Strict):
    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    title: str
    unit: str = ""
    # How the outcome is read (docs/design.md, "KR kinds"); baseline/target: `auto` only.
    kind: KRKind = "auto"
    grading: Grading = "committed"
    baseline: float | None = None
    target: float | None = None
    range: RangeConfig | None = None
    weight: float = Field(default=1.0, gt=0)
    labels: list[str] = Field(default_factory=list)
    metric: MetricConfig = ManualMetric()
    # None: `health.stale_after`.
    stale_after: Seconds | None = None

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> KeyResultConfig:
        if self.kind == "auto":
            missing = [key for key in ("baseline", "target") if getattr(self, key) is None]
            if missing:
                raise ValueError(f"kind auto needs {' and '.join(missing)}")
            if self.baseline == self.target:
                raise ValueError("baseline and target are equal: progress would divide by zero")
        if self.kind == "maintain" and self.range is None:
            raise ValueError("kind maintain needs range: {min, max}")
        if self.kind != "maintain" and self.range is not None:
            raise ValueError(f"range is only for kind maintain (this KR is {self.kind})")
        return self


class ObjectiveConfig(Strict):
    id: Annotated[str, Field(min_length=1)]
    title: str
    owner: str = ""
    # The objective this one rolls up into (its id); checked in `_checks`.
    parent: str | None = None
    weight: float = Field(default=1.0, gt=0)
    # The share of in-flight weight this objective's own KRs should get, a percentage
    # 0-100; the sum over objectives (at most 100) is checked in `_checks`.
    allocation: float | None = Field(default=None, ge=0, le=100)
    key_results: list[KeyResultConfig] = Field(min_length=1)


class HealthConfig(Strict):
    on_track: float = Field(default=0.9, gt=0)
    at_risk: float = Field(default=0.6, ge=0)
    divergence: float = Field(default=0.4, gt=0, le=1)
    # A KR whose last check-in this cycle is older than this gets the flag stale_metric.
    stale_after: Seconds = Field(default="14d", validate_default=True)

    @model_validator(mode="after")
    def _ordered(self) -> HealthConfig:
        if self.at_risk > self.on_track:
            raise ValueError("at_risk must not be above on_track")
        return self


# What a write-back field holds (`writeback.<source>.fields`: field name -> one of these):
# health: the worst health of the target's KRs; outcome: their lowest outcome progress,
# percent 0-100; delivery: the target's own delivery progress, percent 0-100;
# key_results: the target's KR ids, comma-separated.
WritebackValue = Literal["health", "outcome", "delivery", "key_results"]


class TargetWritebackConfig(Strict):
    """`writeback.<source>`: what okrsync writes to that source's targets. A source whose
    model is a subclass (`SourceConfig.writeback_model`) may write more than the comment."""

    comment: bool = True

    def field_values(self) -> dict[str, WritebackValue]:
        """Fields to set, by name as the source shows it (none unless the source has them)."""
        return {}

    def status_property(self) -> bool:
        """Whether to keep the `okrsync.status` entity property (a Jira issue property)."""
        return False

    def health_labels(self) -> bool:
        """Whether to keep one `okr-health:*` label on each target (GitHub)."""
        return False

    def comment_options(self) -> dict[str, str]:
        """Keyword options for the source's comment renderer (Jira: `comment_format`)."""
        return {}


class WritebackConfig(Strict):
    """`writeback:`: `targets`, plus one `TargetWritebackConfig` per registered source."""

    targets: Literal["top_level", "all", "none"] = "top_level"
    # How often managed comments are read back (one GET per comment) to restore a
    # person's edit and recreate a deleted one; `sync --full` reconciles as well.
    reconcile: Seconds = Field(default="24h", validate_default=True)
    # An item that no longer maps to any KR: its comment becomes a one-line note that it is
    # no longer linked (`note`) or is deleted (`delete`); its fields, labels and property
    # are cleared either way.
    unmapped: Literal["note", "delete"] = "note"

    def for_source(self, name: str) -> TargetWritebackConfig:
        value = getattr(self, name, None) if name in type(self).model_fields else None
        return value if isinstance(value, TargetWritebackConfig) else TargetWritebackConfig()


class WebhooksConfig(Strict):
    """`service.webhooks:`: each registered source adds the settings its webhooks need."""

    def secrets(self) -> Iterator[SecretRef]:
        """Each `*_secret_env` / `*_secret_file` pair that is set (the file wins), with its
        key below `service.webhooks`."""
        return paired_refs(self)


class ServiceConfig(Strict):
    listen: Annotated[str, Field(pattern=r"^[^:\s]+:\d{1,5}$")] = "127.0.0.1:8787"
    webhooks: WebhooksConfig = WebhooksConfig()


class Config(Strict):
    version: Literal[1]
    cycle: CycleConfig
    store: StoreConfig = StoreConfig()
    sources: SourcesConfig = SourcesConfig()
    mapping: MappingConfig = MappingConfig()
    objectives: list[ObjectiveConfig] = Field(min_length=1)
    health: HealthConfig = HealthConfig()
    writeback: WritebackConfig = WritebackConfig()
    service: ServiceConfig = ServiceConfig()

    # --- views the rest of the program works with -------------------------------

    def domain_cycle(self) -> Cycle:
        return Cycle(name=self.cycle.name, start=self.cycle.start, end=self.cycle.end)

    def domain_objectives(self) -> tuple[Objective, ...]:
        return tuple(
            Objective(
                id=objective.id,
                title=objective.title,
                owner=objective.owner,
                parent=objective.parent,
                weight=objective.weight,
                allocation=objective.allocation,
                key_results=tuple(
                    KeyResult(
                        id=kr.id,
                        title=kr.title,
                        unit=kr.unit,
                        baseline=kr.baseline,
                        target=kr.target,
                        labels=tuple(kr.labels),
                        weight=kr.weight,
                        kind=kr.kind,
                        grading=kr.grading,
                        range=None if kr.range is None else ValueRange(kr.range.min, kr.range.max),
                        stale_after=(
                            None if kr.stale_after is None else timedelta(seconds=kr.stale_after)
                        ),
                    )
                    for kr in objective.key_results
                ),
            )
            for objective in self.objectives
        )

    def key_result(self, kr_id: str) -> KeyResultConfig | None:
        for objective in self.objectives:
            for kr in objective.key_results:
                if kr.id.casefold() == kr_id.casefold():
                    return kr
        return None

    def rules(self) -> Rules:
        credit = self.mapping.credit
        return Rules(
            label_pattern=self.mapping.label_pattern,
            inherit_from_parent=self.mapping.inherit_from_parent,
            weight=self.mapping.weight,
            default_points=self.mapping.default_points,
            credit={
                Bucket.TODO: credit.todo,
                Bucket.IN_PROGRESS: credit.in_progress,
                Bucket.DONE: credit.done,
            },
            status_buckets=dict(self.mapping.status_buckets),
            label_buckets=dict(self.mapping.label_buckets),
            on_track=self.health.on_track,
            at_risk=self.health.at_risk,
            divergence=self.health.divergence,
            writeback_targets=self.writeback.targets,
            stale_after=timedelta(seconds=self.health.stale_after),
        )

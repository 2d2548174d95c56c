"""The config's shape: what every deployment has, and the base every source's model extends.

The per-source parts (`sources.<name>`, `writeback.<name>`, webhook settings) are not
listed here: each source brings its own model, and `_assembly.config_model` puts them
together from the source registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from okrsync.config._secrets import SecretRef, paired_refs
from okrsync.config._types import Interval, Seconds, Strict, compiled_pattern
from okrsync.config._types import require_http_url as _require_http_url
from okrsync.domain import DEFAULT_LABEL_PATTERN, Bucket, Cycle, KeyResult, Objective, Rules


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


class MetricConfig(Strict):
    """Where a KR's outcome comes from. ``manual``: check-ins via ``okrsync metric set``;
    ``csv``: a file with ``at,value`` rows (optionally ``kr`` to share one file)."""

    type: Literal["manual", "csv"] = "manual"
    path: str | None = None

    @model_validator(mode="after")
    def _csv_has_path(self) -> MetricConfig:
        if self.type == "csv" and not self.path:
            raise ValueError("a csv metric needs `path`")
        return self


class KeyResultConfig(Strict):
    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    title: str
    unit: str = ""
    baseline: float
    target: float
    weight: float = Field(default=1.0, gt=0)
    labels: list[str] = Field(default_factory=list)
    metric: MetricConfig = MetricConfig()

    @model_validator(mode="after")
    def _target_differs_from_baseline(self) -> KeyResultConfig:
        if self.baseline == self.target:
            raise ValueError("baseline and target are equal: progress would divide by zero")
        return self


class ObjectiveConfig(Strict):
    id: Annotated[str, Field(min_length=1)]
    title: str
    owner: str = ""
    key_results: list[KeyResultConfig] = Field(min_length=1)


class HealthConfig(Strict):
    on_track: float = Field(default=0.9, gt=0)
    at_risk: float = Field(default=0.6, ge=0)
    divergence: float = Field(default=0.4, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> HealthConfig:
        if self.at_risk > self.on_track:
            raise ValueError("at_risk must not be above on_track")
        return self


class TargetWritebackConfig(Strict):
    comment: bool = True


class WritebackConfig(Strict):
    """`writeback:`: `targets`, plus one `TargetWritebackConfig` per registered source."""

    targets: Literal["top_level", "all", "none"] = "top_level"

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
                key_results=tuple(
                    KeyResult(
                        id=kr.id,
                        title=kr.title,
                        unit=kr.unit,
                        baseline=kr.baseline,
                        target=kr.target,
                        labels=tuple(kr.labels),
                        weight=kr.weight,
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
        )

"""The mapping config: pydantic models, YAML loading with line numbers, and every problem at once.

Problems are reported as ``file:line: path.to.key: message`` so an admin can jump
straight to the line; validation never stops at the first error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from okrsync.domain import Bucket, Cycle, KeyResult, Objective, Rules

DEFAULT_CONFIG_PATH = Path("config/okrsync.yaml")
DEFAULT_LABEL_PATTERN = r"^(?:okr|kr)[:/-](?P<kr>.+)$"
_ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Schedule:
    """A pull interval: a fixed period in seconds, or a 5-field cron expression."""

    seconds: int | None = None
    cron: str | None = None

    def __str__(self) -> str:
        return self.cron if self.cron is not None else f"{self.seconds}s"


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``5m``, ``1h`` or ``1d``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like 30s, 5m, 1h or 1d, got {text!r}")
    seconds = int(match["n"]) * _UNIT_SECONDS[match["unit"]]
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return seconds


def _parse_schedule(value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("an interval must be longer than zero")
        return Schedule(seconds=value)
    if not isinstance(value, str):
        raise ValueError("expected a duration (30s, 5m, 1h) or a cron expression")
    if len(value.split()) == 5:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as error:
            raise ValueError(f"invalid cron expression {value!r}: {error}") from None
        return Schedule(cron=value)
    return Schedule(seconds=parse_duration(value))


def _parse_seconds(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("a duration must be longer than zero")
        return value
    if not isinstance(value, str):
        raise ValueError("expected a duration like 30s, 5m or 1h")
    return parse_duration(value)


_DURATION_SCHEMA = {
    "type": "string",
    "pattern": r"^\d+\s*[smhd]$",
    "description": "30s, 5m, 1h, 1d",
}
Interval = Annotated[
    Schedule,
    BeforeValidator(_parse_schedule),
    # JSON (and the schema's `default`) spell a schedule the way the config does: "300s".
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {"anyOf": [_DURATION_SCHEMA, {"type": "string", "description": "5-field cron expression"}]}
    ),
]
Seconds = Annotated[
    int,
    BeforeValidator(_parse_seconds),
    WithJsonSchema({"anyOf": [_DURATION_SCHEMA, {"type": "integer", "minimum": 1}]}),
]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


# --------------------------------------------------------------------------- models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CycleConfig(_Strict):
    name: str
    start: date
    end: date

    @model_validator(mode="after")
    def _end_not_before_start(self) -> CycleConfig:
        if self.end < self.start:
            raise ValueError(f"the cycle ends ({self.end}) before it starts ({self.start})")
        return self


class StoreConfig(_Strict):
    url: str = "sqlite:///okrsync.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return url


class JiraAuthConfig(_Strict):
    email_env: EnvName | None = None
    token_env: EnvName = "JIRA_API_TOKEN"


class _SourceConfig(_Strict):
    """What every source has: where it is and how long a request may take."""

    url: str
    timeout: Seconds = 30
    # Re-read this much before the bookmark: covers search-index lag and clock rounding.
    overlap: Seconds = 120

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return _require_http_url(url)


class JiraSourceConfig(_SourceConfig):
    auth: JiraAuthConfig = JiraAuthConfig()
    jql: str
    story_points_field: str | None = "Story Points"
    epic_link_field: str = "Epic Link"
    interval: Interval = Field(default="5m", validate_default=True)
    page_size: int = Field(default=100, ge=1, le=100)

    @field_validator("jql")
    @classmethod
    def _no_order_by(cls, jql: str) -> str:
        if re.search(r"\border\s+by\b", jql, re.IGNORECASE):
            raise ValueError("leave ORDER BY out: okrsync orders the pull itself")
        return jql


class GithubAppConfig(_Strict):
    app_id: int
    private_key_file: str
    installation_id: int


class GithubSourceConfig(_SourceConfig):
    url: str = "https://api.github.com"
    token_env: EnvName | None = "GITHUB_TOKEN"
    app: GithubAppConfig | None = None
    repos: list[Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")]] = Field(min_length=1)
    points_label_pattern: str = r"^(?:points|sp)[:=](?P<points>\d+(?:\.\d+)?)$"
    # PyGithub's own spacing between calls (its defaults); GitHub asks integrations to
    # leave a second between writes to stay clear of the secondary rate limit.
    seconds_between_requests: float = Field(default=0.25, ge=0)
    seconds_between_writes: float = Field(default=1.0, ge=0)
    interval: Interval = Field(default="5m", validate_default=True)

    @field_validator("points_label_pattern")
    @classmethod
    def _pattern_with_points_group(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"points_label_pattern does not compile: {error}") from None
        if "points" not in compiled.groupindex:
            raise ValueError(
                "points_label_pattern needs a named group (?P<points>...) for the number"
            )
        return pattern


class AsanaSourceConfig(_SourceConfig):
    url: str = "https://app.asana.com/api/1.0"
    token_env: EnvName = "ASANA_TOKEN"
    projects: list[str] = Field(min_length=1)
    points_field: str | None = None
    interval: Interval = Field(default="10m", validate_default=True)


class SourcesConfig(_Strict):
    jira: JiraSourceConfig | None = None
    github: GithubSourceConfig | None = None
    asana: AsanaSourceConfig | None = None

    def enabled(self) -> list[str]:
        return [name for name in ("jira", "github", "asana") if getattr(self, name) is not None]


class CreditConfig(_Strict):
    todo: float = Field(default=0.0, ge=0, le=1)
    in_progress: float = Field(default=0.0, ge=0, le=1)
    done: float = Field(default=1.0, ge=0, le=1)


class MappingConfig(_Strict):
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
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            raise ValueError(f"label_pattern does not compile: {error}") from None
        if "kr" not in compiled.groupindex:
            raise ValueError("label_pattern needs a named group (?P<kr>...) for the KR id")
        return pattern


class MetricConfig(_Strict):
    """Where a KR's outcome comes from. ``manual``: check-ins via ``okrsync metric set``;
    ``csv``: a file with ``at,value`` rows (optionally ``kr`` to share one file)."""

    type: Literal["manual", "csv"] = "manual"
    path: str | None = None

    @model_validator(mode="after")
    def _csv_has_path(self) -> MetricConfig:
        if self.type == "csv" and not self.path:
            raise ValueError("a csv metric needs `path`")
        return self


class KeyResultConfig(_Strict):
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


class ObjectiveConfig(_Strict):
    id: Annotated[str, Field(min_length=1)]
    title: str
    owner: str = ""
    key_results: list[KeyResultConfig] = Field(min_length=1)


class HealthConfig(_Strict):
    on_track: float = Field(default=0.9, gt=0)
    at_risk: float = Field(default=0.6, ge=0)
    divergence: float = Field(default=0.4, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> HealthConfig:
        if self.at_risk > self.on_track:
            raise ValueError("at_risk must not be above on_track")
        return self


class TargetWritebackConfig(_Strict):
    comment: bool = True


class WritebackConfig(_Strict):
    targets: Literal["top_level", "all", "none"] = "top_level"
    jira: TargetWritebackConfig = TargetWritebackConfig()
    github: TargetWritebackConfig = TargetWritebackConfig()
    asana: TargetWritebackConfig = TargetWritebackConfig()


class WebhooksConfig(_Strict):
    github_secret_env: EnvName | None = None
    jira_secret_env: EnvName | None = None
    asana: bool = False


class ServiceConfig(_Strict):
    listen: Annotated[str, Field(pattern=r"^[^:\s]+:\d{1,5}$")] = "127.0.0.1:8787"
    webhooks: WebhooksConfig = WebhooksConfig()


class Config(_Strict):
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


def _require_http_url(url: str) -> str:
    if not re.match(r"^https?://[^\s/]+", url):
        raise ValueError("expected an http(s) URL")
    return url.rstrip("/")


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every reason, each with its line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass
class LoadedConfig:
    config: Config
    path: Path
    lines: _LineIndex

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        return Problem(str(self.path), self.lines.line_of(path), _dotted(path), message)


class _LineIndex:
    """Remembers, for each key path in the YAML document, the line it sits on."""

    def __init__(self) -> None:
        self._lines: dict[tuple[str | int, ...], int] = {}

    def record(self, path: tuple[str | int, ...], line: int) -> None:
        self._lines.setdefault(path, line)

    def line_of(self, path: tuple[str | int, ...]) -> int:
        # A missing key has no line of its own: point at the nearest ancestor that has one.
        for length in range(len(path), -1, -1):
            line = self._lines.get(tuple(path[:length]))
            if line is not None:
                return line
        return 1


def _dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


# --------------------------------------------------------------------------- loading


def resolve_config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("OKRSYNC_CONFIG")
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, interpolate and validate the config; raise ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError([Problem(name, 1, "(file)", f"cannot read: {reason}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problem = Problem(name, line, "(file)", f"not UTF-8 text: {error.reason}")
        raise ConfigError([problem]) from None

    lines = _LineIndex()
    problems: list[Problem] = []
    try:
        raw = _parse_yaml(text, lines, problems, name)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([Problem(name, line, "(yaml)", _yaml_message(error))]) from None
    if not isinstance(raw, dict):
        raise ConfigError([Problem(name, 1, "(root)", "the config must be a mapping of keys")])

    before = len(problems)
    raw = _interpolate(raw, (), environ, lines, problems, name)
    # A value left empty by an unset variable is reported once, as the unset variable.
    unset = {problem.path for problem in problems[before:]}
    problems.extend(_cross_reference_problems(raw, lines, name))
    config: Config | None = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        problems.extend(p for p in _pydantic_problems(error, lines, name) if p.path not in unset)
    if problems or config is None:
        raise ConfigError(sorted(set(problems), key=lambda p: (p.line, p.path, p.message)))
    return LoadedConfig(config=config, path=path, lines=lines)


def _yaml_message(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    return " ".join(part for part in (context, problem) if part) or "invalid YAML"


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as text: pydantic parses the dates, and an
    impossible one (2026-13-01) becomes a problem with its line instead of a crash."""


def _timestamp_as_text(loader: _Loader, node: yaml.Node) -> str:
    return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _parse_yaml(text: str, lines: _LineIndex, problems: list[Problem], name: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _index_node(node, (), lines, problems, name)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _index_node(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: _LineIndex,
    problems: list[Problem],
    name: str,
) -> None:
    lines.record(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                problems.append(
                    Problem(name, key_node.start_mark.line + 1, _dotted(child), "duplicate key")
                )
            seen.add(key)
            lines.record(child, key_node.start_mark.line + 1)
            _index_node(value_node, child, lines, problems, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_node(item, (*path, index), lines, problems, name)


def _interpolate(
    value: Any,
    path: tuple[str | int, ...],
    environ: Mapping[str, str],
    lines: _LineIndex,
    problems: list[Problem],
    name: str,
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in strings: for URLs and paths, never secrets."""
    if isinstance(value, dict):
        # Keys are text, as the line index records them (`1:` or `on:` would not be).
        return {
            str(k): _interpolate(v, (*path, str(k)), environ, lines, problems, name)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(v, (*path, i), environ, lines, problems, name) for i, v in enumerate(value)
        ]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        variable, default = match["name"], match["default"]
        if variable in environ:
            return environ[variable]
        if default is not None:
            return default
        problems.append(
            Problem(
                name,
                lines.line_of(path),
                _dotted(path),
                f"environment variable {variable} is not set",
            )
        )
        return ""

    return _ENV_REFERENCE.sub(substitute, value)


def _pydantic_problems(error: ValidationError, lines: _LineIndex, name: str) -> Iterator[Problem]:
    for detail in error.errors(include_url=False):
        path = tuple(part for part in detail["loc"] if not _is_union_tag(part))
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        yield Problem(name, lines.line_of(path), _dotted(path), message)


def _is_union_tag(part: str | int) -> bool:
    # pydantic puts the chosen union member ("function-before[...]", "Schedule") into locations
    return isinstance(part, str) and ("[" in part or part in {"Schedule"})


def _cross_reference_problems(
    raw: dict[str, Any], lines: _LineIndex, name: str
) -> Iterator[Problem]:
    """Checks that span several objects; run on raw data so they show beside field errors."""
    objectives = raw.get("objectives")
    if not isinstance(objectives, list):
        return
    objective_ids: dict[str, int] = {}
    path: tuple[str | int, ...]
    kr_ids: dict[str, tuple[str | int, ...]] = {}
    label_owner: dict[str, str] = {}
    for o_index, objective in enumerate(objectives):
        if not isinstance(objective, dict):
            continue
        o_id = objective.get("id")
        if isinstance(o_id, str):
            if _fold(o_id) in objective_ids:
                path = ("objectives", o_index, "id")
                first = objective_ids[_fold(o_id)]
                yield Problem(
                    name,
                    lines.line_of(path),
                    _dotted(path),
                    f"duplicate objective id {o_id!r} (first at objectives[{first}])",
                )
            objective_ids.setdefault(_fold(o_id), o_index)
        krs = objective.get("key_results")
        if not isinstance(krs, list):
            continue
        for k_index, kr in enumerate(krs):
            if not isinstance(kr, dict):
                continue
            base = ("objectives", o_index, "key_results", k_index)
            kr_id = kr.get("id")
            if isinstance(kr_id, str):
                if _fold(kr_id) in kr_ids:
                    path = (*base, "id")
                    yield Problem(
                        name,
                        lines.line_of(path),
                        _dotted(path),
                        f"duplicate key result id {kr_id!r} "
                        f"(first at {_dotted(kr_ids[_fold(kr_id)])})",
                    )
                kr_ids.setdefault(_fold(kr_id), base)
            labels = kr.get("labels")
            if not isinstance(labels, list):
                continue
            for l_index, label in enumerate(labels):
                if not isinstance(label, str):
                    continue
                owner = label_owner.get(_fold(label))
                if owner is not None and owner != kr_id:
                    path = (*base, "labels", l_index)
                    yield Problem(
                        name,
                        lines.line_of(path),
                        _dotted(path),
                        f"label {label!r} is already claimed by key result {owner!r}",
                    )
                label_owner.setdefault(_fold(label), str(kr_id))


def _fold(text: str) -> str:
    # The domain's normalisation (mapping._fold): " Shared" and "shared" are one label.
    return text.strip().casefold()


# --------------------------------------------------------------------------- secrets


def missing_secrets(
    loaded: LoadedConfig, sources: Iterable[str], environ: Mapping[str, str] | None = None
) -> list[Problem]:
    """Environment variables the named sources need but that are unset (checked at sync time)."""
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    for _source, path, variable in _secret_references(loaded.config, sources):
        if not environ.get(variable):
            problems.append(loaded.problem(path, f"environment variable {variable} is not set"))
    return problems


def _secret_references(
    config: Config, sources: Iterable[str]
) -> Iterator[tuple[str, tuple[str, ...], str]]:
    wanted = set(sources)
    jira, github, asana = config.sources.jira, config.sources.github, config.sources.asana
    if jira is not None and "jira" in wanted:
        yield "jira", ("sources", "jira", "auth", "token_env"), jira.auth.token_env
        if jira.auth.email_env:
            yield "jira", ("sources", "jira", "auth", "email_env"), jira.auth.email_env
    if github is not None and "github" in wanted and github.app is None and github.token_env:
        yield "github", ("sources", "github", "token_env"), github.token_env
    if asana is not None and "asana" in wanted:
        yield "asana", ("sources", "asana", "token_env"), asana.token_env


def json_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "okrsync config"
    return schema

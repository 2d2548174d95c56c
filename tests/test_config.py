"""The config contract: loading, every problem at once as file:line, env, schema, CLI."""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from textwrap import dedent

import pytest
import structlog
import yaml
from pydantic import BaseModel, ValidationError

from okrsync import config as config_module
from okrsync.cli import main
from okrsync.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_LABEL_PATTERN,
    Config,
    ConfigError,
    LoadedConfig,
    Schedule,
    SourceConfig,
    default_model,
    json_schema,
    load_config,
    missing_secrets,
    parse_duration,
    resolve_config_path,
)
from okrsync.domain import Bucket, Cycle, KeyResult, Objective, Rules, ValueRange
from okrsync.sources.github import GithubAppConfig, GithubSourceConfig
from okrsync.sources.jira import JiraSourceConfig

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "okrsync.example.yaml"

VALID = """\
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
sources:
  jira:
    url: https://acme.atlassian.net/
    auth: {email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}
    jql: "project in (ONB, SEC)"
objectives:
  - id: ONB
    title: Transform customer onboarding
    owner: jane@acme.example
    key_results:
      - id: ONB-1
        title: Increase onboarding completion rate from 68% to 85%
        unit: "%"
        baseline: 68
        target: 85
        labels: [onboarding-completion]
      - id: ONB-2
        title: Cut time to first value from 14 to 5 days
        unit: days
        baseline: 14
        target: 5
        weight: 2
"""


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    # `main` points structlog at the captured stderr; later tests must not log into it.
    yield
    structlog.reset_defaults()


def write(tmp_path: Path, text: str, name: str = "okrsync.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={} if environ is None else environ)
    return [str(problem) for problem in caught.value.problems]


S = typing.TypeVar("S", bound=SourceConfig)


def source(config: Config, kind: type[S]) -> S:
    """The config of the source `kind` configures, typed (the registry names the key)."""
    found = [value for _, value in config.sources.items() if isinstance(value, kind)]
    assert len(found) == 1, f"expected one {kind.__name__} in sources"
    return found[0]


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> LoadedConfig:
    return load_config(write(tmp_path, text), environ={} if environ is None else environ)


# --------------------------------------------------------------------------- loading


def test_a_valid_config_loads_with_its_values_and_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, VALID).config

    assert config.cycle.start == date(2026, 10, 1)
    assert config.cycle.end == date(2026, 12, 31)
    jira = source(config, JiraSourceConfig)
    assert jira.url == "https://acme.atlassian.net"  # trailing slash dropped
    assert jira.auth.email_env == "JIRA_EMAIL"
    assert jira.interval == Schedule(seconds=300)
    assert (jira.timeout, jira.page_size, jira.overlap) == (30, 100, 120)
    assert jira.story_points_field == "Story Points"
    assert config.sources.enabled() == ["jira"]
    assert config.store.url == f"sqlite:///{tmp_path / 'okrsync.db'}"  # next to the config
    assert config.mapping.label_pattern == DEFAULT_LABEL_PATTERN
    assert config.writeback.targets == "top_level"
    assert config.service.listen == "127.0.0.1:8787"

    assert config.domain_cycle() == Cycle("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    assert config.domain_objectives() == (
        Objective(
            id="ONB",
            title="Transform customer onboarding",
            owner="jane@acme.example",
            key_results=(
                KeyResult(
                    id="ONB-1",
                    title="Increase onboarding completion rate from 68% to 85%",
                    unit="%",
                    baseline=68,
                    target=85,
                    labels=("onboarding-completion",),
                ),
                KeyResult(
                    id="ONB-2",
                    title="Cut time to first value from 14 to 5 days",
                    unit="days",
                    baseline=14,
                    target=5,
                    weight=2,
                ),
            ),
        ),
    )
    found = config.key_result("onb-2")
    assert found is not None and found.id == "ONB-2"
    assert config.key_result("ONB-9") is None


def test_a_cycle_name_that_looks_like_a_date_stays_text(tmp_path: Path) -> None:
    text = VALID.replace("name: 2026-Q4", "name: 2026-10-01")
    assert load(tmp_path, text).config.cycle.name == "2026-10-01"


# --------------------------------------------------------------------------- every problem at once

EVERYTHING_WRONG = """\
version: 1
cycle: {name: Q4, start: 2026-12-31, end: 2026-10-01}
sources:
  jira:
    url: https://acme.atlassian.net
    jql: "project = ONB ORDER BY rank"
    interval: 5 minutes
    colour: blue
mapping:
  label_pattern: '^okr:(?P<id>.+)$'
  default_points: lots
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - id: ONB-1
        title: Flat
        baseline: 10
        target: 10
        labels: [Shared]
      - id: onb-1
        title: Same id, other case
        baseline: 0
        target: 1
        labels: ["shared "]
  - id: onb
    title: Same id again
    title: Twice
    key_results:
      - {id: X-1, title: x, baseline: 0, target: 1}
"""


def test_validate_reports_every_problem_at_once_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, EVERYTHING_WRONG)
    f = str(path)

    assert problems(path) == [
        f"{f}:2: cycle: the cycle ends (2026-10-01) before it starts (2026-12-31)",
        f"{f}:6: sources.jira.jql: leave ORDER BY out: okrsync orders the pull itself",
        f"{f}:7: sources.jira.interval: expected a duration like 30s, 5m, 1h or 1d, "
        "got '5 minutes'",
        f"{f}:8: sources.jira.colour: unknown key",
        f"{f}:10: mapping.label_pattern: "
        "label_pattern needs a named group (?P<kr>...) for the KR id",
        f"{f}:11: mapping.default_points: Input should be a valid number, "
        "unable to parse string as a number",
        f"{f}:16: objectives[0].key_results[0]: "
        "baseline and target are equal: progress would divide by zero",
        f"{f}:21: objectives[0].key_results[1].id: "
        "duplicate key result id 'onb-1' (first at objectives[0].key_results[0])",
        f"{f}:25: objectives[0].key_results[1].labels[0]: "
        "label 'shared ' is already claimed by key result 'ONB-1'",
        f"{f}:26: objectives[1].id: duplicate objective id 'onb' (first at objectives[0])",
        f"{f}:28: objectives[1].title: duplicate key",
    ]


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        pytest.param(
            "    jql:",
            "    interval: '*/5 * * * 99'\n    jql:",
            ":7: sources.jira.interval: invalid cron expression '*/5 * * * 99': ",
            id="invalid-cron",
        ),
        pytest.param(
            "sources:",
            "mapping: {label_pattern: '^okr:(?P<kr>.+'}\nsources:",
            ":3: mapping.label_pattern: label_pattern does not compile: missing ), "
            "unterminated subpattern at position 5",
            id="pattern-does-not-compile",
        ),
        pytest.param(
            "sources:",
            "mapping: {weight: hours}\nsources:",
            ":3: mapping.weight: Input should be 'points' or 'count'",
            id="wrong-literal",
        ),
        pytest.param(
            "    jql:",
            "    timeout: -3\n    jql:",
            ":7: sources.jira.timeout: a duration must be longer than zero",
            id="negative-timeout",
        ),
        pytest.param(
            "version: 1",
            "version: 2",
            ":1: version: Input should be 1",
            id="wrong-version",
        ),
        pytest.param(
            "        weight: 2",
            "        weight: 2\n        metric: {type: csv}",
            ":25: objectives[0].key_results[1].metric.csv.path: Field required",
            id="csv-without-path",
        ),
        pytest.param(
            "        weight: 2",
            "        weight: 2\n        metric: {type: snmp}",
            ":25: objectives[0].key_results[1].metric: metric.type must be one of manual, csv, "
            "http, sql, jql_count, github_search_count, prometheus",
            id="metric-type-unknown",
        ),
        pytest.param(
            "end: 2026-12-31}",
            "end: 2026-13-01}",
            ":2: cycle.end: Input should be a valid date or datetime, month value is outside "
            "expected range of 1-12",
            id="impossible-date",
        ),
        pytest.param(
            "version: 1",
            "version: 1\n1: one",
            ":2: 1: unknown key",
            id="non-text-key",
        ),
    ],
)
def test_single_problem(tmp_path: Path, replace: str, by: str, expected: str) -> None:
    assert replace in VALID
    path = write(tmp_path, VALID.replace(replace, by, 1))
    [problem] = problems(path)
    # Exact but for the cron case, where apscheduler appends its own explanation.
    assert problem.startswith(f"{path}{expected}")


def test_github_points_label_pattern_needs_the_points_group() -> None:
    with pytest.raises(ValidationError, match=r"named group \(\?P<points>"):
        GithubSourceConfig(repos=["acme/web"], points_label_pattern=r"^sp:(\d+)$")
    with pytest.raises(ValidationError, match="points_label_pattern does not compile"):
        GithubSourceConfig(repos=["acme/web"], points_label_pattern=r"^sp:(?P<points>\d+$")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        pytest.param(
            "version: 1\nobjectives:\n  - id: A\n   title: x\n",
            4,
            "while parsing a block collection expected <block end>, "
            "but found '<block mapping start>'",
            id="bad-indent",
        ),
        pytest.param(
            "version: 1\ncycle: {name: Q}\nobjectives:\n  - id: A\n\ttitle: tab\n",
            5,
            "while scanning for the next token found character '\\t' that cannot start any token",
            id="tab",
        ),
    ],
)
def test_a_yaml_syntax_error_is_one_problem_with_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, text)
    assert problems(path) == [f"{path}:{line}: (yaml): {message}"]


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    for name, text in (("empty.yaml", ""), ("list.yaml", "- version: 1\n")):
        path = write(tmp_path, text, name)
        assert problems(path) == [f"{path}:1: (root): the config must be a mapping of keys"]


def test_an_unreadable_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert problems(missing) == [f"{missing}:1: (file): cannot read: No such file or directory"]
    assert problems(tmp_path) == [f"{tmp_path}:1: (file): cannot read: Is a directory"]

    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"version: 1\ncycle:\n  name: Caf\xe9\n")
    assert problems(latin1) == [f"{latin1}:3: (file): not UTF-8 text: invalid continuation byte"]


# --------------------------------------------------------------------------- environment


ENV_CONFIG = """\
version: 1
cycle: {name: "${CYCLE:-2026-Q4}", start: 2026-10-01, end: 2026-12-31}
store:
  url: "sqlite:///${DB_DIR}/okrsync.db"
sources:
  jira:
    url: ${JIRA_URL}
    jql: "project = ${PROJECT:-ONB}"
  github:
    repos: ["${GH_ORG:-acme}/web"]
objectives:
  - id: O
    title: t
    key_results:
      - {id: K, title: k, baseline: 0, target: 1}
"""


def test_env_interpolation_with_and_without_defaults(tmp_path: Path) -> None:
    environ = {
        "DB_DIR": "/var/lib/okrsync",
        "JIRA_URL": "http://127.0.0.1:8080",
        "GH_ORG": "initech",
    }
    config = load(tmp_path, ENV_CONFIG, environ).config

    assert config.cycle.name == "2026-Q4"  # default used
    assert config.store.url == "sqlite:////var/lib/okrsync/okrsync.db"
    assert source(config, JiraSourceConfig).url == "http://127.0.0.1:8080"
    assert source(config, JiraSourceConfig).jql == "project = ONB"
    assert source(config, GithubSourceConfig).repos == ["initech/web"]  # the variable wins

    overridden = load(tmp_path, ENV_CONFIG, {**environ, "CYCLE": "FY27", "PROJECT": ""}).config
    assert overridden.cycle.name == "FY27"
    assert source(overridden, JiraSourceConfig).jql == "project = "  # set but empty is set


def test_an_unset_variable_is_reported_once_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, ENV_CONFIG)
    assert problems(path, {"DB_DIR": "/tmp"}) == [
        # Not also "expected an http(s) URL": the empty value is a consequence.
        f"{path}:7: sources.jira.url: environment variable JIRA_URL is not set",
    ]
    assert problems(path) == [
        f"{path}:4: store.url: environment variable DB_DIR is not set",
        f"{path}:7: sources.jira.url: environment variable JIRA_URL is not set",
    ]


def test_missing_secrets_are_checked_for_the_sources_that_sync(tmp_path: Path) -> None:
    text = VALID.replace(
        "objectives:",
        "  github:\n    repos: [acme/web]\n    token_env: GH_TOKEN\nobjectives:",
        1,
    )
    loaded = load(tmp_path, text)
    f = str(loaded.path)

    assert [str(p) for p in missing_secrets(loaded, ["jira"], environ={})] == [
        f"{f}:6: sources.jira.auth.token_env: environment variable JIRA_API_TOKEN is not set",
        f"{f}:6: sources.jira.auth.email_env: environment variable JIRA_EMAIL is not set",
    ]
    assert [
        str(p)
        for p in missing_secrets(
            loaded, ["jira", "github"], {"JIRA_EMAIL": "a@b", "JIRA_API_TOKEN": ""}
        )
    ] == [
        f"{f}:6: sources.jira.auth.token_env: environment variable JIRA_API_TOKEN is not set",
        f"{f}:10: sources.github.token_env: environment variable GH_TOKEN is not set",
    ]
    everything = {"JIRA_EMAIL": "a@b", "JIRA_API_TOKEN": "t0ken", "GH_TOKEN": "ghp"}
    assert missing_secrets(loaded, ["jira", "github"], everything) == []
    assert missing_secrets(loaded, ["github"], {"GH_TOKEN": "ghp"}) == []  # jira not syncing


def test_a_github_app_needs_no_token(tmp_path: Path) -> None:
    app = "    app: {app_id: 1, private_key_file: app.pem, installation_id: 2}\n"
    text = VALID.replace("objectives:", f"  github:\n    repos: [acme/web]\n{app}objectives:", 1)
    loaded = load(tmp_path, text)
    assert source(loaded.config, GithubSourceConfig).app == GithubAppConfig(
        app_id=1, private_key_file="app.pem", installation_id=2
    )
    assert missing_secrets(loaded, ["github"], environ={}) == []


def test_resolve_config_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OKRSYNC_CONFIG", raising=False)
    assert resolve_config_path(None) == DEFAULT_CONFIG_PATH == Path("config/okrsync.yaml")
    monkeypatch.setenv("OKRSYNC_CONFIG", "/etc/okrsync/okrsync.yaml")
    assert resolve_config_path(None) == Path("/etc/okrsync/okrsync.yaml")
    assert resolve_config_path("mine.yaml") == Path("mine.yaml")  # explicit beats the env
    monkeypatch.setenv("OKRSYNC_CONFIG", "")
    assert resolve_config_path(None) == DEFAULT_CONFIG_PATH


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), (" 2 m ", 120)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1.5h", "-5m", "five minutes"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 30s, 5m, 1h or 1d"):
        parse_duration(text)


def test_parse_duration_rejects_zero() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_duration("0s")


def github(**fields: object) -> GithubSourceConfig:
    return GithubSourceConfig.model_validate({"repos": ["acme/web"], **fields})


@pytest.mark.parametrize(
    ("value", "schedule", "text"),
    [
        ("30s", Schedule(seconds=30), "30s"),
        ("5m", Schedule(seconds=300), "300s"),
        ("1h", Schedule(seconds=3600), "3600s"),
        (90, Schedule(seconds=90), "90s"),
        ("*/5 * * * *", Schedule(cron="*/5 * * * *"), "*/5 * * * *"),
        ("0 6 * * mon-fri", Schedule(cron="0 6 * * mon-fri"), "0 6 * * mon-fri"),
    ],
)
def test_intervals(value: object, schedule: Schedule, text: str) -> None:
    source = github(interval=value)
    assert source.interval == schedule
    assert str(source.interval) == text
    # JSON spells it the way the config does, so a dump loads again.
    dumped = source.model_dump(mode="json")
    assert dumped["interval"] == text
    assert GithubSourceConfig.model_validate(dumped) == source


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("*/5 * * * 99", "invalid cron expression '*/5 * * * 99'"),
        ("61 * * * *", "invalid cron expression '61 * * * *'"),
        ("5 minutes", "expected a duration like 30s, 5m, 1h or 1d"),
        (0, "an interval must be longer than zero"),
        (True, "expected a duration (30s, 5m, 1h) or a cron expression"),
        (1.5, "expected a duration (30s, 5m, 1h) or a cron expression"),
    ],
)
def test_invalid_intervals(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        github(interval=value)


def test_timeouts_and_overlaps_are_durations() -> None:
    base = {"url": "http://x", "jql": "project = A"}
    jira = JiraSourceConfig.model_validate({**base, "timeout": "1m", "overlap": 15})
    assert (jira.timeout, jira.overlap) == (60, 15)
    for bad in (0, -1, "0s", True):
        with pytest.raises(ValidationError):
            JiraSourceConfig.model_validate({**base, "timeout": bad})


# --------------------------------------------------------------------------- schema and rules


def test_json_schema_describes_every_top_level_key() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "okrsync config"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(default_model().model_fields)
    assert set(schema["required"]) == {"version", "cycle", "objectives"}

    interval = schema["$defs"]["JiraSourceConfig"]["properties"]["interval"]
    assert interval["default"] == "5m"
    assert schema["$defs"]["AsanaSourceConfig"]["properties"]["interval"]["default"] == "10m"
    check = jsonschema.Draft202012Validator(interval)
    for good in ("30s", "5m", "1h", "*/5 * * * *", interval["default"]):
        assert check.is_valid(good), good
    assert not check.is_valid({"seconds": 300})


def test_the_example_config_is_valid_against_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document = json.loads(json.dumps(raw, default=str))  # YAML dates as ISO text
    assert list(validator.iter_errors(document)) == []

    document["sources"]["jira"]["colour"] = "blue"
    assert not validator.is_valid(document)


def test_rules_carry_the_config_values(tmp_path: Path) -> None:
    text = VALID.replace(
        "objectives:",
        dedent("""\
        mapping:
          label_pattern: '^goal/(?P<kr>.+)$'
          inherit_from_parent: false
          weight: count
          default_points: 3
          credit: {todo: 0.1, in_progress: 0.5, done: 0.9}
          status_buckets: {"Won't Do": excluded}
          label_buckets: {blocked: todo}
        health: {on_track: 0.8, at_risk: 0.5, divergence: 0.3}
        writeback: {targets: all}
        objectives:"""),
        1,
    )
    assert load(tmp_path, text).config.rules() == Rules(
        label_pattern="^goal/(?P<kr>.+)$",
        inherit_from_parent=False,
        weight="count",
        default_points=3.0,
        credit={Bucket.TODO: 0.1, Bucket.IN_PROGRESS: 0.5, Bucket.DONE: 0.9},
        status_buckets={"Won't Do": Bucket.EXCLUDED},
        label_buckets={"blocked": Bucket.TODO},
        on_track=0.8,
        at_risk=0.5,
        divergence=0.3,
        writeback_targets="all",
    )


def test_default_rules_match_the_domain_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, VALID).config.rules() == Rules()


# --------------------------------------------------------------------------- the example config


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type: X, X | None, list[X], Annotated[X, ...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None:
        return []
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        arguments = arguments[:1]
    elif origin not in (typing.Union, types.UnionType, list, tuple):
        return []  # dict[str, Bucket] and the like: free-form keys, no model fields
    return [model for argument in arguments for model in _models_in(argument)]


def _model_fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, field name) of every field of `model` and the models inside it."""
    found = []
    for name, info in model.model_fields.items():
        found.append((f"{prefix}{name}", name))
        for inner in _models_in(info.annotation):
            found += _model_fields(inner, f"{prefix}{name}.")
    return found


def _values_at(document: object, dotted: str) -> list[object]:
    """Every value at a dotted path, looking into every element of lists on the way."""
    values = [document]
    for part in dotted.split("."):
        nested: list[object] = []
        for value in values:
            for each in value if isinstance(value, list) else [value]:
                if isinstance(each, dict) and part in each:
                    nested.append(each[part])
        values = nested
    return values


# Documented, but commented out: using them switches GitHub from a token to an App.
COMMENTED_OUT = {"sources.github.app", "writeback.jira.kr_issues"}
# The `*_file` alternatives to `*_env` keys: documented commented out, since setting both
# is a problem.
COMMENTED_OUT |= {
    "sources.jira.auth.token_file",
    "sources.jira.auth.email_file",
    "sources.github.token_file",
    "sources.asana.token_file",
    "service.webhooks.github_secret_file",
    "service.webhooks.jira_secret_file",
    "objectives.key_results.metric.url_file",
    "objectives.key_results.metric.headers_file",
}


def test_every_config_model_is_walked() -> None:
    walked = {dotted for dotted, _ in _model_fields(default_model())}
    assert {"sources.jira.auth.token_env", "objectives.key_results.metric.path"} <= walked
    assert "sources.github.app.installation_id" in walked
    assert "service.webhooks.asana" in walked


def test_the_example_config_loads() -> None:
    config = load_config(EXAMPLE, environ={}).config
    assert config.sources.enabled() == ["jira", "github", "asana"]
    types = [kr.metric.type for o in config.objectives for kr in o.key_results]
    assert types[:2] == ["manual", "csv"]
    # ONB-3..7 show the other metric types (see test_the_example_lists_every_metric_type).
    metric_examples = {"ONB-3", "ONB-4", "ONB-5", "ONB-6", "ONB-7"}
    kinds = [
        kr.kind for o in config.objectives for kr in o.key_results if kr.id not in metric_examples
    ]
    assert kinds == ["auto", "auto", "maintain", "milestone", "delivery"]


def test_the_example_config_shows_every_field_of_the_model() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    missing = []
    for dotted, name in _model_fields(default_model()):
        if _values_at(document, dotted):
            continue
        commented = any(dotted == c or dotted.startswith(f"{c}.") for c in COMMENTED_OUT)
        if not (commented and re.search(rf"^\s*#\s*{name}:", text, re.MULTILINE)):
            missing.append(dotted)
    assert missing == []


def test_the_commented_out_github_app_block_is_valid_when_enabled() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    enabled = re.sub(
        r"^(\s*)# (?=\s*(?:app|app_id|private_key_file|installation_id):)",
        r"\1",
        text,
        flags=re.MULTILINE,
    )
    assert enabled != text
    document = yaml.safe_load(enabled)
    assert source(
        default_model().model_validate(document), GithubSourceConfig
    ).app == GithubAppConfig(
        app_id=123456, private_key_file="/etc/okrsync/github-app.pem", installation_id=7654321
    )


def test_the_example_lists_every_metric_type() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert " | ".join(config_module.METRIC_TYPES) in text
    types = {kr.metric.type for o in load_config(EXAMPLE, environ={}).config.objectives
             for kr in o.key_results}  # fmt: skip
    assert types == set(config_module.METRIC_TYPES)


# --------------------------------------------------------------------------- the command line


def test_cli_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)
    assert main(["--config", str(path), "validate"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: ok (1 objectives, 2 key results, sources: jira)\n"
    assert err == ""


def test_cli_validate_uses_okrsync_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, VALID)
    monkeypatch.setenv("OKRSYNC_CONFIG", str(path))
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok")


def test_cli_validate_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(EXAMPLE), "validate"]) == 0
    assert "sources: jira, github, asana" in capsys.readouterr().out


def test_cli_validate_reports_problems_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, EVERYTHING_WRONG)
    assert main(["--config", str(path), "validate"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 11
    assert "Traceback" not in err
    for line in lines:
        assert re.fullmatch(rf"{re.escape(str(path))}:\d+: \S+: .+", line), line
    assert lines[0] == f"{path}:2: cycle: the cycle ends (2026-10-01) before it starts (2026-12-31)"
    assert lines[-1] == f"{path}:28: objectives[1].title: duplicate key"


def test_cli_validate_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    assert main(["--config", str(missing), "validate"]) == 2
    _, err = capsys.readouterr()
    assert err == f"{missing}:1: (file): cannot read: No such file or directory\n"


def test_cli_schema_prints_the_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == json_schema()
    assert err == ""


# --------------------------------------------------------------------------- hostile input

GITHUB = VALID.replace(
    "objectives:", "  github:\n    repos: [acme/web]\n    token_env: GH_TOKEN\nobjectives:", 1
)


def test_an_alias_bomb_is_refused_quickly_and_cheaply(tmp_path: Path) -> None:
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = write(tmp_path, "version: 1\n" + "\n".join(levels) + "\n")
    assert problems(path) == [f"{path}:2: (yaml): more than 100000 values once aliases expand"]


def test_a_few_aliases_still_work(tmp_path: Path) -> None:
    text = VALID.replace("title: Transform customer onboarding", "title: &t Onboarding", 1)
    text = text.replace("title: Cut time to first value from 14 to 5 days", "title: *t", 1)
    config = load(tmp_path, text).config
    assert config.objectives[0].key_results[1].title == "Onboarding"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n", 2, "nested deeper than 64 levels"),
        ("version: 1\n" + "".join("  " * i + f"k{i}:\n" for i in range(100)), 65, "nested"),
        ("version: 1\nloop: &loop {again: *loop}\n", 2, "nested deeper than 64 levels"),
        ("version: 1\nx: &x 1\ny: [" + ", ".join(["*x"] * 101) + "]\n", 3, "more than 100 YAML"),
        ("version: 1\nx: " + "9" * 5000 + "\n", 2, "cannot read this value as int"),
        ("version: 1\nx: !!int abc\n", 2, "cannot read this value as int"),
    ],
    ids=["deep-flow", "deep-block", "recursive-alias", "many-aliases", "huge-int", "bad-int"],
)
def test_hostile_yaml_is_one_problem_with_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, text)
    (found,) = problems(path)
    assert found.startswith(f"{path}:{line}: (yaml): {message}")


def test_a_file_is_read_with_a_bound(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"#" * (1024 * 1024 + 1))
    assert problems(path) == [f"{path}:1: (file): larger than 1 MiB: not a config file"]
    zero = Path("/dev/zero")
    if zero.exists():
        assert problems(zero) == ["/dev/zero:1: (file): larger than 1 MiB: not a config file"]


@pytest.mark.parametrize(
    "pattern",
    [
        "^(?P<kr>(a+)+)$",
        "^okr:(?P<kr>(a*)*)$",
        "^okr:(?P<kr>(a|a)*)$",
        "^okr:(?P<kr>(a|ab)+)$",
        "^okr:(?P<kr>(.*a){2,})$",
        r"^okr:(?P<kr>(\w+\s?)+)$",
    ],
)
def test_a_backtracking_label_pattern_is_refused(tmp_path: Path, pattern: str) -> None:
    text = VALID.replace("objectives:", f"mapping:\n  label_pattern: '{pattern}'\nobjectives:")
    path = write(tmp_path, text)
    (found,) = problems(path)
    assert found.startswith(f"{path}:9: mapping.label_pattern: label_pattern may backtrack")


@pytest.mark.parametrize(
    "pattern",
    [
        DEFAULT_LABEL_PATTERN,
        r"^okr-(?P<kr>[A-Z]+-\d+)$",
        "^(?:okr|kr)[:/-](?P<kr>(?:[a-z]|_)+)$",
        "^(?P<kr>(?:ab)+)$",
    ],
)
def test_linear_label_patterns_pass(tmp_path: Path, pattern: str) -> None:
    text = VALID.replace("objectives:", f"mapping:\n  label_pattern: '{pattern}'\nobjectives:")
    assert load(tmp_path, text).config.mapping.label_pattern == pattern


def test_a_backtracking_points_pattern_is_refused() -> None:
    with pytest.raises(ValidationError, match="may backtrack"):
        github(points_label_pattern=r"^sp:(?P<points>(\d+)+)$")


@pytest.mark.parametrize(
    "url",
    ["https://bob:hunter2-secret@acme.atlassian.net", "https://ghp_t0kenvalue@acme.atlassian.net"],
)
def test_credentials_in_a_source_url_are_refused_and_not_echoed(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, VALID.replace("https://acme.atlassian.net/", url))
    assert problems(path) == [
        f"{path}:5: sources.jira.url: credentials in the URL: use the *_env/*_file keys"
    ]


# --------------------------------------------------------------------------- secrets


def test_a_token_is_stripped_and_registered_for_redaction(tmp_path: Path) -> None:
    from okrsync.config import read_secret
    from okrsync.logs import redact_secrets

    config = source(load(tmp_path, GITHUB).config, GithubSourceConfig)
    (ref,) = config.secrets()
    assert ref == (("token_env",), "GH_TOKEN")  # still unpacks as (path, variable)
    assert read_secret(ref, {"GH_TOKEN": "  ghp_stripped-0123\r\n"}) == "ghp_stripped-0123"
    assert redact_secrets.scrub("x ghp_stripped-0123 y") == "x [redacted] y"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ghp_bad\x01token-value", "environment variable GH_TOKEN holds a control character"),
        ("ghp_two\nlines-value\n", "environment variable GH_TOKEN holds a control character"),
        ("ghp_sep\u2028value", "environment variable GH_TOKEN holds a control character"),
        (" \t\n", "environment variable GH_TOKEN holds only whitespace"),
        ("", "environment variable GH_TOKEN is not set"),
    ],
)
def test_a_malformed_token_is_a_problem_without_its_value(
    tmp_path: Path, value: str, message: str
) -> None:
    loaded = load(tmp_path, GITHUB)
    found = missing_secrets(loaded, ["github"], {"GH_TOKEN": value})
    assert [str(p) for p in found] == [f"{loaded.path}:10: sources.github.token_env: {message}"]
    if value.strip():
        assert value.strip() not in str(found[0])


def test_token_file_is_read_relative_to_the_config_and_stripped(tmp_path: Path) -> None:
    from okrsync.service.connectors import source_factory

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "gh").write_text("ghp_from-a-file-0123\n")
    text = GITHUB.replace("token_env: GH_TOKEN", "token_file: secrets/gh")
    loaded = load(tmp_path, text)
    config = source(loaded.config, GithubSourceConfig)
    assert config.token_file == str(tmp_path / "secrets" / "gh")
    (ref,) = config.secrets()
    assert (ref.path, ref.is_file) == (("token_file",), True)
    environ = {"JIRA_EMAIL": "a@b", "JIRA_API_TOKEN": "t0ken-jira"}
    assert missing_secrets(loaded, ["github"], environ) == []
    connection = source_factory(loaded.config, environ)("github")
    assert getattr(connection, "_token", None) in (None, "ghp_from-a-file-0123")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot be read: No such file or directory"),
        ("ghp_bell\x07value\n", "holds a control character"),
        ("", "is empty"),
        ("\n", "holds only whitespace"),
    ],
)
def test_a_bad_token_file_is_a_problem_naming_key_and_path(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "gh").write_text(content)
    loaded = load(tmp_path, GITHUB.replace("token_env: GH_TOKEN", "token_file: gh"))
    assert [str(p) for p in missing_secrets(loaded, ["github"], {})] == [
        f"{loaded.path}:10: sources.github.token_file: file {tmp_path / 'gh'} {message}"
    ]


def test_a_bad_secret_fails_the_source_at_connect_time_without_its_value(tmp_path: Path) -> None:
    from okrsync.service.connectors import source_factory
    from okrsync.sources import FatalError

    loaded = load(tmp_path, GITHUB)
    connect = source_factory(loaded.config, {"GH_TOKEN": "ghp_ctl\x1bvalue-0123"})
    with pytest.raises(FatalError) as raised:
        connect("github")
    assert "sources.github.token_env: environment variable GH_TOKEN holds" in str(raised.value)
    assert "ghp_ctl" not in str(raised.value)


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        (
            "token_env: GH_TOKEN",
            "token_env: GH_TOKEN\n    token_file: gh",
            "11: sources.github.token_file: token_env and token_file are both set: keep one",
        ),
        (
            "auth: {email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}",
            "auth: {email_env: JIRA_EMAIL, email_file: e, token_env: JIRA_API_TOKEN}",
            "6: sources.jira.auth.email_file: email_env and email_file are both set: keep one",
        ),
    ],
)
def test_env_and_file_both_set_is_a_problem(
    tmp_path: Path, replace: str, by: str, expected: str
) -> None:
    path = write(tmp_path, GITHUB.replace(replace, by))
    assert problems(path) == [f"{path}:{expected}"]


def test_webhook_secrets_from_files_and_their_problems(tmp_path: Path) -> None:
    from okrsync.registry import REGISTRY
    from okrsync.webhooks import MemorySecretBook, Webhooks

    (tmp_path / "hook").write_text("whsec-from-file\n")
    text = VALID + "service:\n  webhooks: {github_secret_file: hook, jira_secret_env: JH}\n"
    loaded = load(tmp_path, text)
    hooks = loaded.config.service.webhooks
    assert sorted(tuple(ref) for ref in hooks.secrets()) == [
        (("github_secret_file",), str(tmp_path / "hook")),
        (("jira_secret_env",), "JH"),
    ]
    # An unset webhook variable leaves that webhook off (not a problem); a bad one is.
    assert missing_secrets(loaded, [], {}, webhooks=True) == []
    bad = missing_secrets(loaded, [], {"JH": "a\x00b-secret"}, webhooks=True)
    assert [str(p) for p in bad] == [
        f"{loaded.path}:26: service.webhooks.jira_secret_env: "
        "environment variable JH holds a control character"
    ]
    built = Webhooks.from_settings(REGISTRY.webhooks(), hooks, {}, MemorySecretBook())
    assert set(built.receivers) == {"github"}


def test_validate_does_not_read_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GITHUB.replace("token_env: GH_TOKEN", "token_file: /nonexistent/gh"))
    assert main(["--config", str(path), "validate"]) == 0  # checked when a sync starts


# --------------------------------------------------------------------------- daemon reload


def _reloadable_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typing.Any:
    from apscheduler.schedulers.background import BackgroundScheduler

    from okrsync.service.daemon import Daemon, _Shared

    monkeypatch.setenv("JIRA_EMAIL", "a@b.example")
    monkeypatch.setenv("JIRA_API_TOKEN", "reload-secret-token-0123")
    path = write(tmp_path, VALID)
    daemon = Daemon(path)
    daemon._shared = _Shared(load_config(path))
    daemon._scheduler = BackgroundScheduler()
    return daemon


@pytest.mark.parametrize(
    "breaking",
    ["deep", "unexpected"],
)
def test_a_failed_reload_keeps_the_old_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breaking: str
) -> None:
    from okrsync.logs import redact_secrets
    from okrsync.service import daemon as daemon_module

    daemon = _reloadable_daemon(tmp_path, monkeypatch)
    before = daemon._shared
    if breaking == "deep":
        daemon.config_path.write_text("version: 1\nx: " + "[" * 50_000 + "]" * 50_000 + "\n")
    else:
        redact_secrets.add("reload-secret-token-0123")

        def explode(*args: object, **kwargs: object) -> typing.NoReturn:
            raise RuntimeError("a bug that quotes reload-secret-token-0123")

        monkeypatch.setattr(daemon_module, "load_config", explode)
    with structlog.testing.capture_logs() as logs:
        assert daemon.reload() is False
    assert daemon._shared is before
    events = [entry["event"] for entry in logs]
    if breaking == "deep":
        assert events == ["config.invalid", "config.reload_rejected"]
        assert "nested deeper than 64 levels" in logs[0]["problem"]
    else:
        assert events == ["config.reload_failed"]
        assert logs[0]["error"].startswith("RuntimeError: a bug that quotes ")
        assert "reload-secret-token-0123" not in logs[0]["error"]


# --------------------------------------------------------------------- KR kinds, objective tree

KINDS = """\
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
health: {stale_after: 10d}
objectives:
  - id: CO
    title: Company
    key_results:
      - {id: CO-1, title: Revenue, baseline: 1, target: 2}
  - id: TEAM
    title: Team
    parent: co
    weight: 2
    key_results:
      - {id: T-1, title: Uptime, kind: maintain, range: {min: 99.5, max: 100}}
      - {id: T-2, title: Launch, kind: milestone, grading: aspirational, stale_after: 3d}
      - {id: T-3, title: Integrate, kind: delivery}
"""


def test_kr_kinds_reach_the_domain(tmp_path: Path) -> None:
    config = load(tmp_path, KINDS).config
    company, team = config.domain_objectives()
    assert (company.parent, team.parent, team.weight) == (None, "co", 2)
    maintain, milestone, delivery = team.key_results
    assert (maintain.kind, maintain.range, maintain.baseline) == (
        "maintain",
        ValueRange(99.5, 100),
        None,
    )
    assert (milestone.kind, milestone.grading) == ("milestone", "aspirational")
    assert milestone.stale_after == timedelta(days=3)
    assert delivery.kind == "delivery" and delivery.stale_after is None
    assert config.rules().stale_after == timedelta(days=10)
    assert load(tmp_path, VALID).config.rules().stale_after == timedelta(days=14)


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        pytest.param(
            "{id: CO-1, title: Revenue, baseline: 1, target: 2}",
            "{id: CO-1, title: Revenue, baseline: 1}",
            ":8: objectives[0].key_results[0]: kind auto needs target",
            id="auto-without-target",
        ),
        pytest.param(
            "{id: CO-1, title: Revenue, baseline: 1, target: 2}",
            "{id: CO-1, title: Revenue}",
            ":8: objectives[0].key_results[0]: kind auto needs baseline and target",
            id="auto-without-either",
        ),
        pytest.param(
            "kind: maintain, range: {min: 99.5, max: 100}",
            "kind: maintain",
            ":14: objectives[1].key_results[0]: kind maintain needs range: {min, max}",
            id="maintain-without-range",
        ),
        pytest.param(
            "range: {min: 99.5, max: 100}",
            "range: {min: 100, max: 99.5}",
            ":14: objectives[1].key_results[0].range: range min (100.0) is above max (99.5)",
            id="range-upside-down",
        ),
        pytest.param(
            "kind: delivery}",
            "kind: delivery, range: {min: 1, max: 2}}",
            ":16: objectives[1].key_results[2]: range is only for kind maintain "
            "(this KR is delivery)",
            id="range-on-another-kind",
        ),
        pytest.param(
            "kind: delivery}",
            "kind: outcome}",
            ":16: objectives[1].key_results[2].kind: Input should be 'auto', 'maintain', "
            "'milestone' or 'delivery'",
            id="unknown-kind",
        ),
        pytest.param(
            "parent: co",
            "parent: COMPANY",
            ":11: objectives[1].parent: unknown parent objective 'COMPANY' (objectives: CO, TEAM)",
            id="unknown-parent",
        ),
        pytest.param(
            "stale_after: 10d",
            "stale_after: soon",
            ":3: health.stale_after: expected a duration",
            id="stale-after-not-a-duration",
        ),
    ],
)
def test_kind_problem(tmp_path: Path, replace: str, by: str, expected: str) -> None:
    assert replace in KINDS
    path = write(tmp_path, KINDS.replace(replace, by, 1))
    [problem] = problems(path)
    assert problem.startswith(f"{path}{expected}"), problem


def test_cyclic_objective_parents_are_problems(tmp_path: Path) -> None:
    text = KINDS.replace("    title: Company\n", "    title: Company\n    parent: TEAM\n")
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:7: objectives[0].parent: objective parents form a cycle: CO -> TEAM -> CO",
        f"{path}:12: objectives[1].parent: objective parents form a cycle: TEAM -> CO -> TEAM",
    ]


def test_an_objective_cannot_be_its_own_parent(tmp_path: Path) -> None:
    path = write(tmp_path, KINDS.replace("parent: co", "parent: team"))
    assert problems(path) == [
        f"{path}:11: objectives[1].parent: objective parents form a cycle: TEAM -> TEAM"
    ]


# ------------------------------------------- writeback.github.labels, writeback.asana.fields

GITHUB_AND_ASANA = """\
  github: {repos: [acme/web]}
  asana: {projects: ["1204000000000001"]}
objectives:"""


def test_github_labels_and_asana_fields_are_read_and_default_off(tmp_path: Path) -> None:
    text = VALID.replace("objectives:", GITHUB_AND_ASANA, 1)
    defaults = load(tmp_path, text).config.writeback
    assert defaults.for_source("github").health_labels() is False
    assert defaults.for_source("asana").field_values() == {}

    text += dedent("""\
        writeback:
          github: {comment: false, labels: true}
          asana: {fields: {OKR Health: health, KR Progress: outcome}}
        """)
    writeback = load(tmp_path, text).config.writeback
    assert writeback.for_source("github").health_labels() is True
    assert writeback.for_source("github").comment is False
    assert writeback.for_source("asana").field_values() == {
        "OKR Health": "health",
        "KR Progress": "outcome",
    }
    assert writeback.for_source("asana").health_labels() is False
    assert writeback.for_source("jira").health_labels() is False


def test_asana_fields_hold_only_known_values_and_asana_takes_no_labels(tmp_path: Path) -> None:
    text = VALID.replace("objectives:", GITHUB_AND_ASANA, 1) + dedent("""\
        writeback:
          asana: {fields: {OKR Health: colour}, labels: true}
        """)
    found = "\n".join(problems(write(tmp_path, text)))
    assert "writeback.asana.fields.OKR Health" in found
    assert "writeback.asana.labels" in found

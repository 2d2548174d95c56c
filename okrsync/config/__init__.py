"""The mapping config: models, durations, loading with line numbers, checks, schema."""

from okrsync.config._assembly import ConfigPart, config_model
from okrsync.config._checks import missing_secrets
from okrsync.config._loading import (
    DEFAULT_CONFIG_PATH,
    default_model,
    load_config,
    resolve_config_path,
)
from okrsync.config._models import (
    Config,
    CycleConfig,
    HealthConfig,
    KeyResultConfig,
    MappingConfig,
    MetricConfig,
    ObjectiveConfig,
    ServiceConfig,
    SourceConfig,
    SourcesConfig,
    StoreConfig,
    TargetWritebackConfig,
    WebhooksConfig,
    WritebackConfig,
)
from okrsync.config._problems import ConfigError, LoadedConfig, Problem
from okrsync.config._schema import json_schema
from okrsync.config._secrets import (
    SecretError,
    SecretFile,
    SecretRef,
    as_secret_ref,
    optional_secret,
    read_secret,
    secret_choice,
)
from okrsync.config._types import (
    EnvName,
    Interval,
    Schedule,
    Seconds,
    Strict,
    compiled_pattern,
    parse_duration,
    require_http_url,
)
from okrsync.domain import DEFAULT_LABEL_PATTERN

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_LABEL_PATTERN",
    "Config",
    "ConfigError",
    "ConfigPart",
    "CycleConfig",
    "EnvName",
    "HealthConfig",
    "Interval",
    "KeyResultConfig",
    "LoadedConfig",
    "MappingConfig",
    "MetricConfig",
    "ObjectiveConfig",
    "Problem",
    "Schedule",
    "SecretError",
    "SecretFile",
    "SecretRef",
    "Seconds",
    "ServiceConfig",
    "SourceConfig",
    "SourcesConfig",
    "StoreConfig",
    "Strict",
    "TargetWritebackConfig",
    "WebhooksConfig",
    "WritebackConfig",
    "as_secret_ref",
    "compiled_pattern",
    "config_model",
    "default_model",
    "json_schema",
    "load_config",
    "missing_secrets",
    "optional_secret",
    "parse_duration",
    "read_secret",
    "require_http_url",
    "resolve_config_path",
    "secret_choice",
]

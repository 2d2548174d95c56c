"""Asana's `sources.asana` and `writeback.asana` settings: what the config reads, apart
from the connector (okrsync/sources/asana.py), which loads with the first connection. The
connector module re-exports these names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from okrsync.config import (
    EnvName,
    Interval,
    SecretFile,
    SecretRef,
    SourceConfig,
    TargetWritebackConfig,
    WritebackValue,
    secret_choice,
)


class AsanaWritebackConfig(TargetWritebackConfig):
    """`writeback.asana`: the managed comment and custom fields of each target task, by
    name as the project shows them (docs/design.md, "Write-back: typed operations")."""

    # Custom field name (any case) -> what okrsync keeps in it: health in an enum field
    # (its option by name), outcome or delivery in a number field (percent 0-100), any in
    # a text field.
    fields: dict[str, WritebackValue] = Field(default_factory=dict)

    def field_values(self) -> dict[str, WritebackValue]:
        return dict(self.fields)


class AsanaSourceConfig(SourceConfig):
    writeback_model: ClassVar[type[TargetWritebackConfig]] = AsanaWritebackConfig

    url: str = "https://app.asana.com/api/1.0"
    token_env: EnvName = "ASANA_TOKEN"
    token_file: SecretFile | None = None  # instead of token_env: read the token from this file
    projects: list[str] = Field(min_length=1)
    points_field: str | None = None
    interval: Interval = Field(default="10m", validate_default=True)

    def token(self) -> SecretRef:
        return secret_choice(self, "token") or SecretRef(("token_env",), "")

    def secrets(self) -> Iterator[SecretRef]:
        yield self.token()

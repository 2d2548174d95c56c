"""GitHub's `sources.github` and `writeback.github` settings: what the config reads,
apart from the connector (okrsync/sources/github.py), which loads with the first
connection. The connector module re-exports these names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, ClassVar

from pydantic import Field, field_validator

from okrsync.config import (
    EnvName,
    SecretFile,
    SecretRef,
    SourceConfig,
    Strict,
    TargetWritebackConfig,
    compiled_pattern,
    secret_choice,
)


class GithubAppConfig(Strict):
    app_id: int
    private_key_file: str
    installation_id: int


class GithubWritebackConfig(TargetWritebackConfig):
    """`writeback.github`: the managed comment and, with `labels`, one `okr-health:*`
    label on each target issue (docs/design.md, "Write-back: typed operations")."""

    labels: bool = False

    def health_labels(self) -> bool:
        return self.labels


class GithubSourceConfig(SourceConfig):
    writeback_model: ClassVar[type[TargetWritebackConfig]] = GithubWritebackConfig

    url: str = "https://api.github.com"
    token_env: EnvName | None = "GITHUB_TOKEN"
    token_file: SecretFile | None = None  # instead of token_env: read the token from this file
    app: GithubAppConfig | None = None
    repos: list[Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")]] = Field(min_length=1)
    points_label_pattern: str = r"^(?:points|sp)[:=](?P<points>\d+(?:\.\d+)?)$"
    # GitHub asks for serial requests (okrsync sends one at a time) with no pause between
    # reads, and a second between writes to stay clear of the secondary rate limit.
    seconds_between_requests: float = Field(default=0, ge=0)
    seconds_between_writes: float = Field(default=1.0, ge=0)

    @field_validator("points_label_pattern")
    @classmethod
    def _pattern_with_points_group(cls, pattern: str) -> str:
        return compiled_pattern(pattern, "points_label_pattern", "points", "the number")

    def token(self) -> SecretRef | None:
        # A GitHub App signs with its key file instead of a token.
        return secret_choice(self, "token") if self.app is None else None

    def secrets(self) -> Iterator[SecretRef]:
        token = self.token()
        if token is not None:
            yield token

"""Problems in a config, each with the file and line an admin should look at."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from okrsync.config._models import Config


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
    lines: LineIndex

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        return Problem(str(self.path), self.lines.line_of(path), dotted(path), message)


class LineIndex:
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


def dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"

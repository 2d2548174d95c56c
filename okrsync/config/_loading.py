"""Reading the config: YAML with the line of every key, `${VAR}` interpolation, validation.

Problems are reported as ``file:line: path.to.key: message`` so an admin can jump
straight to the line; validation never stops at the first error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from okrsync.config._checks import both_env_and_file, cross_reference_problems
from okrsync.config._models import Config
from okrsync.config._problems import ConfigError, LineIndex, LoadedConfig, Problem, dotted

DEFAULT_CONFIG_PATH = Path("config/okrsync.yaml")
# Hostile input stays cheap: a config is a few KB; these bounds are far above any real one.
MAX_CONFIG_BYTES = 1024 * 1024  # read at most one byte more than this
MAX_DEPTH = 64  # levels of nested mappings and lists
MAX_ALIASES = 100  # `*name` references
MAX_VALUES = 100_000  # values in the document once aliases are expanded
_ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def resolve_config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("OKRSYNC_CONFIG")
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    model: type[Config] | None = None,
) -> LoadedConfig:
    """Read, interpolate and validate the config; raise ConfigError listing every problem.

    `model` is the Config assembled from a source registry; by default, okrsync's own.
    """
    environ = os.environ if environ is None else environ
    model = default_model() if model is None else model
    name = str(path)
    try:
        # Bounded: `--config /dev/zero` (or a runaway generated file) must not fill memory.
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError([Problem(name, 1, "(file)", f"cannot read: {reason}")]) from None
    if len(data) > MAX_CONFIG_BYTES:
        message = f"larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB: not a config file"
        raise ConfigError([Problem(name, 1, "(file)", message)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        problem = Problem(name, line, "(file)", f"not UTF-8 text: {error.reason}")
        raise ConfigError([problem]) from None

    lines = LineIndex()
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
    problems.extend(cross_reference_problems(raw, lines, name))
    problems.extend(both_env_and_file(raw, lines, name))
    config: Config | None = None
    try:
        # `config_dir`: relative `*_file` secret paths are read from the config's directory.
        config = model.model_validate(raw, context={"config_dir": path.parent})
    except ValidationError as error:
        problems.extend(p for p in _pydantic_problems(error, lines, name) if p.path not in unset)
    if problems or config is None:
        raise ConfigError(sorted(set(problems), key=lambda p: (p.line, p.path, p.message)))
    return LoadedConfig(config=_sqlite_path_from_config_dir(config, path), path=path, lines=lines)


def _sqlite_path_from_config_dir(config: Config, path: Path) -> Config:
    """A relative SQLite path in `store.url` is read from the config file's directory, not
    the working directory: `sqlite:///okrsync.db` in config/okrsync.yaml is
    config/okrsync.db from wherever okrsync runs. Absolute paths, `sqlite://` and
    `:memory:` (in memory) and other databases are left as they are."""
    prefix = "sqlite:///"
    url = config.store.url
    database, query = url.removeprefix(prefix).partition("?")[::2]
    if not url.startswith(prefix) or database in ("", ":memory:") or Path(database).is_absolute():
        return config
    anchored = prefix + os.path.abspath(path.parent / database) + (f"?{query}" if query else "")
    return config.model_copy(update={"store": config.store.model_copy(update={"url": anchored})})


def _yaml_message(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    return " ".join(part for part in (context, problem) if part) or "invalid YAML"


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as text: pydantic parses the dates, and an
    impossible one (2026-13-01) becomes a problem with its line instead of a crash.

    It also bounds what a hostile document can cost: nesting depth (the composer
    recurses, and `[[[[...]]]]` 10,000 deep would raise RecursionError) and the number
    of aliases (the alias bomb); a value no constructor can read (`!!int abc`, an
    integer of 5,000 digits) is a problem at its line, not a traceback."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _refused(mark, f"more than {MAX_ALIASES} YAML aliases (*name)")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _refused(mark, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, ArithmeticError):
            # The exception's text may quote the value: say what, not the value itself.
            tag = str(node.tag).rsplit(":", 1)[-1]
            raise _refused(node.start_mark, f"cannot read this value as {tag}") from None


def _refused(mark: yaml.Mark | None, message: str) -> yaml.YAMLError:
    return yaml.composer.ComposerError(None, None, message, mark)


def _timestamp_as_text(loader: _Loader, node: yaml.Node) -> str:
    return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _parse_yaml(text: str, lines: LineIndex, problems: list[Problem], name: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _index_node(node, (), lines, problems, name, [MAX_VALUES])
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _index_node(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: LineIndex,
    problems: list[Problem],
    name: str,
    budget: list[int],
) -> None:
    """Records every key's line; walks aliases as the document expands them, so it is
    also where an expansion too large (an alias bomb) or too deep (an alias to its own
    ancestor) is refused, before anything builds the expanded values."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _refused(node.start_mark, f"more than {MAX_VALUES} values once aliases expand")
    if len(path) > MAX_DEPTH:
        raise _refused(node.start_mark, f"nested deeper than {MAX_DEPTH} levels")
    lines.record(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            # A key is a scalar in any config; a list or mapping as a key (even an alias to
            # one) is named, not printed, and the constructor refuses it as unhashable.
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "(key)"
            child = (*path, key)
            if key in seen:
                problems.append(
                    Problem(name, key_node.start_mark.line + 1, dotted(child), "duplicate key")
                )
            seen.add(key)
            lines.record(child, key_node.start_mark.line + 1)
            _index_node(value_node, child, lines, problems, name, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_node(item, (*path, index), lines, problems, name, budget)


def _interpolate(
    value: Any,
    path: tuple[str | int, ...],
    environ: Mapping[str, str],
    lines: LineIndex,
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
                dotted(path),
                f"environment variable {variable} is not set",
            )
        )
        return ""

    return _ENV_REFERENCE.sub(substitute, value)


def _pydantic_problems(error: ValidationError, lines: LineIndex, name: str) -> Iterator[Problem]:
    for detail in error.errors(include_url=False):
        path = tuple(part for part in detail["loc"] if not _is_union_tag(part))
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        yield Problem(name, lines.line_of(path), dotted(path), message)


def _is_union_tag(part: str | int) -> bool:
    # pydantic puts the chosen union member ("function-before[...]", "Schedule") into locations
    return isinstance(part, str) and ("[" in part or part in {"Schedule"})


def default_model() -> type[Config]:
    """The Config for the sources okrsync ships with."""
    # Imported here, not at the top: the registry imports every source's config module,
    # and each of those imports this package for the base of its config model.
    from okrsync.registry import REGISTRY

    return REGISTRY.config_model()

"""Secrets the config names: an environment variable (`*_env`) or a file (`*_file`).

One reader, `read_secret`, for every place that needs a secret's value (the checks before
a sync, the connector factory, the webhook receivers): it strips surrounding whitespace
(a trailing newline from a file or a secret store), refuses an empty value or one that
still holds a control character, and registers the value for redaction before anything
else sees it. Its messages name the variable or the file, never the value.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator, Field, ValidationInfo

from okrsync.logs import redact_secrets

# A secret file is a token or a password, not a document: read at most this much.
MAX_SECRET_BYTES = 64 * 1024


class SecretRef(NamedTuple):
    """A secret the config names: the key that names it (below its section, such as
    ``("auth", "token_env")`` or ``("token_file",)``) and the environment variable, or
    for a ``*_file`` key the file, that holds it. Unpacks as ``path, name``."""

    path: tuple[str, ...]
    name: str

    @property
    def is_file(self) -> bool:
        return bool(self.path) and self.path[-1].endswith("_file")

    @property
    def described(self) -> str:
        return f"file {self.name}" if self.is_file else f"environment variable {self.name}"

    @property
    def resolved_key(self) -> str:
        """Where a resolved value sits in the mapping a connector is given."""
        return f"file:{self.name}" if self.is_file else self.name


class SecretError(ValueError):
    """A secret that cannot be used; the message names where it was looked for."""


def as_secret_ref(item: SecretRef | tuple[tuple[str, ...], str]) -> SecretRef:
    """A `SecretRef` from what a source's `secrets()` yields (plain tuples included)."""
    return item if isinstance(item, SecretRef) else SecretRef(tuple(item[0]), item[1])


def read_secret(ref: SecretRef | tuple[tuple[str, ...], str], environ: Mapping[str, str]) -> str:
    """The secret's value, stripped, checked and registered for redaction.

    `environ` may already hold the value under `ref.resolved_key` (the connector factory
    resolves every secret once); otherwise a `*_file` secret is read from its file.
    Raises SecretError naming the variable or file, never showing the value.
    """
    ref = as_secret_ref(ref)
    if ref.resolved_key in environ:
        raw = environ[ref.resolved_key]
    elif ref.is_file:
        raw = _read_file(ref.name)
    else:
        raise SecretError(f"{ref.described} is not set")
    # Registered before any check: even a value refused below never reaches a log whole.
    redact_secrets.add(raw)
    value = raw.strip()
    redact_secrets.add(value)
    if not value:
        if not raw and not ref.is_file:
            raise SecretError(f"{ref.described} is not set")  # set to "": as good as unset
        raise SecretError(
            f"{ref.described} is empty" if not raw else f"{ref.described} holds only whitespace"
        )
    if any(_is_control(char) for char in value):
        raise SecretError(f"{ref.described} holds a control character")
    return value


def optional_secret(ref: SecretRef | None, environ: Mapping[str, str]) -> str | None:
    """A secret that may be left out (a webhook's): None when no key names it or its
    variable is unset or empty; otherwise `read_secret` (which raises SecretError)."""
    if ref is None or (not ref.is_file and not environ.get(ref.resolved_key)):
        return None
    return read_secret(ref, environ)


def secret_problems(
    refs: Iterable[SecretRef | tuple[tuple[str, ...], str]], environ: Mapping[str, str]
) -> Iterator[tuple[SecretRef, str]]:
    """Each secret that cannot be read, with the reason."""
    for item in refs:
        ref = as_secret_ref(item)
        try:
            read_secret(ref, environ)
        except SecretError as error:
            yield ref, str(error)


def paired_refs(settings: Any, prefix: tuple[str, ...] = ()) -> Iterator[SecretRef]:
    """`SecretRef`s for a flat settings object's `*_secret_env` / `*_secret_file` pairs."""
    keys = getattr(type(settings), "model_fields", None) or vars(settings)
    stems = [key.rsplit("_", 1)[0] for key in keys if key.endswith(("_secret_env", "_secret_file"))]
    for stem in dict.fromkeys(stems):
        ref = secret_choice(settings, stem, prefix)
        if ref is not None:
            yield ref


def secret_choice(model: Any, stem: str, prefix: tuple[str, ...] = ()) -> SecretRef | None:
    """The `{stem}_file` key when it is set, else the `{stem}_env` key when set, else None."""
    file = getattr(model, f"{stem}_file", None)
    if file:
        return SecretRef((*prefix, f"{stem}_file"), str(file))
    env = getattr(model, f"{stem}_env", None)
    if env:
        return SecretRef((*prefix, f"{stem}_env"), str(env))
    return None


def _read_file(name: str) -> str:
    try:
        with open(name, "rb") as handle:
            data = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as error:
        raise SecretError(
            f"file {name} cannot be read: {error.strerror or type(error).__name__}"
        ) from None
    if len(data) > MAX_SECRET_BYTES:
        raise SecretError(f"file {name} is larger than {MAX_SECRET_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"file {name} is not UTF-8 text") from None


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls and DEL; Zl/Zp: line and paragraph separators, which some
    # HTTP stacks treat as line ends as well.
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _relative_to_config(name: str, info: ValidationInfo) -> str:
    """A relative `*_file` path is read from the config file's directory (as the
    loader passes it in the validation context), an absolute one as it is."""
    base = (info.context or {}).get("config_dir") if info.context else None
    path = Path(name).expanduser()
    return str(path if path.is_absolute() or base is None else Path(base) / path)


# The type of every `*_file` secret key.
SecretFile = Annotated[str, Field(min_length=1), AfterValidator(_relative_to_config)]

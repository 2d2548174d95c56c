"""Checks that span several keys: cross-references between objectives and KRs, secrets."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeGuard

from okrsync.config._problems import LineIndex, LoadedConfig, Problem, dotted
from okrsync.config._secrets import secret_problems


def cross_reference_problems(raw: dict[str, Any], lines: LineIndex, name: str) -> Iterator[Problem]:
    """Checks that span several objects; run on raw data so they show beside field errors."""
    objectives = raw.get("objectives")
    if not isinstance(objectives, list):
        return
    objective_ids: dict[str, int] = {}
    parents: dict[int, str] = {}
    allocations: dict[int, float] = {}
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
                    dotted(path),
                    f"duplicate objective id {o_id!r} (first at objectives[{first}])",
                )
            objective_ids.setdefault(_fold(o_id), o_index)
        parent = objective.get("parent")
        if isinstance(parent, str):
            parents[o_index] = parent
        share = objective.get("allocation")
        if _is_percentage(share):
            allocations[o_index] = float(share)
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
                        dotted(path),
                        f"duplicate key result id {kr_id!r} "
                        f"(first at {dotted(kr_ids[_fold(kr_id)])})",
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
                        dotted(path),
                        f"label {label!r} is already claimed by key result {owner!r}",
                    )
                label_owner.setdefault(_fold(label), str(kr_id))
    yield from _parent_problems(objectives, objective_ids, parents, lines, name)
    yield from _allocation_problems(objectives, allocations, lines, name)


def _is_percentage(value: Any) -> TypeGuard[int | float]:
    """A number 0-100; anything else is the field check's problem, not the sum's."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 100
    )


def _allocation_problems(
    objectives: list[Any], allocations: Mapping[int, float], lines: LineIndex, name: str
) -> Iterator[Problem]:
    """The `objectives[].allocation` targets (percentages of the in-flight weight) add up
    to at most 100; the problem sits on the objective whose target goes over."""
    running = 0.0
    for o_index, share in allocations.items():
        running += share
        if running > 100 + 1e-9:
            total = math.fsum(allocations.values())
            terms = " + ".join(
                f"{objectives[i].get('id', f'objectives[{i}]')} {_trim(value)}"
                for i, value in allocations.items()
            )
            path = ("objectives", o_index, "allocation")
            yield Problem(
                name,
                lines.line_of(path),
                dotted(path),
                f"allocation targets add up to {_trim(total)} ({terms}), more than 100",
            )
            return


def _trim(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _parent_problems(
    objectives: list[Any],
    objective_ids: Mapping[str, int],
    parents: Mapping[int, str],
    lines: LineIndex,
    name: str,
) -> Iterator[Problem]:
    """`objectives[].parent` names a configured objective, and no chain of parents loops."""
    resolved: dict[int, int] = {}
    for o_index, parent in parents.items():
        path = ("objectives", o_index, "parent")
        target = objective_ids.get(_fold(parent))
        if target is None:
            known = ", ".join(str(o["id"]) for o in objectives if isinstance(o, dict) and "id" in o)
            yield Problem(
                name,
                lines.line_of(path),
                dotted(path),
                f"unknown parent objective {parent!r} (objectives: {known})",
            )
        else:
            resolved[o_index] = target
    for o_index in resolved:
        chain = [o_index]
        step = resolved.get(o_index)
        while step is not None and step not in chain:
            chain.append(step)
            step = resolved.get(step)
        if step == o_index:
            path = ("objectives", o_index, "parent")
            ids = [str(objectives[i].get("id")) for i in [*chain, o_index]]
            yield Problem(
                name,
                lines.line_of(path),
                dotted(path),
                f"objective parents form a cycle: {' -> '.join(ids)}",
            )


def _fold(text: str) -> str:
    # The domain's normalisation (mapping._fold): " Shared" and "shared" are one label.
    return text.strip().casefold()


# --------------------------------------------------------------------------- secrets


def missing_secrets(
    loaded: LoadedConfig,
    sources: Iterable[str],
    environ: Mapping[str, str] | None = None,
    *,
    webhooks: bool = False,
) -> list[Problem]:
    """Secrets the named sources need that cannot be used: an unset or empty variable, one
    holding a control character, an unreadable file (checked at sync time, not by
    `validate`, so a config can be validated where its secrets are not). With `webhooks`,
    also the `service.webhooks` secrets that are set (an unset one leaves its webhook off).
    Every value read is registered for redaction; no message shows one."""
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    wanted = set(sources)
    for name, source in loaded.config.sources.items():
        if name not in wanted:
            continue
        for ref, message in secret_problems(source.secrets(), environ):
            problems.append(loaded.problem(("sources", name, *ref.path), message))
    if webhooks:
        hooks = loaded.config.service.webhooks
        named = [ref for ref in hooks.secrets() if ref.is_file or environ.get(ref.name)]
        for ref, message in secret_problems(named, environ):
            problems.append(loaded.problem(("service", "webhooks", *ref.path), message))
    return problems


def both_env_and_file(raw: Any, lines: LineIndex, name: str) -> Iterator[Problem]:
    """A secret named twice, by `X_env` and by `X_file`: which one wins would be a guess."""
    yield from _both(raw, (), lines, name)


def _both(
    value: Any, path: tuple[str | int, ...], lines: LineIndex, name: str
) -> Iterator[Problem]:
    if isinstance(value, dict):
        for key, child in value.items():
            if (
                isinstance(key, str)
                and key.endswith("_file")
                and child is not None
                and value.get(key.removesuffix("_file") + "_env") is not None
            ):
                env_key = key.removesuffix("_file") + "_env"
                where = (*path, key)
                yield Problem(
                    name,
                    lines.line_of(where),
                    dotted(where),
                    f"{env_key} and {key} are both set: keep one",
                )
            yield from _both(child, (*path, str(key)), lines, name)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _both(child, (*path, index), lines, name)

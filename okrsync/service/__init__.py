"""Side effects live here: one sync cycle, the connections it opens.

The names below load their module on first use, so that importing one service module
(`okrsync.service.http`, `okrsync.service.labels` ...) does not load the whole pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okrsync.service.connectors import SourceFactory, source_factory
    from okrsync.service.pipeline import (
        CycleResult,
        SourceOutcome,
        current_report,
        run_cycle,
    )
    from okrsync.service.planning import plan_writes

_MODULES = {
    "CycleResult": "pipeline",
    "SourceFactory": "connectors",
    "SourceOutcome": "pipeline",
    "current_report": "pipeline",
    "plan_writes": "planning",
    "run_cycle": "pipeline",
    "source_factory": "connectors",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CycleResult",
    "SourceFactory",
    "SourceOutcome",
    "current_report",
    "plan_writes",
    "run_cycle",
    "source_factory",
]

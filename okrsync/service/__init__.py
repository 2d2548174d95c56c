"""Side effects live here: one sync cycle, the connections it opens."""

from okrsync.service.connectors import SourceFactory, source_factory
from okrsync.service.pipeline import (
    CycleResult,
    SourceOutcome,
    current_report,
    run_cycle,
)
from okrsync.service.planning import plan_writes

__all__ = [
    "CycleResult",
    "SourceFactory",
    "SourceOutcome",
    "current_report",
    "plan_writes",
    "run_cycle",
    "source_factory",
]

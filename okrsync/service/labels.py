"""`okrsync validate --check-labels`: the KR labels in use in each source, classified.

Each source is connected (its secrets read as for a sync), asked for its labels once
(`Source.labels_in_use`: a cheap listing, no items read), and closed. Nothing is stored
and nothing is written; the classification is the domain's (`check_labels`), the same rule
as the mapping and its `unknown_kr` problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from okrsync.config import Config
from okrsync.domain import KRIndex, LabelCheck, check_labels
from okrsync.logs import get_logger
from okrsync.service.connectors import SourceFactory
from okrsync.sources import SourceError

log = get_logger(__name__)


@dataclass(frozen=True)
class SourceLabels:
    """One source's KR labels, or why they could not be read (`error`, without the
    source's name in front), and the requests it took either way."""

    name: str
    checks: tuple[LabelCheck, ...] = ()
    error: str | None = None
    requests: int = 0

    @property
    def unknown(self) -> tuple[LabelCheck, ...]:
        return tuple(check for check in self.checks if check.unknown is not None)


def collect_labels(
    config: Config, connect: SourceFactory, names: Sequence[str]
) -> list[SourceLabels]:
    """Each named source's labels in use, classified against the config's KRs, in order."""
    index = KRIndex.from_objectives(config.domain_objectives())
    rules = config.rules()
    results = []
    for name in names:
        try:
            source = connect(name)
        except SourceError as error:
            log.error("labels.source_failed", source=name, stage="connect", error=str(error))
            results.append(SourceLabels(name, error=_message(name, error)))
            continue
        try:
            labels = source.labels_in_use()
        except SourceError as error:
            log.error("labels.source_failed", source=name, stage="labels", error=str(error))
            results.append(
                SourceLabels(name, error=_message(name, error), requests=source.requests.total)
            )
            continue
        finally:
            source.close()
        checks = check_labels(labels, index, rules)
        log.info("labels.read", source=name, labels=len(labels), kr_labels=len(checks))
        results.append(SourceLabels(name, checks, requests=source.requests.total))
    return results


def _message(name: str, error: SourceError) -> str:
    return str(error).removeprefix(f"{name}: ")

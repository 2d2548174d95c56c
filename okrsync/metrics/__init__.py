"""Outcome metric sources: where a KR's `current` value comes from."""

from okrsync.metrics.csv import read_csv_samples

__all__ = ["read_csv_samples"]

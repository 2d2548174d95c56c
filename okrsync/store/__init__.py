"""Persistence for work items, metric samples, sync cursors and write-back records."""

from okrsync.store._repository import Store, UpsertResult, WritebackRecord

__all__ = ["Store", "UpsertResult", "WritebackRecord"]

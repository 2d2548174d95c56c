"""The cyclic garbage collector paused around bulk work: reading, mapping or storing tens
of thousands of items makes several objects per item and frees none of them before the
end, so every collection in between would walk them all only to find them alive (at
50,000 to 100,000 items, a third of the time or more). What the block leaves is collected
afterwards as usual."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (when it runs at all)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

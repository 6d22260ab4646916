"""Thread and collector plumbing the sync uses to overlap reading, comparing and writing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def read_ahead(pages: Iterator[list[T]], reader: ThreadPoolExecutor) -> Iterator[T]:
    """The items of `pages`, the next page read on `reader`'s thread while this one is used.

    Reading starts at once, not on the first `next`. One thread at a time advances `pages`.
    """
    pending = reader.submit(next, pages, None)

    def items() -> Iterator[T]:
        nonlocal pending
        while (page := pending.result()) is not None:
            pending = reader.submit(next, pages, None)
            yield from page

    return items()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the plan builds ~50 objects per point.

    Those objects hold no cycles; left on, the collector walks all of them again and again
    (docs/performance.md measures what that costs). Reference counting still frees memory.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

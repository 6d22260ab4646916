"""Reading a collection's files ahead into the OS page cache, so the first searches after a start do not
wait on the disk.

Qdrant Edge maps its vectors, graph and payload files into memory and reads them on first touch. A
search walks the graph to random vectors, so on a cold page cache each one is a disk read, and the
first few hundred searches of a fresh process are much slower than the rest (docs/performance.md).
A collection is read through once per process, on a daemon thread, while searches go on; one that
would take more than a share of the free memory is left alone.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

# Most of the free memory a collection's files may take to be read ahead; past it reading them
# would only push out other pages.
FREE_MEMORY_SHARE = 0.5
CHUNK_BYTES = 8 * 1024 * 1024


class ReadAhead:
    """Reads each folder it is given ahead once per process (`warm_in_background`)."""

    def __init__(self) -> None:
        self.started: set[Path] = set()
        self._lock = threading.Lock()

    def once(self, folder: Path) -> None:
        """Start reading the folder ahead unless that was done already."""
        with self._lock:
            if folder in self.started:
                return
            self.started.add(folder)
        warm_in_background(folder)


def warm_in_background(folder: Path, *, budget_bytes: float | None = None) -> threading.Thread | None:
    """Start reading every file under `folder` on a daemon thread; None if they are over the budget
    (default: a share of the free memory)."""
    # Smallest first: the many small files (payload, indexes) are in before the large vector file.
    files = sorted((path for path in folder.rglob("*") if path.is_file()), key=_size)
    budget = FREE_MEMORY_SHARE * free_memory_bytes() if budget_bytes is None else budget_bytes
    if sum(_size(path) for path in files) > budget:
        return None
    thread = threading.Thread(target=read_through, args=(files,), name=f"warm {folder.name}", daemon=True)
    thread.start()
    return thread


def read_through(files: Iterable[Path]) -> int:
    """Read each file once (into the page cache); the bytes read. Files gone meanwhile are skipped."""
    buffer = bytearray(CHUNK_BYTES)
    total = 0
    for path in files:
        try:
            with path.open("rb", buffering=0) as file:
                while read := file.readinto(buffer):
                    total += read
        except OSError:
            continue  # replaced by an optimize, or the store closed and removed its folder
    return total


def free_memory_bytes() -> int:
    """Physical memory free now, or 0 where the system does not say (then nothing is read ahead)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0

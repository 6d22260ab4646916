"""Progress of long commands, on a terminal or in a log.

tqdm redraws one line with carriage returns, which a log file or a CI console shows as nothing
until the end (or as one huge line); `vitrine evaluate` ran four minutes that way with no sign
of life. Off a terminal, progress is one plain line every LOG_INTERVAL_S seconds instead, with
the rate and the time left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sized
from types import TracebackType
from typing import Any, TypeVar

from tqdm import tqdm

LOG_INTERVAL_S = 15.0
T = TypeVar("T")


class LineProgress:
    """tqdm's `update`/`close`/iteration, written as a line now and then (never a redraw)."""

    def __init__(
        self, iterable: Iterable[Any] | None = None, *, total: int | None, desc: str, unit: str
    ) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.done = 0
        self.started = self.reported = time.monotonic()
        self.postfix: dict[str, object] = {}
        self.reported_done = -1
        self.closed = False

    def set_postfix(self, **values: object) -> None:
        self.postfix = values

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.reported >= LOG_INTERVAL_S:
            self.reported = now
            self._line(now)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.done != self.reported_done or self.done == 0:
                self._line(time.monotonic())

    def _line(self, now: float) -> None:
        self.reported_done = self.done
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.desc}: {self.done}"
        if self.total:
            left = (self.total - self.done) / rate if rate else float("inf")
            text += f"/{self.total} ({100 * self.done / self.total:.0f}%), ~{left:.0f} s left"
        extra = "".join(f", {name}={value}" for name, value in self.postfix.items())
        print(f"{text}, {rate:.1f} {self.unit}/s, {elapsed:.0f} s so far{extra}", file=sys.stderr, flush=True)

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()


def progress_bar(
    iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str, unit: str
) -> Any:
    """A tqdm bar on a terminal, plain lines every LOG_INTERVAL_S seconds elsewhere."""
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, mininterval=1.0)
    if total is None and isinstance(iterable, Sized):
        total = len(iterable)
    return LineProgress(iterable, total=total, desc=desc, unit=unit)

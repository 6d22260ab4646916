"""What a sync did, and what the sync running in this process is doing now."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class SyncReport:
    """What one sync did."""

    collection: str
    model: str
    embedded: int = 0
    reused: int = 0
    payload_updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    active: bool = False
    files_removed: int = 0  # image files of deleted images and products, collected

    @property
    def changed(self) -> bool:
        """Whether the sync wrote anything."""
        return bool(self.embedded or self.reused or self.payload_updated or self.deleted)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class SyncProgress:
    """What this process's sync is doing, for the status endpoint."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.running = False
        self.stage = ""
        self.done = 0
        self.total = 0
        self.started_at: str | None = None
        self.last_report: SyncReport | None = None

    def start(self) -> None:
        with self._guard:
            self.running, self.stage, self.done, self.total = True, "planning", 0, 0
            self.started_at = datetime.now(UTC).isoformat()

    def advance(self, stage: str, done: int, total: int) -> None:
        with self._guard:
            self.stage, self.done, self.total = stage, done, total

    def finish(self, report: SyncReport | None) -> None:
        with self._guard:
            self.running, self.stage = False, "idle"
            if report is not None:
                self.last_report = report

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot."""
        with self._guard:
            return {
                "running": self.running,
                "stage": self.stage,
                "done": self.done,
                "total": self.total,
                "started_at": self.started_at,
                "last_report": self.last_report.to_dict() if self.last_report else None,
            }

"""What a sync did, and what the sync running in this process is doing now."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog.database import transaction
from backend.catalog.schema import SyncStatus


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
    """What the sync is doing, kept in the database so every worker and host reports the same.

    The process that runs the sync writes the row (progress at most every half second); any
    process reads it. A row that says "running" for a process of this host that no longer
    exists (killed mid-sync) reads as stage "interrupted".
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._written = 0.0

    def start(self) -> None:
        owner = f"{socket.gethostname()}:{os.getpid()}"
        self._write(
            running=True, stage="planning", done=0, total=0, owner=owner, started_at=datetime.now(UTC)
        )

    def advance(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._written >= PROGRESS_INTERVAL_S or done == total:
            self._write(stage=stage, done=done, total=total)

    def finish(self, report: SyncReport | None) -> None:
        fields: dict[str, Any] = {"running": False, "stage": "idle", "owner": ""}
        if report is not None:
            fields["last_report"] = report.to_dict()
        self._write(**fields)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot."""
        with self.sessions() as session:
            row = session.get(SyncStatus, STATUS_ROW)
        if row is None:
            return {
                "running": False,
                "stage": "idle",
                "done": 0,
                "total": 0,
                "started_at": None,
                "last_report": None,
            }
        running, stage = row.running, row.stage
        if running and _owner_is_gone(row.owner):
            running, stage = False, "interrupted"
        started = row.started_at
        return {
            "running": running,
            "stage": stage,
            "done": row.done,
            "total": row.total,
            "started_at": (started if started.tzinfo else started.replace(tzinfo=UTC)).isoformat()
            if started
            else None,
            "last_report": row.last_report,
        }

    def _write(self, **fields: Any) -> None:
        self._written = time.monotonic()
        with transaction(self.sessions) as session:
            row = session.get(SyncStatus, STATUS_ROW)
            if row is None:
                row = SyncStatus(id=STATUS_ROW, running=False, stage="idle", done=0, total=0, owner="")
                session.add(row)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = datetime.now(UTC)


STATUS_ROW = 1
IDLE = {"running": False, "stage": "idle", "done": 0, "total": 0, "started_at": None}
PROGRESS_INTERVAL_S = 0.5


def _owner_is_gone(owner: str) -> bool:
    """Whether the sync's process was on this host and no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host's: trust the row
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False

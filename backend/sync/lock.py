"""One sync at a time across processes and hosts.

PostgreSQL deployments take a session-level advisory lock, which every host that shares the
catalog sees and which the server drops if the holder dies. Other databases (SQLite, one
host) take an exclusive flock on a file in the data directory, which the kernel drops when
the holding process dies, SIGKILL included.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select

from backend.errors import Conflict

# An arbitrary constant that names "the Vitrine sync" among advisory locks.
ADVISORY_LOCK_KEY = 0x5649_5452  # "VITR"


@contextmanager
def sync_lock(engine: Engine, data_dir: Path) -> Iterator[None]:
    """Hold the sync lock for the block; Conflict if another sync holds it."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine):
            yield
    else:
        with _file_lock(data_dir / "sync.lock"):
            yield


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    with engine.connect() as connection:
        acquired = connection.execute(select(func.pg_try_advisory_lock(ADVISORY_LOCK_KEY))).scalar()
        connection.commit()
        if not acquired:
            raise Conflict("another sync is running (PostgreSQL advisory lock is held)")
        try:
            yield
        finally:
            # Unlock explicitly: the pooled connection outlives this block.
            connection.execute(select(func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
            connection.commit()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"another sync is running (lock file {path} is held)") from None
        yield
    finally:
        os.close(descriptor)  # closing releases the lock

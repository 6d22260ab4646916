"""Database engine and sessions, and schema migration through Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import migrations
from backend.errors import Conflict, Unavailable
from backend.json_values import decode_json

# How long a SQLite writer waits for the one write lock before the request gets 503.
SQLITE_BUSY_TIMEOUT_S = 30


def create_database_engine(url: str, *, connections: int = 10) -> Engine:
    """Create an engine for the URL; SQLite files get foreign keys, WAL and real transactions.

    A server's pool keeps half the connections open and opens the rest under load.
    """
    if ensure_sqlite_folder(url):
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, json_deserializer=decode_json
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    kept = max(1, connections // 2)
    overflow = connections - kept
    return create_engine(
        url, pool_pre_ping=True, pool_size=kept, max_overflow=overflow, json_deserializer=decode_json
    )


def ensure_sqlite_folder(url: str) -> bool:
    """Create the folder of a SQLite file URL; returns whether the URL is SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return True


def _configure_sqlite(connection: Any, _record: Any) -> None:
    # The driver's own transaction handling opens a transaction only at the first INSERT, so a
    # SAVEPOINT issued before it (the per-row savepoints of a bulk upsert) ran as a transaction of
    # its own and every row committed alone. SQLAlchemy's documented recipe: turn the driver's
    # handling off here and emit BEGIN ourselves in `_begin_sqlite`.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # The mode is kept in the file. Setting it again is not free: it fails at once, without
    # waiting, while another connection writes, which turned new pool connections under write load
    # into "database unavailable".
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    # A write transaction takes the write lock at BEGIN: a deferred one that read first and then
    # wrote would fail at once with "database is locked" when another writer held the lock (SQLite
    # cannot wait there without risking a deadlock). Writers now queue for up to the busy timeout,
    # and a check-then-insert inside one write cannot race another; reads stay concurrent (WAL).
    mode = "IMMEDIATE" if connection.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


# The execution option that marks a connection's transaction as a write (see `transaction`).
WRITE_OPTION = "vitrine_write"


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A write: a session that commits when the block succeeds and rolls back when it raises.

    On SQLite it holds the database's write lock from its start, so writers take turns.
    """
    with factory() as session, session.begin():
        session.connection(execution_options={WRITE_OPTION: True})
        yield session


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the project's migrations."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_schema(url: str, revision: str = "head") -> None:
    """Bring the schema up to a revision (head by default)."""
    sqlite = ensure_sqlite_folder(url)
    command.upgrade(alembic_config(url), revision)
    if sqlite:  # the file is made WAL here, before any server shares it (see _configure_sqlite)
        engine = create_database_engine(url)
        with engine.connect():
            pass
        engine.dispose()


def downgrade_schema(url: str, revision: str) -> None:
    """Take the schema down to a revision ("base" removes everything)."""
    command.downgrade(alembic_config(url), revision)


def check_database(engine: Engine) -> None:
    """Raise Unavailable unless the database answers a trivial query."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        raise Unavailable(f"database unreachable: {type(error).__name__}") from error


def require_current_schema(engine: Engine) -> None:
    """Raise Conflict unless the database schema is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as error:
        raise Unavailable(f"database unreachable: {type(error).__name__}") from error
    if current != head:
        raise Conflict(
            f"the database schema is at {current or 'nothing'}, the code needs {head}; run `vitrine migrate`"
        )

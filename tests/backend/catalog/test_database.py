"""Migrations are the only way the schema is made; they must match the models both ways."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import exc, inspect

from backend.catalog.database import create_database_engine, downgrade_schema, upgrade_schema
from backend.catalog.schema import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def test_upgrade_creates_a_schema_equal_to_the_models(empty_database: str) -> None:
    upgrade_schema(empty_database)
    engine = create_database_engine(empty_database)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_downgrade_to_base_removes_everything_and_upgrade_again_works(empty_database: str) -> None:
    upgrade_schema(empty_database)
    downgrade_schema(empty_database, "base")
    engine = create_database_engine(empty_database)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade_schema(empty_database)
    assert {"products", "product_images"} <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.postgres
def test_a_server_pool_lets_every_thread_hold_a_connection(fresh_postgres_url: str) -> None:
    """Each request thread holds a connection for a whole search; with more threads than the
    pool's connections, the rest waited (seconds at p99 for 16 threads and 10 connections)."""
    engine = create_database_engine(fresh_postgres_url, connections=16)
    held = []
    try:
        with engine.connect() as probe:
            probe.exec_driver_sql("SELECT 1")
        # A 17th connection waits this long for one to come back, then fails.
        engine.pool._timeout = 1  # type: ignore[attr-defined]
        for _ in range(16):
            held.append(engine.connect())
        assert len(held) == 16
        with pytest.raises(exc.TimeoutError):
            engine.connect()
    finally:
        for connection in held:
            connection.close()
        engine.dispose()

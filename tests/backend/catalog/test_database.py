"""Migrations are the only way the schema is made; they must match the models both ways."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

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

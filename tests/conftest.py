"""Fixtures shared by every test: the real PostgreSQL server and the grocery data set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

REPOSITORY = Path(__file__).resolve().parents[1]
# The data set is read in place: $VITRINE_GROCERY_DIR, else the shared folder beside the
# repository, else the machine's shared folder (for a clone made elsewhere, such as /tmp).
GROCERY_CANDIDATES = [
    *([Path(os.environ["VITRINE_GROCERY_DIR"])] if os.environ.get("VITRINE_GROCERY_DIR") else []),
    REPOSITORY.parent / "shared" / "datasets" / "grocery-store",
    Path("/work/shared/datasets/grocery-store"),
]
GROCERY = next(
    (path for path in GROCERY_CANDIDATES if (path / "dataset" / "classes.csv").is_file()),
    GROCERY_CANDIDATES[0],
)
DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_server_url() -> str:
    """An administrative URL of the test PostgreSQL server."""
    return os.environ.get("VITRINE_TEST_DATABASE_URL", DEFAULT_SERVER_URL)


def create_postgres_database() -> str:
    """Create a new, empty database on the test server and return its URL."""
    server = postgres_server_url()
    name = f"vitrine_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        pytest.fail(
            f"PostgreSQL at {make_url(server).render_as_string(hide_password=True)} is not "
            f"reachable ({error.orig}); start it or set VITRINE_TEST_DATABASE_URL",
            pytrace=False,
        )
    finally:
        engine.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop a database made by create_postgres_database."""
    name = make_url(url).database
    engine = create_engine(postgres_server_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database of its own for one test."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def grocery() -> Path:
    """The grocery-store data set, read where it lies (never copied into the repository)."""
    if not (GROCERY / "dataset" / "classes.csv").is_file():
        tried = ", ".join(str(path) for path in GROCERY_CANDIDATES)
        pytest.fail(f"the grocery data set is missing (looked in {tried})", pytrace=False)
    return GROCERY / "dataset"

"""Fixtures shared by every test: the real PostgreSQL server, the grocery data set, and caches kept in tmp."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.servers import ProductionPair, docker_unavailable, started_pair

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
# The caches that code under test writes, by the environment variable that places each one.
CACHE_FOLDERS = {
    "VITRINE_ONNX_CACHE": "vitrine-onnx",
    "TORCH_HOME": "torch",
    "MPLCONFIGDIR": "matplotlib",
    "XDG_CACHE_HOME": "xdg",
}
CACHE_BASE = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Point every cache the code writes into a fresh temporary folder for the whole run.

    A hook, not a fixture, because matplotlib writes its font cache as soon as it is imported,
    which happens while test modules are collected. Subprocesses started by tests copy os.environ,
    so they write there too.
    """
    base = Path(tempfile.mkdtemp(prefix="vitrine-test-caches-"))
    config.stash[CACHE_BASE] = base
    for variable, folder in CACHE_FOLDERS.items():
        os.environ[variable] = str(base / folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Delete the run's caches, ONNX exports included.

    The variables keep pointing here: onnxruntime writes a small usage database under
    XDG_CACHE_HOME as the process exits, which would otherwise land in the real home cache.
    """
    if CACHE_BASE in config.stash:
        shutil.rmtree(config.stash[CACHE_BASE], ignore_errors=True)


@pytest.fixture(scope="session")
def test_cache_base(pytestconfig: pytest.Config) -> Path:
    """The temporary folder that holds every cache written during this test run."""
    return pytestconfig.stash[CACHE_BASE]


def postgres_server_url() -> str:
    """An administrative URL of the test PostgreSQL server."""
    return os.environ.get("VITRINE_TEST_DATABASE_URL", DEFAULT_SERVER_URL)


def create_postgres_database(server: str | None = None) -> str:
    """Create a new, empty database on the test server (or another) and return its URL."""
    server = server or postgres_server_url()
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


def drop_postgres_database(url: str, server: str | None = None) -> None:
    """Drop a database made by create_postgres_database."""
    name = make_url(url).database
    engine = create_engine(server or postgres_server_url(), isolation_level="AUTOCOMMIT")
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


@pytest.fixture(scope="session")
def production_pair() -> Iterator[ProductionPair]:
    """PostgreSQL and a Qdrant server: containers where Docker answers, or QDRANT_URL's server."""
    if os.environ.get("QDRANT_URL"):
        yield ProductionPair(postgres_server_url=None, qdrant_url=os.environ["QDRANT_URL"])
        return
    reason = docker_unavailable()
    if reason is not None:
        pytest.skip(
            "the production pair (PostgreSQL + Qdrant server in containers) needs a Docker engine, "
            f"and none answers here ({reason}); CI has no Docker. Set QDRANT_URL to use a server."
        )
    with started_pair() as pair:
        yield pair

"""Backend fixtures: migrated databases (SQLite, PostgreSQL, the production pair), services, the Flask app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from backend.app import create_app
from backend.catalog.database import create_database_engine, upgrade_schema
from backend.model_provider import ModelProvider
from backend.settings import Settings
from backend.wiring import Services, build_services
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.servers import ProductionPair

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def models() -> ModelProvider:
    """The default embedding model, loaded once for the whole run."""
    return ModelProvider("efficientnet_lite0")


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """A PostgreSQL database migrated to head, shared by the session."""
    url = create_postgres_database()
    upgrade_schema(url)
    yield url
    drop_postgres_database(url)


# The catalog databases every catalog, API and sync test runs on. "production-pair" is PostgreSQL
# and a Qdrant server as docker-compose.yml runs them (tests/servers.py): it skips, saying why,
# where no Docker engine answers and QDRANT_URL is unset, as on this project's CI.
DATABASES = ["sqlite", "postgresql", "production-pair"]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty catalog database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
        upgrade_schema(url)
        yield url
        return
    if request.param == "production-pair":
        pair: ProductionPair = request.getfixturevalue("production_pair")
        url = create_postgres_database(pair.postgres_server_url)
        upgrade_schema(url)
        yield url
        drop_postgres_database(url, pair.postgres_server_url)
        return
    url = request.getfixturevalue("migrated_postgres")
    engine = create_database_engine(url)
    with engine.begin() as connection:
        tables = "products, product_images, search_indexes, sync_status"
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield url


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Settings for a throwaway deployment under tmp_path (with the production pair: its Qdrant server)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, admin_token=ADMIN_TOKEN)
    if _uses_pair(request):
        pair: ProductionPair = request.getfixturevalue("production_pair")
        # A prefix of its own: tests share the server, and each expects an empty index.
        settings = settings.with_overrides(
            qdrant_url=pair.qdrant_url, collection_prefix=f"t{uuid.uuid4().hex[:10]}"
        )
    return settings


def _uses_pair(request: pytest.FixtureRequest) -> bool:
    callspec = getattr(request.node, "callspec", None)
    return callspec is not None and callspec.params.get("database_url") == "production-pair"


@pytest.fixture
def services(settings: Settings, models: ModelProvider) -> Iterator[Services]:
    """Services over the test database and the default embedded engine (Qdrant Edge) under tmp_path."""
    built = build_services(settings, models=models)
    yield built
    built.close()


@pytest.fixture
def app(services: Services) -> Flask:
    """The Flask app over the test services."""
    application = create_app(services=services)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """The Authorization header the admin API wants."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

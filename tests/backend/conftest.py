"""Backend fixtures: migrated databases on SQLite and PostgreSQL, services, the Flask app."""

from __future__ import annotations

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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty catalog database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
        upgrade_schema(url)
        return url
    url: str = request.getfixturevalue("migrated_postgres")
    engine = create_database_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("TRUNCATE products, product_images, search_indexes, sync_status RESTART IDENTITY CASCADE")
        )
    engine.dispose()
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a throwaway deployment under tmp_path."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, admin_token=ADMIN_TOKEN)


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

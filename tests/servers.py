"""The production pair for tests: PostgreSQL and a Qdrant server, started by testcontainers.

Where a Docker engine answers, the pair is started once per test run, with the image versions
that docker-compose.yml runs in production. `QDRANT_URL` names an existing Qdrant server
instead (PostgreSQL is then the tests' usual server). Without either, the tests that need the
pair skip and say why. This machine and its CI have no Docker engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


@dataclass(frozen=True)
class ProductionPair:
    """Where the pair listens: a PostgreSQL server (administrative URL) and a Qdrant server."""

    postgres_server_url: str | None  # None: the tests' usual PostgreSQL server
    qdrant_url: str


def compose_image(service: str) -> str:
    """The image docker-compose.yml runs for a service, so tests and production use one version."""
    compose: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    image: str = compose["services"][service]["image"]
    return image


def docker_unavailable() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    try:
        import docker
    except ImportError as error:  # pragma: no cover - testcontainers brings it
        return f"the docker package is missing ({error})"
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return "no /var/run/docker.sock and no DOCKER_HOST"
    client = None
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception as error:  # any way of not reaching the engine
        cause = error.__context__ or error
        return f"{type(cause).__name__}: {str(cause)[:80]}"
    finally:
        if client is not None:
            client.close()
    return None


@contextmanager
def started_pair() -> Iterator[ProductionPair]:
    """PostgreSQL and Qdrant in containers, for as long as the block runs."""
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.qdrant import QdrantContainer

    with (
        PostgresContainer(compose_image("postgres"), driver="psycopg") as postgres,
        QdrantContainer(compose_image("qdrant")) as qdrant,
    ):
        url = postgres.get_connection_url()
        qdrant_url = f"http://{qdrant.get_container_host_ip()}:{qdrant.exposed_rest_port}"
        yield ProductionPair(postgres_server_url=url, qdrant_url=qdrant_url)

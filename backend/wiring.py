"""Wiring: builds the engine, stores, model provider and services from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog.database import create_database_engine, create_session_factory
from backend.catalog.image_store import ImageStore
from backend.catalog.service import CatalogService
from backend.model_provider import ModelProvider
from backend.search.service import SearchService
from backend.settings import Settings
from backend.sync.lock import sync_lock
from backend.sync.service import SyncService
from backend.vectors.factory import open_store
from backend.vectors.store import VectorIndex
from embedder.registry import Backend


@dataclass
class Services:
    """Everything a request handler or command needs, built once per process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: VectorIndex
    images: ImageStore
    models: ModelProvider
    catalog: CatalogService
    search: SearchService
    sync: SyncService

    def close(self) -> None:
        """Release connections and the embedded store's lock."""
        self.store.close()
        self.engine.dispose()


def build_services(
    settings: Settings, *, store: VectorIndex | None = None, models: ModelProvider | None = None
) -> Services:
    """Build the services; store and models may be passed in to share them (tests)."""
    engine = create_database_engine(settings.database_url, connections=settings.database_connections)
    sessions = create_session_factory(engine)
    vector_store = store or open_store(settings)
    model_provider = models or ModelProvider(
        settings.model,
        allow_download=settings.allow_weight_download,
        backend=cast(Backend, settings.inference_backend),  # Settings checked it is one of them
    )
    images = ImageStore(settings.image_dir, max_pixels=settings.max_image_pixels)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        store=vector_store,
        images=images,
        models=model_provider,
        catalog=CatalogService(sessions, images),
        search=SearchService(sessions, vector_store, model_provider, max_results=settings.max_results),
        sync=SyncService(
            sessions,
            vector_store,
            model_provider,
            images,
            lock=lambda: sync_lock(engine, settings.data_dir),
            batch_size=settings.embed_batch_size,
        ),
    )

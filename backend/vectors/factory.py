"""Which vector store the settings name: the one place that chooses an engine."""

from __future__ import annotations

from typing import cast

from backend.settings import Settings
from backend.vectors.edge_store import EdgeStore
from backend.vectors.qdrant_client_store import QdrantClientStore
from backend.vectors.remote_store import RemoteStore
from backend.vectors.store import VectorIndex


def open_store(settings: Settings) -> VectorIndex:
    """A Qdrant server when QDRANT_URL is set, else the embedded engine under the data dir.

    In a worker of `vitrine serve --workers N` (store_address set) the embedded engine is
    reached through the store process that owns it.
    """
    if settings.qdrant_url:
        return QdrantClientStore.remote(
            settings.qdrant_url, api_key=settings.qdrant_api_key, prefix=settings.collection_prefix
        )
    if settings.store_address and settings.store_authkey:
        remote = RemoteStore(
            settings.store_address, settings.store_authkey.encode(), prefix=settings.collection_prefix
        )
        # It forwards the protocol's methods by name (__getattr__), which mypy cannot see.
        return cast(VectorIndex, remote)
    return open_embedded_store(settings)


def open_embedded_store(settings: Settings) -> VectorIndex:
    """The embedded engine under the data dir that the settings name (Edge, or local mode)."""
    if settings.embedded_engine == "local":
        return QdrantClientStore.embedded_at(settings.qdrant_path, prefix=settings.collection_prefix)
    return EdgeStore.embedded_at(settings.edge_path, prefix=settings.collection_prefix)

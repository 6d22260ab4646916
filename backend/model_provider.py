"""Loads embedding models once per process, on first use."""

from __future__ import annotations

import gc
import threading

from backend.errors import Unavailable
from embedder import Embedder, ModelLoadError, load_embedder
from embedder.registry import Backend


class ModelProvider:
    """Holds the process's embedders by spec; loading is lazy because it costs seconds and memory."""

    def __init__(self, spec: str, *, allow_download: bool = False, backend: Backend = "auto") -> None:
        self.spec = spec  # the configured default, used until an index records another
        self.allow_download = allow_download
        self.backend = backend
        self._embedders: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def get(self, spec: str | None = None) -> Embedder:
        """The embedder for a spec (default: the configured one), loading it on first use."""
        wanted = spec or self.spec
        with self._lock:
            if wanted not in self._embedders:
                try:
                    self._embedders[wanted] = load_embedder(
                        wanted, allow_download=self.allow_download, backend=self.backend
                    )
                except ModelLoadError as error:
                    raise Unavailable(f"embedding model {wanted!r} cannot be loaded: {error}") from error
                # A model and the modules its loading imported live as long as the process. Frozen,
                # they are no longer walked by every full collection, the first of which otherwise
                # lands on a request soon after the load and stalls it (docs/performance.md).
                gc.collect()
                gc.freeze()
            return self._embedders[wanted]

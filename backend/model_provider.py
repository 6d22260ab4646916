"""Loads the configured embedding model once per process, on first use."""

from __future__ import annotations

import threading

from embedder import Embedder, ModelLoadError, load_embedder

from .errors import Unavailable


class ModelProvider:
    """Holds the process's embedder; loading is lazy because it costs seconds and memory."""

    def __init__(self, spec: str, *, allow_download: bool = False) -> None:
        self.spec = spec
        self.allow_download = allow_download
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()

    def get(self) -> Embedder:
        """The embedder, loading it if this is the first call."""
        with self._lock:
            if self._embedder is None:
                try:
                    self._embedder = load_embedder(self.spec, allow_download=self.allow_download)
                except ModelLoadError as error:
                    raise Unavailable(f"embedding model {self.spec!r} cannot be loaded: {error}") from error
            return self._embedder

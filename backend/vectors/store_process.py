"""The embedded vector store shared by several processes: one process owns it, others call it.

An embedded engine's folder can be opened by one process at a time. To serve it from several
gunicorn workers, `vitrine serve --workers N` starts a store process that opens the folder and
answers the `VectorIndex` methods over a Unix socket (multiprocessing's manager protocol: the
arguments and results are pickled, each caller thread gets its own connection, the server
answers each connection on its own thread, and the socket checks a shared secret, HMAC,
before anything is unpickled). The workers use `RemoteStore`, which implements the same
interface, so search and sync run unchanged. If the store process is gone, every call is
Unavailable (503).

Run by `vitrine serve`: python -m backend.store_server, with VITRINE_STORE_ADDRESS (the socket)
and VITRINE_STORE_AUTHKEY (the secret) in the environment beside the usual settings.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing import AuthenticationError
from multiprocessing.managers import BaseManager, BaseProxy
from pathlib import Path
from typing import Any

import numpy as np

from backend.errors import Unavailable
from backend.filters.search_filter import SearchFilter
from backend.settings import Settings
from backend.vectors.qdrant_client_store import IndexPoint, PayloadUpdate, PointState, ProductHit
from backend.vectors.store import VectorIndex, open_embedded_store

# The VectorIndex methods a worker may call; point_states is served as a list (a generator
# cannot cross the socket).
EXPOSED = (
    "collection_name",
    "alias",
    "check",
    "has_collection",
    "ensure_collection",
    "point_alias",
    "alias_target",
    "upsert",
    "update_payloads",
    "flush",
    "delete",
    "optimize",
    "point_state_list",
    "vectors",
    "count",
    "search_products",
    "recommend_products",
)


class _Served:
    """What the store process serves: the store, plus what a proxy cannot carry (a generator, a property)."""

    def __init__(self, store: VectorIndex) -> None:
        self.store = store
        self.closed = False  # set before the store closes: calls still arriving are refused

    def __getattr__(self, name: str) -> Any:
        self._check_open()
        return getattr(self.store, name)

    def _check_open(self) -> None:
        if self.closed:
            raise Unavailable("the vector store process is shutting down")

    def point_state_list(self, name: str, page_size: int = 1000) -> list[PointState]:
        self._check_open()
        return list(self.store.point_states(name, page_size=page_size))

    def alias(self) -> str:
        self._check_open()
        return self.store.active_alias


class _ServerManager(BaseManager):
    """The store process's side; `serve` registers what it serves."""


class _ClientManager(BaseManager):
    """The workers' side: a proxy to the served store."""


_ClientManager.register("store", exposed=EXPOSED)


def serve(store: VectorIndex, address: str, authkey: bytes) -> None:
    """Serve the store on a Unix socket until SIGTERM or SIGINT, or until its parent is gone."""
    store.check()  # fail now, not on the first request, if the folder cannot be opened
    served = _Served(store)
    _ServerManager.register("store", callable=lambda: served, exposed=EXPOSED)
    manager = _ServerManager(address=address, authkey=authkey)
    server = manager.get_server()

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    os.chmod(address, 0o600)
    try:
        server.serve_forever()
    finally:
        served.closed = True
        store.close()
        Path(address).unlink(missing_ok=True)


def _exit_with_parent(parent: int) -> None:
    """`vitrine serve` started this process in its own session; stop (cleanly) if it dies."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


class RemoteStore:
    """A VectorIndex whose calls go to the store process; thread-safe (a connection per thread).

    It connects on first use, and a thread whose connection broke connects afresh on its next
    call: a worker that boots while the store process is down, or outlives a restart of it,
    answers 503 meanwhile instead of failing to boot or failing for good.
    """

    embedded = True

    def __init__(self, address: str, authkey: bytes, *, prefix: str) -> None:
        self.address = address
        self.prefix = prefix
        self._authkey = authkey
        self._guard = threading.Lock()
        self._proxy: BaseProxy | None = None
        self._alias: str | None = None

    def _connected(self) -> BaseProxy:
        with self._guard:
            if self._proxy is None:
                manager = _ClientManager(address=self.address, authkey=self._authkey)
                try:
                    manager.connect()
                    self._proxy = manager.store()  # type: ignore[attr-defined]
                except (OSError, EOFError, AuthenticationError) as error:
                    raise Unavailable(
                        f"vector store process at {self.address} cannot be reached: {error}"
                    ) from None
            return self._proxy

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        proxy = self._connected()
        try:
            return proxy._callmethod(method, args, kwargs)
        except (ConnectionError, EOFError) as error:  # the socket, not the method, failed
            self._forget(proxy)
            raise Unavailable(f"vector store process at {self.address} is gone: {error}") from None

    def _forget(self, proxy: BaseProxy) -> None:
        # multiprocessing caches one connection per thread and address, shared by every proxy:
        # drop this thread's, or a new proxy would reuse the dead socket.
        local = getattr(proxy, "_tls", None)
        connection = getattr(local, "connection", None)
        if local is not None and connection is not None:
            with contextlib.suppress(OSError):
                connection.close()
            del local.connection
        with self._guard:
            if self._proxy is proxy:
                self._proxy = None

    @property
    def active_alias(self) -> str:
        if self._alias is None:
            self._alias = self._call("alias")
        return self._alias

    def collection_name(self, model_key: str) -> str:
        return str(self._call("collection_name", model_key))

    def close(self) -> None:
        """Nothing to release here: the store process owns the store."""

    def check(self) -> None:
        self._call("check")

    def has_collection(self, name: str) -> bool:
        return bool(self._call("has_collection", name))

    def ensure_collection(self, name: str, dimension: int) -> None:
        self._call("ensure_collection", name, dimension)

    def point_alias(self, alias: str, collection: str) -> None:
        self._call("point_alias", alias, collection)

    def alias_target(self, alias: str) -> str | None:
        target = self._call("alias_target", alias)
        return None if target is None else str(target)

    def upsert(self, name: str, points: Sequence[IndexPoint]) -> None:
        self._call("upsert", name, list(points))

    def update_payloads(self, name: str, updates: Sequence[PayloadUpdate], *, durable: bool = True) -> None:
        self._call("update_payloads", name, list(updates), durable=durable)

    def flush(self, name: str) -> None:
        self._call("flush", name)

    def delete(self, name: str, point_ids: Sequence[int]) -> None:
        self._call("delete", name, list(point_ids))

    def optimize(self, name: str) -> None:
        self._call("optimize", name)

    def point_states(self, name: str, *, page_size: int = 1000) -> Iterator[PointState]:
        return iter(self._call("point_state_list", name, page_size))

    def vectors(self, name: str, point_ids: Sequence[int]) -> dict[int, np.ndarray]:
        return dict(self._call("vectors", name, list(point_ids)))

    def count(self, name: str) -> int:
        return int(self._call("count", name))

    def search_products(
        self,
        name: str,
        vector: np.ndarray,
        search_filter: SearchFilter,
        limit: int,
        *,
        score_threshold: float | None = None,
    ) -> list[ProductHit]:
        return list(
            self._call("search_products", name, vector, search_filter, limit, score_threshold=score_threshold)
        )

    def recommend_products(
        self,
        name: str,
        positive: Sequence[int | np.ndarray],
        negative: Sequence[int | np.ndarray],
        search_filter: SearchFilter,
        limit: int,
        *,
        best_score: bool = False,
        score_threshold: float | None = None,
    ) -> list[ProductHit]:
        return list(
            self._call(
                "recommend_products",
                name,
                list(positive),
                list(negative),
                search_filter,
                limit,
                best_score=best_score,
                score_threshold=score_threshold,
            )
        )


def main() -> None:
    """Open the embedded store named by the settings and serve it at VITRINE_STORE_ADDRESS."""
    settings = Settings.from_env()
    if settings.qdrant_url or not settings.store_address or not settings.store_authkey:
        raise SystemExit("needs VITRINE_STORE_ADDRESS and VITRINE_STORE_AUTHKEY, and no QDRANT_URL")
    serve(open_embedded_store(settings), settings.store_address, settings.store_authkey.encode())


if __name__ == "__main__":
    main()

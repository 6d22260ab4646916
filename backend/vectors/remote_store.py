"""`RemoteStore`: the `VectorIndex` of a gunicorn worker, whose calls go to the store process.

The store process (`backend.vectors.store_process`) owns the embedded engine's folder and
answers over a Unix socket with multiprocessing's manager protocol (arguments and results
pickled, a connection per caller thread, an HMAC check of a shared secret before anything is
unpickled). Every `VectorIndex` method but naming and `point_states` is forwarded as it is.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from multiprocessing import AuthenticationError
from multiprocessing.managers import BaseManager, BaseProxy
from typing import Any

from backend.errors import Unavailable
from backend.vectors.store import NamedCollections
from backend.vectors.types import PointState

# Forwarded unchanged; the protocol's other members are answered here (naming, which needs
# only the prefix; `close`) or reshaped (`point_states`: a generator cannot cross the socket).
FORWARDED = (
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
    "vectors",
    "count",
    "search_products",
    "recommend_products",
)
EXPOSED = (*FORWARDED, "point_state_list")


class _ClientManager(BaseManager):
    """The workers' side: a proxy to the served store."""


_ClientManager.register("store", exposed=EXPOSED)


class RemoteStore(NamedCollections):
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

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method not in FORWARDED:
            raise AttributeError(method)
        return lambda *args, **kwargs: self._call(method, *args, **kwargs)

    def close(self) -> None:
        """Nothing to release here: the store process owns the store."""

    def point_states(self, name: str, *, page_size: int = 1000) -> Iterator[PointState]:
        """Every point's id and payload (read whole by the store process)."""
        return iter(self._call("point_state_list", name, page_size))

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        proxy = self._connected()
        try:
            return proxy._callmethod(method, args, kwargs)
        except (ConnectionError, EOFError) as error:  # the socket, not the method, failed
            self._forget(proxy)
            raise Unavailable(f"vector store process at {self.address} is gone: {error}") from None

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

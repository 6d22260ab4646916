"""The embedded vector store shared by several processes: one process owns it, others call it.

An embedded engine's folder can be opened by one process at a time. To serve it from several
gunicorn workers, `vitrine serve --workers N` starts a store process that opens the folder and
answers the `VectorIndex` methods over a Unix socket (multiprocessing's manager protocol: the
arguments and results are pickled, each caller thread gets its own connection, the server
answers each connection on its own thread, and the socket checks a shared secret, HMAC,
before anything is unpickled). The workers use `RemoteStore` (backend/vectors/remote_store.py),
which implements the same interface, so search and sync run unchanged. If the store process
is gone, every call is Unavailable (503).

Run by `vitrine serve`: python -m backend.vectors.store_process, with VITRINE_STORE_ADDRESS (the socket)
and VITRINE_STORE_AUTHKEY (the secret) in the environment beside the usual settings.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from multiprocessing.managers import BaseManager
from typing import Any

from backend.errors import Unavailable
from backend.settings import Settings
from backend.vectors.factory import open_embedded_store
from backend.vectors.remote_store import EXPOSED
from backend.vectors.store import VectorIndex
from backend.vectors.types import PointState


class _Served:
    """What the store process serves: the store, plus what a proxy cannot carry (a generator)."""

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


class _ServerManager(BaseManager):
    """The store process's side; `serve` registers what it serves."""


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
        # The socket file is removed by the listener's own finalizer at exit; removing it here
        # too made that finalizer print a FileNotFoundError traceback on every shutdown.


def _exit_with_parent(parent: int) -> None:
    """`vitrine serve` started this process in its own session; stop (cleanly) if it dies."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    """Open the embedded store named by the settings and serve it at VITRINE_STORE_ADDRESS."""
    settings = Settings.from_env()
    if settings.qdrant_url or not settings.store_address or not settings.store_authkey:
        raise SystemExit("needs VITRINE_STORE_ADDRESS and VITRINE_STORE_AUTHKEY, and no QDRANT_URL")
    serve(open_embedded_store(settings), settings.store_address, settings.store_authkey.encode())


if __name__ == "__main__":
    main()

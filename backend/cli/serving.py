"""`vitrine serve`: gunicorn, and beside it the store process when workers share an embedded store."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

# How long a client may take to send one whole request (`vitrine serve --request-timeout`);
# the worker (buffering_worker.py) reads it from the environment.
REQUEST_TIMEOUT_ENV = "VITRINE_REQUEST_TIMEOUT"
DEFAULT_REQUEST_TIMEOUT_S = 30.0
# How long a whole request may wait for a free thread before it is answered 503 with Retry-After
# (`vitrine serve --queue-timeout`): well under the 30-60 s after which clients give up unseen.
QUEUE_TIMEOUT_ENV = "VITRINE_QUEUE_TIMEOUT"
DEFAULT_QUEUE_TIMEOUT_S = 10.0

# gunicorn's hooks: the workers' shared metrics folder, and the app's JSON access log on stdout.
GUNICORN_CONFIG = "python:backend.cli.gunicorn_config"


def run_gunicorn(bind: str, workers: int, threads: int, *, store_process: bool) -> int:
    """Serve the app with gunicorn; with `store_process`, a store process owns the embedded store."""
    # Each worker writes its metrics to files here and /metrics sums them all (prometheus_client's
    # multiprocess mode). A fresh folder, so no count of an earlier run is summed in; gunicorn's
    # on_exit hook removes it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="vitrine-metrics-")
    arguments = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "backend.cli.buffering_worker.BufferingWorker",
        "--timeout",
        "120",
        "--config",
        GUNICORN_CONFIG,
        "backend.app:create_app()",
    ]
    if not store_process:
        os.execvp(arguments[0], arguments)
    return _serve_with_store_process(arguments)


def _serve_with_store_process(gunicorn_arguments: list[str]) -> int:
    """Run gunicorn beside a store process; restart the store if it dies, stop it after gunicorn."""
    folder = Path(tempfile.mkdtemp(prefix="vitrine-store-"))  # short: a socket path allows ~100 chars
    address = folder / "store.sock"
    environment = {
        **os.environ,
        "VITRINE_STORE_ADDRESS": str(address),
        "VITRINE_STORE_AUTHKEY": secrets.token_hex(32),
    }
    stop_requested: list[int] = []
    server: subprocess.Popen[bytes] | None = None
    store: subprocess.Popen[bytes] | None = None

    def forward(number: int, _frame: Any) -> None:
        stop_requested.append(number)
        if server is not None:
            server.send_signal(number)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        store = _start_store(environment, address)
        if stop_requested:
            return 0
        server = subprocess.Popen(gunicorn_arguments, env=environment)
        while (code := server.poll()) is None:
            if store.poll() is not None:  # workers reconnect on their next call; 503 meanwhile
                click.echo(f"vector store process exited ({store.returncode}); starting another", err=True)
                store = _start_store(environment, address)
            time.sleep(0.5)
        return code
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait()
        if store is not None:
            store.terminate()  # it closes the store (flush, release the folder lock) and exits
            try:
                store.wait(timeout=120)
            except subprocess.TimeoutExpired:
                store.kill()
                store.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _start_store(environment: dict[str, str], address: Path) -> subprocess.Popen[bytes]:
    """Start `python -m backend.vectors.store_process` and wait until it listens."""
    address.unlink(missing_ok=True)  # left behind by a store process that was killed
    # Its own session: a terminal's Ctrl-C reaches gunicorn, and the store stops only after it
    # (and by itself if this process dies).
    store = subprocess.Popen(
        [sys.executable, "-m", "backend.vectors.store_process"], env=environment, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not address.exists():
        if store.poll() is not None:
            raise click.ClickException(f"the vector store process exited with status {store.returncode}")
        if time.monotonic() > deadline:
            store.kill()
            raise click.ClickException("the vector store process did not start within 120 s")
        time.sleep(0.05)
    return store

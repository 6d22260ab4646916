"""gunicorn's settings module for `vitrine serve` (`--config python:backend.cli.gunicorn_config`).

It keeps the workers' shared metrics folder tidy and sends the app's JSON access log to stdout.
`vitrine serve` sets PROMETHEUS_MULTIPROC_DIR to a fresh folder before gunicorn starts; this
module is imported by gunicorn's master before it forks, and prometheus_client picks its
multiprocess mode at import, so the variable must already be set when it is imported here.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from typing import Any

from prometheus_client import multiprocess

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# backend.api.observability.ACCESS_LOGGER, named again: importing the app here would load it (and
# torch) in gunicorn's master before it forks.
ACCESS_LOGGER = "vitrine.access"


def post_worker_init(worker: Any) -> None:
    """Each worker writes its access log lines to stdout, one JSON object per line."""
    access = logging.getLogger(ACCESS_LOGGER)
    access.addHandler(logging.StreamHandler(sys.stdout))
    access.setLevel(logging.INFO)
    access.propagate = False  # the root logger's handlers, if any, are for text


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges (requests in progress) stop counting; its counters stay summed."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # unannotated upstream


def on_exit(server: Any) -> None:
    """Remove the metrics folder `vitrine serve` made for this run."""
    folder = os.environ.get(MULTIPROC_DIR_ENV)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)

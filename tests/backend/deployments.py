"""Vitrine as a user runs it: `vitrine` commands in a data folder of their own, `vitrine serve` on a port.

Shared by the command-line tests and the browser tests, which drive the page against a real
server (gunicorn, the embedded store on disk) over the demo catalog.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

ADMIN_TOKEN = "t0ken"


def vitrine(env: dict[str, str], *arguments: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run a `vitrine` command to its end."""
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def embedded_default_env(data_dir: Path) -> dict[str, str]:
    """The environment of a deployment on the defaults (SQLite, Qdrant Edge) in data_dir, admin API on."""
    env = {**os.environ, "VITRINE_DATA_DIR": str(data_dir), "VITRINE_ADMIN_TOKEN": ADMIN_TOKEN}
    for variable in ("DATABASE_URL", "QDRANT_URL", "VITRINE_EMBEDDED_ENGINE"):
        env.pop(variable, None)
    return env


def demo_deployment(data_dir: Path) -> dict[str, str]:
    """`vitrine demo` in data_dir: the sample catalog imported, embedded and indexed; its environment."""
    env = embedded_default_env(data_dir)
    result = vitrine(env, "demo")
    assert result.returncode == 0, result.stderr
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(env: dict[str, str], *options: str) -> Iterator[str]:
    """`vitrine serve` (gunicorn) on a free port until the block ends; yields its base URL."""
    port = free_port()
    # stderr goes to a file: a pipe nobody reads fills up, and gunicorn then blocks on its next log line.
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--bind", f"127.0.0.1:{port}", *options],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, process, errors=errors)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_until_healthy(
    base: str, process: subprocess.Popen[str], seconds: float = 90, *, errors: IO[str] | None = None
) -> None:
    """Until /health answers; fails with the server's errors if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=5).close()
            return
        except OSError:  # refused while booting, or timed out while the worker imports
            assert process.poll() is None, server_errors(process, errors)
            time.sleep(0.3)
    pytest.fail(f"gunicorn did not answer /health within {seconds} s")


def server_errors(process: subprocess.Popen[str], errors: IO[str] | None) -> str:
    """What the server wrote to stderr: its own pipe, or the file it writes to."""
    if errors is not None:
        errors.seek(0)
        return errors.read()[-5000:]
    return process.stderr.read() if process.stderr else ""


def post_multipart(
    url: str,
    field: str,
    filename: str,
    data: bytes,
    fields: dict[str, str],
    headers: dict[str, str] | None = None,
) -> tuple[int, dict]:  # type: ignore[type-arg]
    """POST one file and some text fields as multipart; the status and the JSON answer."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        payload = json.loads(error.read())
        error.close()
        return error.code, payload

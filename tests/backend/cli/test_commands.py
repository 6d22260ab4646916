"""The `vitrine` command as a newcomer runs it, and the API served by gunicorn."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backend.demo.sample_catalog import write_query_photo
from tests.backend.deployments import (
    embedded_default_env,
    free_port,
    post_multipart,
    serving,
    vitrine,
    wait_until_healthy,
)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An embedded-default deployment made by `vitrine demo` in a fresh data dir."""
    data_dir = tmp_path_factory.mktemp("deployment")
    env = embedded_default_env(data_dir)
    result = vitrine(env, "demo")
    assert result.returncode == 0, result.stderr
    assert "48 embedded" in result.stdout
    assert (data_dir / "edge").is_dir() and not (data_dir / "qdrant").exists()  # Edge is the default
    first_result = result.stdout.split("== search by photo")[1].splitlines()[1]
    assert "STA-RED" in first_result
    assert "== same photo, category filter: only circles" in result.stdout
    return env


def test_demo_twice_embeds_nothing_the_second_time(deployment: dict[str, str]) -> None:
    result = vitrine(deployment, "demo")
    assert result.returncode == 0, result.stderr
    assert "0 embedded, 0 payloads updated, 48 unchanged" in result.stdout


def test_import_reports_bad_rows_with_line_numbers(deployment: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good = {
        "sku": "NEW-1",
        "name": "x",
        "category": "c",
        "price": 1,
        "currency": "EUR",
        "images": ["none.jpg"],
    }
    bad.write_text(json.dumps(good) + "\n" + json.dumps({**good, "sku": "NEW-2", "price": "x"}) + "\n")
    result = vitrine(deployment, "import", str(bad))
    assert result.returncode == 1
    assert f"{bad}:1: image 'none.jpg' not found" in result.stderr
    assert f"{bad}:2: invalid product: price" in result.stderr
    assert "nothing was imported" in result.stderr


def test_search_and_sync_commands(deployment: dict[str, str], tmp_path: Path) -> None:
    query = write_query_photo(tmp_path, "TRI-BLU")
    result = vitrine(deployment, "search", str(query), "--category", "triangle", "--limit", "3")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 3
    assert "TRI-BLU" in lines[0]
    assert all("triangle" in line for line in lines)
    synced = vitrine(deployment, "sync")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["unchanged"] == 48


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    env = {**os.environ, "VITRINE_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = vitrine(env, "sync")
    assert result.returncode == 1
    assert "run `vitrine migrate`" in result.stderr


SERVED_REQUEST_TIMEOUT_S = 4


@pytest.fixture
def served(deployment: dict[str, str]) -> Iterator[str]:
    """`vitrine serve` (gunicorn) on a free port over the demo deployment."""
    with serving(deployment, "--request-timeout", str(SERVED_REQUEST_TIMEOUT_S)) as base:
        yield base


def test_gunicorn_serves_health_search_and_errors(served: str, tmp_path: Path) -> None:
    with urllib.request.urlopen(f"{served}/health", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"
    query = write_query_photo(tmp_path, "CIR-GRE").read_bytes()
    status, body = post_multipart(f"{served}/search", "image", "q.jpg", query, {"limit": "3"})
    assert status == 200
    assert "CIR-GRE" in [item["product"]["sku"] for item in body["results"]]
    assert all(item["product"]["category"] == "circle" for item in body["results"][:2])
    status, body = post_multipart(f"{served}/search", "image", "q.txt", b"plain text", {})
    assert status == 400
    assert "q.txt" in body["error"]["message"]


def test_slow_clients_do_not_stall_the_server(served: str, tmp_path: Path) -> None:
    """Twenty clients that announce a body and send 5 bytes of it held every thread of gthread, so
    /health timed out until they closed. Requests are now read whole before a thread takes them:
    /health and a search answer while the slow clients wait, and each of those gets a 408."""
    query = write_query_photo(tmp_path, "CIR-GRE").read_bytes()
    assert post_multipart(f"{served}/search", "image", "q.jpg", query, {"limit": "3"})[0] == 200  # warm
    host, port = served.removeprefix("http://").split(":")
    slow = []
    for _ in range(20):
        client = socket.create_connection((host, int(port)), timeout=30)
        client.sendall(
            b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 100000\r\n\r\n--b\r\n"
        )
        slow.append(client)
    try:
        time.sleep(0.5)  # under gthread, every thread is now blocked reading a body
        start = time.monotonic()
        with urllib.request.urlopen(f"{served}/health", timeout=10) as response:
            assert response.status == 200
        health_s = time.monotonic() - start
        start = time.monotonic()
        status, body = post_multipart(f"{served}/search", "image", "q.jpg", query, {"limit": "3"})
        search_s = time.monotonic() - start
        assert status == 200 and "CIR-GRE" in [item["product"]["sku"] for item in body["results"]]
        assert health_s < 1.0 and search_s < 1.0, (health_s, search_s)
        for client in slow:  # the request timeout passes: a 408 with the API's error body
            answer = client.recv(4096).decode()
            assert answer.startswith("HTTP/1.1 408"), answer
            assert json.loads(answer.split("\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    finally:
        for client in slow:
            client.close()


def multipart_search(photo: bytes) -> bytes:
    """A whole POST /search request with the photo, as raw bytes."""
    body = (
        b'--b\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + photo + b"\r\n--b--\r\n"
    )
    head = (
        b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    return head + body


def test_beyond_capacity_requests_get_503_with_retry_after(
    deployment: dict[str, str], tmp_path: Path
) -> None:
    """One thread and 40 searches at once: those that cannot be served soon are told so at once
    (503, Retry-After, the API's error body) instead of waiting until their client gives up."""
    request = multipart_search(write_query_photo(tmp_path, "CIR-GRE").read_bytes())
    with serving(deployment, "--threads", "1", "--queue-timeout", "0.3") as base:
        host, port = base.removeprefix("http://").split(":")
        clients = [socket.create_connection((host, int(port)), timeout=30) for _ in range(40)]
        try:
            for client in clients:
                client.sendall(request)
            answers = []
            for client in clients:
                answer = b""
                while chunk := client.recv(65536):
                    answer += chunk
                answers.append(answer.decode("latin-1"))
        finally:
            for client in clients:
                client.close()
        statuses = [answer.split()[1] for answer in answers]
        assert set(statuses) <= {"200", "503"}, statuses
        assert statuses.count("200") >= 1 and statuses.count("503") >= 1, statuses
        for answer in answers:
            if answer.split()[1] == "503":
                head, _, body = answer.partition("\r\n\r\n")
                assert "\r\nRetry-After: 1\r\n" in head
                assert json.loads(body)["error"]["code"] == "overloaded"
        with urllib.request.urlopen(f"{base}/health", timeout=10) as response:
            assert response.status == 200  # and the server is still there


def raw_exchange(base: str, data: bytes) -> tuple[str, dict]:  # type: ignore[type-arg]
    """Send raw bytes to the server; its status line and JSON body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = client.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.decode("latin-1").partition("\r\n\r\n")
    return head.splitlines()[0], json.loads(body)


BAD_FRAMING = [
    (b"\x16\x03\x01 not http\r\n\r\n", "400"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", "400"),
    (b"GET /" + b"a" * 6000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "414"),
    (b"GET /health HTTP/1.1\r\nX: " + b"a" * 70_000, "431"),  # no end of headers in sight
    (
        b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 50000000\r\n\r\n",
        "413",  # refused before the body is read
    ),
]


def test_requests_the_server_cannot_take_get_json_errors(served: str) -> None:
    """Bad HTTP framing is answered with the API's error body, not gunicorn's HTML page."""
    for data, status in BAD_FRAMING:
        line, body = raw_exchange(served, data)
        assert line.split()[1] == status, (data[:60], line)
        # The 413 comes from the app, with the request's id; the others never reach it.
        assert set(body["error"]) - {"request_id"} == {"code", "message", "details"}


def test_two_workers_share_the_embedded_store_through_a_store_process(
    deployment: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    access_log = tmp_path / "access.log"
    log_file = access_log.open("w")
    process = subprocess.Popen(
        # One thread per worker: while one worker is busy, the other must take the next request
        # (with 4 threads one worker can take every request, and the kernel may let it).
        [
            sys.executable,
            "-m",
            "backend.cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "1",
        ],
        env=deployment,
        stdout=log_file,  # the access log, which names the worker of each request (its pid)
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process)
        # Concurrent rounds until both workers have answered: the kernel decides who accepts, and
        # on a busy machine one worker can take a whole round.
        for _round in range(10):
            with ThreadPoolExecutor(4) as clients:
                pages = list(clients.map(lambda _: similar(base), range(40)))
            assert all(len(page["results"]) == 3 for page in pages)
            if len(similar_workers(access_log.read_text())) == 2:
                break
        assert len(similar_workers(access_log.read_text())) == 2, access_log.read_text()
        store = [
            child for child in children(process.pid) if "backend.vectors.store_process" in command_line(child)
        ]
        assert len(store) == 1
        os.kill(store[0], signal.SIGKILL)
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{base}/products/1/similar?limit=3", timeout=30)
        assert failed.value.code == 503
        assert json.loads(failed.value.read())["error"]["code"] == "unavailable"
        failed.value.close()
        # `vitrine serve` starts another store process, and the workers reconnect to it.
        deadline = time.monotonic() + 90
        while True:
            try:
                assert len(similar(base)["results"]) == 3
                break
            except urllib.error.HTTPError as error:
                assert error.code == 503
                error.close()
                assert time.monotonic() < deadline, "the store process was not restarted"
                time.sleep(0.5)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=60)
        log_file.close()
    assert process.returncode == 0, errors[-3000:]


def similar_workers(log: str) -> set[int]:
    """The worker pids that answered a similar-products request, from the app's JSON access log."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return {line["pid"] for line in lines if line["route"].endswith("/similar") and line["status"] == 200}


def similar(base: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"{base}/products/1/similar?limit=3", timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_demo_on_the_local_mode_engine(tmp_path: Path) -> None:
    env = {**os.environ, "VITRINE_DATA_DIR": str(tmp_path), "VITRINE_EMBEDDED_ENGINE": "local"}
    env.pop("DATABASE_URL", None)
    env.pop("QDRANT_URL", None)
    result = vitrine(env, "demo")
    assert result.returncode == 0, result.stderr
    assert "48 embedded" in result.stdout
    assert "STA-RED" in result.stdout.split("== search by photo")[1].splitlines()[1]
    assert (tmp_path / "qdrant").is_dir() and not (tmp_path / "edge").exists()
    again = vitrine(env, "sync", "--check")
    assert again.returncode == 0, again.stdout + again.stderr

"""A gunicorn worker that gives a thread only to a request that has arrived whole.

gunicorn's gthread worker hands a connection to a thread as soon as its first bytes arrive, and
that thread then blocks reading headers and body at whatever pace the client sends them: a few
clients that announce a body and send it slowly hold every thread, and `/health` stops answering.
This worker reads each request (headers and a body up to the upload limit) on the worker's event
loop, without blocking, as a buffering reverse proxy would, and submits the connection to the
thread pool only once it is complete; the thread's parser then reads the buffered bytes.

What a client may cost is bounded: a request must arrive within the request timeout (else 408
and the connection closes), headers are at most 64 KiB (else 431), and the bytes buffered by one worker are
at most `BUFFER_BUDGET_BYTES`; past that budget, or for a body larger than the upload limit (which
the app refuses with 413 without reading it), the connection goes to a thread as gthread would.
Beyond capacity a request waits for a thread, but not without end: past `MAX_WAITING_PER_THREAD`
whole requests waiting per thread, or once one has waited `--queue-timeout` seconds, it is answered
503 with `Retry-After` (the API's JSON error body) and the connection closes, so a client under
overload hears so at once instead of timing out silently.

A chunked body counts as complete when its buffer ends as a chunked body does; if a chunk
happened to end so, the thread reads the rest, as under gthread.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import ThreadWorker

from backend.cli.serving import (
    DEFAULT_QUEUE_TIMEOUT_S,
    DEFAULT_REQUEST_TIMEOUT_S,
    QUEUE_TIMEOUT_ENV,
    REQUEST_TIMEOUT_ENV,
)
from backend.settings import Settings

MAX_HEADER_BYTES = 64 * 1024
BUFFER_BUDGET_BYTES = 256 * 1024 * 1024
# Slack over the upload limit for multipart boundaries and form fields.
BODY_SLACK_BYTES = 64 * 1024
# Whole requests that may wait per thread: with search taking 50-200 ms a thread, a full queue is a
# wait of seconds, and what waits holds its body in memory.
MAX_WAITING_PER_THREAD = 16
RETRY_AFTER_S = 1


def _error_response(status: str, code: str, message: str, extra_headers: str = "") -> bytes:
    """A whole HTTP response with the API's error body, for a request the app never sees."""
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra_headers}"
    return head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body


def _write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    code = "invalid_request" if status == 400 else reason.lower().replace(" ", "_")
    gunicorn_util.write_nonblock(sock, _error_response(f"{status} {reason}", code, message))


TIMEOUT_RESPONSE = _error_response(
    "408 Request Timeout", "request_timeout", "the request did not arrive in time"
)
HEADERS_TOO_LARGE_RESPONSE = _error_response(
    "431 Request Header Fields Too Large",
    "headers_too_large",
    f"the request's headers are over {MAX_HEADER_BYTES} bytes",
)

BUSY_RESPONSE = _error_response(
    "503 Service Unavailable",
    "overloaded",
    "the server is at capacity; retry after the time in Retry-After",
    f"Retry-After: {RETRY_AFTER_S}\r\n",
)


class HeadersTooLarge(Exception):
    """The request's head is longer than any this server reads."""


@dataclass
class Arrival:
    """The bytes of one request received so far, and what it takes to be complete."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)
    expected: int | None = None  # total bytes once the headers are known (None: not yet, or chunked)
    chunked: bool = False
    headers_done: bool = False

    def ready(self, body_limit: int) -> bool:
        """Whether a thread should take the connection now (whole, or not ours to buffer)."""
        if not self.headers_done:
            end = self.data.find(b"\r\n\r\n")
            if end < 0:
                if len(self.data) > MAX_HEADER_BYTES:
                    raise HeadersTooLarge
                return False
            self.headers_done = True
            length, self.chunked = _body_framing(bytes(self.data[:end]))
            if length is None and not self.chunked:
                return True  # no body, or framing the parser will refuse
            if length is not None:
                if length > body_limit:
                    return True  # the app answers 413 without reading it
                self.expected = end + 4 + length
        if self.chunked:
            return self.data.endswith(b"0\r\n\r\n")
        return self.expected is not None and len(self.data) >= self.expected


def _body_framing(head: bytes) -> tuple[int | None, bool]:
    """(Content-Length, chunked) from a request's head; (None, False) for no or unreadable framing."""
    length: int | None = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return None, True
        if name == b"content-length":
            text = value.strip()
            if not text.isdigit() or len(text) > 18:
                return None, False
            length = int(text)
    return length, False


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with each request read whole on the event loop before a thread takes it."""

    def init_process(self) -> None:
        # gunicorn answers requests it cannot parse (a bad request line, a header it refuses) with
        # an HTML page; this worker's process answers them with the API's JSON error body instead.
        gunicorn_util.write_error = _write_json_error
        self.arrivals: dict[Any, Arrival] = {}
        self.buffered = 0
        self.request_timeout = float(os.environ.get(REQUEST_TIMEOUT_ENV, DEFAULT_REQUEST_TIMEOUT_S))
        self.queue_timeout = float(os.environ.get(QUEUE_TIMEOUT_ENV, DEFAULT_QUEUE_TIMEOUT_S))
        self.max_waiting = MAX_WAITING_PER_THREAD * self.cfg.threads
        # Requests submitted to the thread pool and not yet taken by a thread; threads decrement it.
        self.waiting = 0
        self.waiting_lock = threading.Lock()
        self.body_limit = Settings.from_env().max_upload_bytes + BODY_SLACK_BYTES
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        pipelined = conn.initialized and conn.parser.unreader.buf.getvalue()
        if self.cfg.is_ssl or conn.is_http2 or pipelined:
            self._submit(conn)
            return
        conn.sock.setblocking(False)
        self.arrivals[conn] = Arrival(deadline=time.monotonic() + self.request_timeout)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: Any, _sock: Any) -> None:
        arrival = self.arrivals[conn]
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client closed the connection
            self._forget(conn)
            self._close(conn)
            return
        arrival.data += data
        self.buffered += len(data)
        try:
            ready = arrival.ready(self.body_limit)
        except HeadersTooLarge:
            self._forget(conn)
            self._refuse(conn, HEADERS_TOO_LARGE_RESPONSE)
            return
        if ready or self.buffered > BUFFER_BUDGET_BYTES:
            self._forget(conn)
            if self.waiting >= self.max_waiting:
                self._refuse(conn, BUSY_RESPONSE)
                return
            conn.vitrine_buffer = bytes(arrival.data)
            conn.data_ready = True
            self._submit(conn)

    def _submit(self, conn: Any) -> None:
        """Queue a connection for a thread, noting when, so a thread can tell how long it waited."""
        with self.waiting_lock:
            self.waiting += 1
        conn.vitrine_queued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        with self.waiting_lock:
            self.waiting -= 1
        if time.monotonic() - conn.__dict__.pop("vitrine_queued_at", time.monotonic()) > self.queue_timeout:
            # Its client has waited long enough: answering it now would only delay those behind it.
            with contextlib.suppress(OSError):
                conn.sock.setblocking(True)
                conn.sock.sendall(BUSY_RESPONSE)
            return False
        buffered = conn.__dict__.pop("vitrine_buffer", None)
        if buffered:
            conn.sock.setblocking(True)
            conn.init()  # creates the parser of a new connection; a kept-alive one has it
            conn.parser.unreader.unread(buffered)
        return super().handle(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [conn for conn, arrival in self.arrivals.items() if arrival.deadline <= now]:
            started = bool(self.arrivals[conn].data)
            self._forget(conn)
            # A client that sent nothing yet (an idle keep-alive) just gets closed.
            self._refuse(conn, TIMEOUT_RESPONSE if started else b"")

    def _forget(self, conn: Any) -> None:
        arrival = self.arrivals.pop(conn)
        self.buffered -= len(arrival.data)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _refuse(self, conn: Any, response: bytes) -> None:
        """Send what fits of a short error response without waiting, and close the connection."""
        if response:
            with contextlib.suppress(OSError):
                conn.sock.send(response)
        self._close(conn)

    def _close(self, conn: Any) -> None:
        self.nr_conns -= 1
        conn.close()

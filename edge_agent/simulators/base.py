"""HTTP plumbing shared by the vendor simulators: a threaded loopback server and fault injection.

The simulators are each vendor's *server* side, written from the vendor documents in
``shared/seeds`` and ``protocols.md``. They import nothing from the agent (only the
standard library and this package), so a bug in an adapter cannot be copied into the
server it is tested against.

A simulator is a :class:`SimApp`: ``handle(SimRequest) -> SimResponse``. The
:class:`SimulatorServer` runs it on 127.0.0.1 in a background thread; tests and
``edge-agent simulate`` use the same class. Faults (a delay, a hang, a connection closed
mid-body, garbage, a huge body, a forced status) are queued with :meth:`SimulatorServer.inject`
and apply to the next requests in order, whatever the simulator would have answered.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Protocol
from urllib.parse import parse_qs, urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# How often serve_forever looks for a shutdown request: where close() cannot wake it (see
# there) it waits up to this long, and at the library default (0.5 s) that wait dominated
# every simulator test.
SHUTDOWN_POLL_SECONDS = 0.02


class _IPv6HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer binds IPv4 only; ``::1`` needs the IPv6 family."""

    address_family = socket.AF_INET6


class SimClock:
    """A wall clock the tests can move forward (token expiry, lock-outs, signature windows)."""

    def __init__(self, start: Optional[datetime] = None) -> None:
        self._offset = timedelta(0)
        self._fixed = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            base = self._fixed if self._fixed is not None else datetime.now(timezone.utc)
            return base + self._offset

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)


@dataclass
class SimRequest:
    """One request as the simulator sees it."""

    method: str
    raw_path: str  # exactly as sent, percent-encoding kept (PubNub signs it)
    path: str  # the path without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_ip: str

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body.decode("utf-8"))

    def arg(self, name: str) -> Optional[str]:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class SimResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: Optional[dict[str, str]] = None) -> SimResponse:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return cls(status, json.dumps(payload).encode("utf-8"), merged)


class SimApp(Protocol):
    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request as the vendor's server would."""


@dataclass
class Fault:
    """What to do to one request instead of (or on top of) the simulator's answer.

    kind: ``delay`` (sleep ``seconds`` then answer normally), ``hang`` (sleep ``seconds``
    and close without answering), ``status`` (answer ``status`` with ``body``),
    ``garbage`` (200 with ``body`` as is), ``truncate`` (announce the full length, send
    half, close), ``huge`` (a body of ``size`` bytes).
    """

    kind: str
    seconds: float = 0.0
    status: int = 500
    body: bytes = b""
    size: int = 0


class SimulatorServer:
    """Runs a :class:`SimApp` on 127.0.0.1 (never another address) in a daemon thread."""

    def __init__(
        self, app: SimApp, port: int = 0, host: str = "127.0.0.1", *, record_limit: Optional[int] = None
    ) -> None:
        """``record_limit`` keeps only the latest requests (a long ``edge-agent simulate`` run)."""
        if host not in LOOPBACK_HOSTS:
            raise ValueError("simulators listen on loopback only")
        self.app = app
        self.requests: list[SimRequest] = []
        self.record_limit = record_limit
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        handler = _make_handler(self)
        server_class = _IPv6HTTPServer if host == "::1" else ThreadingHTTPServer
        self._url_host = "[::1]" if host == "::1" else "127.0.0.1"
        self._httpd = server_class((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._url_host}:{self.port}"

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name="simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port now, not at the serving thread's next poll.

        ``shutdown()`` waits until ``serve_forever`` looks at its flag, which it does only
        between polls (up to ``SHUTDOWN_POLL_SECONDS``, ~20 ms per server in every test).
        Shutting the listening socket down first makes the poll return at once (Linux;
        elsewhere the call may fail and the poll ends the wait as before).
        """
        with contextlib.suppress(OSError):
            self._httpd.socket.shutdown(socket.SHUT_RDWR)
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def inject(self, *faults: Fault) -> None:
        """Apply these faults to the next requests, one each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def _next_fault(self) -> Optional[Fault]:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _record(self, request: SimRequest) -> None:
        with self._lock:
            self.requests.append(request)
            if self.record_limit is not None and len(self.requests) > self.record_limit:
                del self.requests[: -self.record_limit]

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted (``edge-agent simulate``)."""
        try:
            self._httpd.serve_forever(poll_interval=SHUTDOWN_POLL_SECONDS)
        finally:
            self._httpd.server_close()


def _make_handler(server: SimulatorServer) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "edge-agent-simulator"
        # Headers and body leave in two writes; with Nagle on, a keep-alive client waits
        # for a delayed ACK (~40 ms) on every request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet; the recorded requests are what tests look at

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            split = urlsplit(self.path)
            request = SimRequest(
                method=self.command,
                raw_path=split.path,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                client_ip=self.client_address[0],
            )
            server._record(request)
            fault = server._next_fault()
            if fault is not None and fault.kind == "hang":
                time.sleep(fault.seconds)
                self.close_connection = True
                _hard_close(self.connection)
                return
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.seconds)
            if fault is None or fault.kind == "delay":
                try:
                    response = server.app.handle(request)
                except Exception as exc:  # a simulator bug must show as a 500, not a dead thread
                    response = SimResponse(500, f"simulator error: {exc!r}".encode())
            elif fault.kind == "status":
                response = SimResponse(fault.status, fault.body)
            elif fault.kind == "garbage":
                response = SimResponse(200, fault.body or b"\x00\xff<html>not json", {})
            elif fault.kind == "huge":
                response = SimResponse(
                    200, b"[" + b" " * max(fault.size - 2, 0) + b"]", {"Content-Type": "application/json"}
                )
            elif fault.kind == "truncate":
                full = fault.body or b'[{"type": "MESSAGE", "message": "cut short"}]'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(full)))
                self.end_headers()
                self.wfile.write(full[: len(full) // 2])
                self.wfile.flush()
                self.close_connection = True
                _hard_close(self.connection)
                return
            else:
                response = SimResponse(500, f"unknown fault {fault.kind}".encode())
            if any(name.lower() == "date" for name in response.headers):
                # The app keeps its own (simulated) clock: its Date, not a second one from the host's.
                self.send_response_only(response.status)
                self.send_header("Server", self.version_string())
            else:
                self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    return Handler


def _hard_close(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        return

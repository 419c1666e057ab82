"""A TCP server on 127.0.0.1 that plays a script per connection: a polite HTTP server or a hostile one.

The transport's tests need servers that misbehave in ways no HTTP library will (a header
block that never ends, a body cut mid-way, garbage, silence), so each connection is a
thread running a test's ``script(peer)`` over the raw socket. The server counts the
connections and records the requests it read, so a test can tell a reused connection from
a new one and a request sent once from one sent twice.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

MAX_HEAD = 64 * 1024


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int


@dataclass
class Peer:
    """One accepted connection, as the script sees it."""

    sock: socket.socket
    index: int  # 0 for the first connection the server accepted
    server: ScriptedServer
    _pending: bytes = b""
    hung_up: threading.Event = field(default_factory=threading.Event)  # the client closed its side
    closed: threading.Event = field(default_factory=threading.Event)  # the server closed it

    def read_request(self) -> Optional[Request]:
        """The next request on this connection, or None when the client closed it."""
        while b"\r\n\r\n" not in self._pending:
            chunk = self._recv()
            if not chunk:
                self.hung_up.set()
                return None
            self._pending += chunk
            assert len(self._pending) < MAX_HEAD, "the client sent an endless head"
        head, _, self._pending = self._pending.partition(b"\r\n\r\n")
        line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _version = line.split(" ", 2)
        headers = {}
        for text in lines:
            name, _, value = text.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._pending) < length:
            chunk = self._recv()
            if not chunk:
                break
            self._pending += chunk
        body, self._pending = self._pending[:length], self._pending[length:]
        request = Request(method, target, headers, body, self.index)
        with self.server.lock:
            self.server.requests.append(request)
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def wait_hang_up(self, timeout: float = 30.0) -> bool:
        """Read (and drop) whatever comes until the client closes the connection."""
        self.sock.settimeout(timeout)
        try:
            while self._recv():
                pass
        except OSError:
            pass
        self.hung_up.set()
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.closed.set()

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return b""


Script = Callable[[Peer], None]


class ScriptedServer:
    """Listens on 127.0.0.1 and a free port; every connection runs ``script`` in its own thread."""

    def __init__(self, script: Script, tls: Optional[ssl.SSLContext] = None) -> None:
        self.script = script
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.peers: list[Peer] = []
        self.requests: list[Request] = []
        self.handshake_errors: list[str] = []
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        with self.lock:
            return len(self.peers)

    def __enter__(self) -> ScriptedServer:
        thread = threading.Thread(target=self._accept, name="scripted-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            peers = list(self.peers)
        for peer in peers:
            peer.close()
        for thread in self._threads:
            thread.join(timeout=10)

    def _accept(self) -> None:
        while True:
            try:
                sock, _address = self.listener.accept()
            except OSError:
                return
            with self.lock:
                index = len(self.peers)
                peer = Peer(sock, index, self)
                self.peers.append(peer)
            thread = threading.Thread(target=self._serve, args=(peer,), name=f"scripted-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, peer: Peer) -> None:
        try:
            if self.tls is not None:
                peer.sock = self.tls.wrap_socket(peer.sock, server_side=True)
            self.script(peer)
        except ssl.SSLError as exc:
            with self.lock:
                self.handshake_errors.append(str(exc))
        except OSError:
            pass  # the client went away: what the script was testing, or the end of the test
        finally:
            peer.close()


def reply(status: int = 200, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A whole HTTP/1.1 response with a Content-Length."""
    lines = [f"HTTP/1.1 {status} Status", *(f"{name}: {value}" for name, value in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def keep_answering(body: bytes = b'{"ok": true}') -> Script:
    """A polite keep-alive server: every request on the connection gets a 200 with ``body``."""

    def script(peer: Peer) -> None:
        while peer.read_request() is not None:
            peer.send(reply(200, body, (("Content-Type", "application/json"),)))

    return script

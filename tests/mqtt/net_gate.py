"""A TCP forwarder between the agent and its broker that a test can shut, open or half-open.

It stands for the network, not for the broker: the bytes are the agent's and the broker's
own. A test uses it to decide *when* the agent may reach the broker again (so a
subscriber is surely subscribed first) and to model a one-way outage (the agent hears
the broker but nothing it sends arrives, so whatever it publishes stays unacknowledged).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class NetGate:
    """Listens on 127.0.0.1:``port`` and forwards each connection to 127.0.0.1:``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open = True
        self._drop_upstream = False
        self._lock = threading.Lock()
        self._live: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def shut(self) -> None:
        """Cut every connection and refuse new ones (they are accepted and closed at once)."""
        self._open = False
        self._cut_all()

    def open(self) -> None:
        """Forward again, both ways."""
        self._drop_upstream = False
        self._open = True

    def drop_upstream(self) -> None:
        """From now on, discard what the agent sends; still deliver what the broker sends."""
        self._drop_upstream = True

    def close(self) -> None:
        self._closed = True
        self.shut()
        self._listener.close()

    def _cut_all(self) -> None:
        with self._lock:
            live, self._live = self._live, []
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            if not self._open:
                downstream.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._live += [downstream, upstream]
            threading.Thread(target=self._pump, args=(downstream, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, downstream, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_agent: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if from_agent and self._drop_upstream:
                    continue
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

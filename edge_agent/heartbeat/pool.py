"""One endpoint's connections: a few open at once, and the idle ones kept for the next beat.

A beat every 10 to 60 s that opened a new connection each time would pay a TCP (and TLS)
handshake every time, and so would the vendor. So a connection that finished its exchange
cleanly waits here, idle, for up to ``keepalive`` seconds. Before one is reused it is
checked: if the server closed it (or wrote to it unasked) meanwhile, it is dropped and a
new one is opened. A request is never sent twice: once it may have reached the server, a
failure is the caller's to see.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Callable, Optional

from edge_agent.heartbeat.wire import Connection

Origin = tuple[str, str, int]
"""Scheme, host and port: connections are shared only between requests to the same origin."""

MAX_OPEN = 4
MAX_IDLE = 2


class ConnectionPool:
    """Limits and keeps connections; :meth:`slot` before an exchange, :meth:`take` and :meth:`put` in it."""

    def __init__(
        self,
        keepalive: float,
        *,
        max_open: int = MAX_OPEN,
        max_idle: int = MAX_IDLE,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keepalive = keepalive
        self.max_open = max_open
        self.max_idle = max_idle
        self._now = now
        self._idle: list[tuple[Origin, Connection, float]] = []  # oldest first, each with its expiry
        self._in_use = 0
        self._slots: Optional[asyncio.Semaphore] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait until fewer than ``max_open`` exchanges are under way, and hold the place meanwhile."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (a test's asyncio.run): nothing of the last one works
            self.close_idle()
            self._loop, self._slots, self._in_use = loop, asyncio.Semaphore(self.max_open), 0
        assert self._slots is not None
        async with self._slots:
            self._in_use += 1
            try:
                yield
            finally:
                self._in_use -= 1

    def take(self, origin: Origin) -> Optional[Connection]:
        """An idle connection to ``origin`` still good to use (the newest), or None: open one then."""
        self._drop_expired()
        for index in range(len(self._idle) - 1, -1, -1):
            if self._idle[index][0] == origin:
                _origin, connection, _expiry = self._idle.pop(index)
                if not connection.stale():
                    return connection
                connection.close()
        # A new connection will be opened: make room for it among the idle ones of other origins.
        while self._idle and len(self._idle) + self._in_use > self.max_open:
            self._idle.pop(0)[1].close()
        return None

    def put(self, origin: Origin, connection: Connection) -> None:
        """Keep ``connection`` (its exchange finished cleanly) for the next request to ``origin``."""
        self._idle.append((origin, connection, self._now() + self.keepalive))
        while len(self._idle) > self.max_idle:
            self._idle.pop(0)[1].close()

    def close_idle(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _drop_expired(self) -> None:
        now = self._now()
        for entry in [entry for entry in self._idle if entry[2] <= now]:
            self._idle.remove(entry)
            entry[1].close()

"""One HTTP/1.1 client connection: an asyncio socket with h11 keeping the protocol's state.

h11 (the parser httpx itself runs on) reads and writes the bytes of HTTP/1.1 and does no
I/O; this module gives it a socket. It replaced httpx, whose client, pool and anyio
backend cost 3.5 MB and 32 ms of import in a process whose whole budget is 35 MB
(measured: ``bench/README.md``). What a hostile server can do is bounded here: the
response head by :data:`MAX_HEAD_BYTES` (h11's own bound), the bytes held unread by
:data:`READ_BUFFER_BYTES` (the socket is paused above it), the body by the caller, who
pulls it one chunk at a time; time by the caller's deadline.

Every failure leaves as a :class:`TransportError` whose class name says what broke (the
names httpx used, so a log line reads the same); the transport turns them into
VendorErrors. This is the only module that imports h11.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
from typing import Optional, Union

import h11

MAX_HEAD_BYTES = 100 * 1024
"""The largest status line and header block accepted (httpcore's bound, so what worked still does)."""
READ_BUFFER_BYTES = 64 * 1024
"""Bytes received but not yet parsed above which the socket is no longer read from."""
HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds before the next address (IPv4 after IPv6) is tried in parallel, as anyio did for httpx."""

Header = tuple[bytes, bytes]


class TransportError(Exception):
    """The connection failed: the subclass's name says how (shown in the error message)."""


class ConnectError(TransportError):
    """No connection: refused, no route, a name that does not resolve, a TLS handshake refused."""


class ReadError(TransportError):
    """The connection broke while the reply was awaited or read."""


class WriteError(TransportError):
    """The connection broke while the request was sent."""


class RemoteProtocolError(TransportError):
    """The server sent something that is not HTTP/1.1 (or closed the connection mid-message)."""


class LocalProtocolError(TransportError):
    """The request cannot be written as HTTP/1.1 (an illegal header name or value)."""


class Connection:
    """A client connection; one exchange at a time, then :meth:`finish` says if it can be reused."""

    def __init__(self, socket: _Socket) -> None:
        self._socket = socket
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)

    @classmethod
    async def open(
        cls, host: str, port: int, tls: Optional[ssl.SSLContext], server_hostname: Optional[str] = None
    ) -> Connection:
        """Connect (and do the TLS handshake with ``tls``); a :class:`ConnectError` if that fails."""
        loop = asyncio.get_running_loop()
        try:
            _transport, socket = await loop.create_connection(
                _Socket,
                host,
                port,
                ssl=tls,
                server_hostname=(server_hostname or host) if tls is not None else None,
                happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
            )
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError; a bad name a ValueError
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return cls(socket)

    async def send_request(self, method: str, target: str, headers: list[Header], body: bytes) -> None:
        """Write the whole request: its head and, when ``body`` is not empty, the body."""
        try:
            data = self._h11.send(h11.Request(method=method, target=target, headers=headers))
            if body:
                data += self._h11.send(h11.Data(data=body))
            data += self._h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            text = str(exc)  # h11 quotes the value it refused: it may be a token from the config
            if text.startswith("Illegal header value"):
                text = "Illegal header value (not shown: it may hold a secret)"
            raise LocalProtocolError(text) from None
        await self._socket.write(data or b"")

    async def receive_head(self) -> tuple[int, list[Header]]:
        """The final response's status and headers (lower-case names); 1xx responses are skipped."""
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Response):
                return event.status_code, list(event.headers)
            if not isinstance(event, h11.InformationalResponse):
                raise RemoteProtocolError(f"unexpected {type(event).__name__} before the response")

    async def receive_data(self) -> Optional[bytes]:
        """The next piece of the body as it came off the wire, or None at its end."""
        event = await self._next_event()
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            return None
        raise RemoteProtocolError(f"unexpected {type(event).__name__} in the body")

    def finish(self) -> bool:
        """After a whole exchange: True when both sides may go on (the connection can be reused)."""
        trailing, _closed = self._h11.trailing_data  # bytes after the response: the server is confused
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE and not trailing:
            self._h11.start_next_cycle()
            return True
        return False

    def stale(self) -> bool:
        """An idle connection the server has closed, or written to unasked: not to be reused."""
        return self._socket.stale()

    def close(self) -> None:
        """Drop the connection now (no HTTP goodbye: HTTP/1.1 needs none, and a hostile peer gets none)."""
        self._socket.close()

    async def _next_event(self) -> object:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self._socket.read()
            if not data and self._h11.their_state is h11.SEND_RESPONSE:
                raise RemoteProtocolError("Server disconnected without sending a response.")
            self._h11.receive_data(data)


class _Socket(asyncio.Protocol):
    """The socket side: what arrived (bounded by pausing the socket) and whether it is closed."""

    def __init__(self) -> None:
        self._transport: Optional[asyncio.Transport] = None
        self._received = bytearray()
        self._eof = False
        self._lost: Optional[BaseException] = None
        self._closed = False
        self._paused_reading = False
        self._paused_writing = False
        self._waiter: Optional[asyncio.Future[None]] = None

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._received += data
        if len(self._received) >= READ_BUFFER_BYTES and not self._paused_reading and self._transport:
            self._transport.pause_reading()
            self._paused_reading = True
        self._wake()

    def eof_received(self) -> None:
        self._eof = True
        self._wake()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._eof = self._closed = True
        self._lost = exc
        self._wake()

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        self._wake()

    # ours

    async def read(self) -> bytes:
        """What has arrived (waiting for something), or b"" once the server has closed its side."""
        while not self._received and not self._eof:
            await self._wait()
        if self._received:
            data = bytes(self._received)
            self._received.clear()
            if self._paused_reading and self._transport is not None and not self._closed:
                self._paused_reading = False
                self._transport.resume_reading()
            return data
        if self._lost is not None:
            raise ReadError(_reason(self._lost)) from self._lost
        return b""

    async def write(self, data: bytes) -> None:
        if self._closed or self._transport is None or self._transport.is_closing():
            raise WriteError(_reason(self._lost) if self._lost else "the connection is closed")
        self._transport.write(data)
        while self._paused_writing and not self._closed:
            await self._wait()
        if self._closed:
            raise WriteError(_reason(self._lost) if self._lost else "the connection was closed")

    def stale(self) -> bool:
        if self._received or self._eof or self._transport is None or self._transport.is_closing():
            return True
        # What the event loop has not read yet (a FIN just in): the socket itself, as httpcore looks.
        raw = self._transport.get_extra_info("socket")
        return raw is not None and _readable(raw.fileno())

    def close(self) -> None:
        """Close at once. A plain socket with nothing left to send says FIN first, so a server
        reading for the next request sees the end of input, not a reset (reply bytes left
        unread make the close a reset); anything else (TLS, or a server that stopped reading
        what we send) is aborted, never left waiting for a goodbye."""
        self._closed = True
        transport = self._transport
        if transport is not None and not transport.is_closing():
            # RuntimeError: its event loop is gone (a transport left over from an earlier run)
            with contextlib.suppress(RuntimeError, OSError):
                if transport.can_write_eof() and not transport.get_write_buffer_size():
                    transport.write_eof()
                    transport.close()
                else:
                    transport.abort()
        self._wake()

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _readable(fd: int) -> bool:
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


def _reason(exc: Union[BaseException, None]) -> str:
    return (str(exc) or type(exc).__name__) if exc is not None else "the connection was closed"

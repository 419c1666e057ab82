"""The receiver of a Yeastar PBX's event reports: a small HTTP/1.1 server facing the LAN.

The PBX is the HTTP *client* for reports (protocols.md 4.7): it POSTs JSON to
``report_ip:report_port`` and sends the same report again until it gets a 200. So every
valid report is answered 200 (a resend too), handed once to ``on_report``, which mirrors
it to MQTT, and answered 503 only when that hand-over failed, so the PBX tries again.

It faces the LAN, so it is strict and small: one request per connection (``Connection:
close``); request line and headers at most 16 KiB; a body of at most ``max_body`` bytes
(Content-Length or chunked, 413 beyond); the whole request read within ``read_timeout``
seconds (else 408); at most ``max_connections`` at once (503 beyond); POST only (405);
any path (the PBX's ``url`` is the operator's choice). A body that is not a JSON object
is 400.

Resends are recognised [INFERRED: the PBX's retry timing is not documented]:

* a CDR (``NewCdr``) by its ``callid``, for as long as the last ``cdr_memory`` CDRs are
  remembered, as the docs recommend;
* any other report when it is identical (same canonical JSON) to the latest report about
  the same subject, its kind (``action`` or ``event``) plus the first of ``callid``,
  ``extension``, ``trunk``, ``sn``, received within ``dedupe_window`` seconds. So
  Idle, Ringing, Idle of one extension is three reports, while Idle resent is one.

Memory only: after a restart a resend of something already mirrored is mirrored again
(rare, and every event carries its own id for subscribers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from typing import Any, Callable, Optional

from edge_agent.errors import EdgeAgentError
from edge_agent.model import Clock
from edge_agent.vendors.types import parse_json

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
LINGER_SECONDS = 1.0  # after answering, how long to take in what a client still sends
LINGER_BYTES = 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
_IDENTITY_FIELDS = ("callid", "extension", "trunk", "sn")


class _Refusal(Exception):
    """A request answered with an error status (never leaves this module)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ReportDeduper:
    """Tells a PBX resend from a new report, by the rules in the module docstring."""

    def __init__(self, window: float, cdr_memory: int = 4096) -> None:
        self.window = window
        self.cdr_memory = cdr_memory
        self._cdrs: OrderedDict[str, None] = OrderedDict()
        self._latest: dict[tuple[str, str], tuple[str, float]] = {}

    def is_resend(self, report: dict[str, Any], now: float) -> bool:
        cdr = _cdr_key(report)
        if cdr is not None:
            return cdr in self._cdrs
        latest = self._latest.get(_subject(report))
        return latest is not None and latest[0] == _digest(report) and now - latest[1] <= self.window

    def remember(self, report: dict[str, Any], now: float) -> None:
        cdr = _cdr_key(report)
        if cdr is not None:
            self._cdrs[cdr] = None
            while len(self._cdrs) > self.cdr_memory:
                self._cdrs.popitem(last=False)
            return
        self._latest[_subject(report)] = (_digest(report), now)
        if len(self._latest) > 1024:  # forget subjects whose window has passed
            self._latest = {key: seen for key, seen in self._latest.items() if now - seen[1] <= self.window}


def _lower(report: dict[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in report.items()}


def _kind(report: dict[str, Any]) -> str:
    fields = _lower(report)
    return str(fields.get("action") or fields.get("event") or "").lower()


def _cdr_key(report: dict[str, Any]) -> Optional[str]:
    callid = _lower(report).get("callid")
    if _kind(report) == "newcdr" and isinstance(callid, (str, int)) and str(callid):
        return str(callid)
    return None


def _subject(report: dict[str, Any]) -> tuple[str, str]:
    fields = _lower(report)
    for name in _IDENTITY_FIELDS:
        if isinstance(fields.get(name), (str, int)):
            return _kind(report), f"{name}={fields[name]}"
    return _kind(report), ""


def _digest(report: dict[str, Any]) -> str:
    canonical = json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()


class ReportListener:
    """Receives one PBX endpoint's reports; ``on_report(endpoint_name, report)`` gets each new one.

    ``on_report`` runs in the event loop and should only hand the report on (publish it);
    an :class:`~edge_agent.errors.EdgeAgentError` from it makes the answer 503, so the
    PBX sends the report again. Use ``port`` 0 to let the system choose (tests).
    """

    def __init__(
        self,
        bind: str,
        port: int,
        on_report: Callable[[str, dict[str, Any]], None],
        endpoint_name: str,
        clock: Clock,
        *,
        max_body: int = 64 * 1024,
        read_timeout: float = 10.0,
        max_connections: int = 32,
        dedupe_window: float = 60.0,
        cdr_memory: int = 4096,
    ) -> None:
        self.bind = bind
        self.endpoint_name = endpoint_name
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._requested_port = port
        self._on_report = on_report
        self._clock = clock
        self._deduper = ReportDeduper(dedupe_window, cdr_memory)
        self._server: Optional[asyncio.AbstractServer] = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    @property
    def port(self) -> int:
        """The port actually listened on (after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen; an :class:`EdgeAgentError` when the address cannot be bound."""
        try:
            self._server = await asyncio.start_server(
                self._accept, self.bind, self._requested_port, limit=MAX_HEAD_BYTES
            )
        except OSError as exc:
            raise EdgeAgentError(
                f"cannot listen for PBX reports on {self.bind}:{self._requested_port}: {exc.strerror or exc}"
            ) from exc
        log.info("%s: listening for PBX reports on %s:%d", self.endpoint_name, self.bind, self.port)

    async def close(self) -> None:
        """Stop listening and end the connections still open."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._connections.values()):
            writer.close()  # the connection's pending read then ends its task
        if server is not None:
            await server.wait_closed()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=LINGER_SECONDS + 1)

    async def run(self, stop: asyncio.Event) -> None:
        """The agent's service interface: listen until ``stop`` is set."""
        await self.start()
        await stop.wait()

    async def shutdown(self) -> None:
        await self.close()

    # -- one connection ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            if len(self._connections) > self.max_connections:
                status, body = 503, {"status": "Failed", "error": "too many connections"}
            else:
                status, body = await self._serve(reader, writer)
            await _answer(writer, status, body)
            await _linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the PBX went away; it will send the report again
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[int, dict[str, Any]]:
        """Read one report within ``read_timeout`` and take it; the status and body to answer."""
        try:
            report = await asyncio.wait_for(self._read_report(reader, writer), self.read_timeout)
        except asyncio.TimeoutError:
            return 408, {"status": "Failed", "error": "request not complete in time"}
        except _Refusal as refusal:
            return refusal.status, {"status": "Failed", "error": refusal.message}
        except asyncio.LimitOverrunError:
            return 400, {"status": "Failed", "error": "line too long"}
        return self._take(report)

    def _take(self, report: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        now = self._clock.monotonic()
        if self._deduper.is_resend(report, now):
            log.debug("%s: resent report ignored: %s", self.endpoint_name, _kind(report))
            return 200, {"status": "Success"}
        try:
            self._on_report(self.endpoint_name, report)
        except EdgeAgentError as exc:
            log.warning("%s: report not mirrored (%s); the PBX will send it again", self.endpoint_name, exc)
            return 503, {"status": "Failed", "error": "not stored, send again"}
        self._deduper.remember(report, now)
        return 200, {"status": "Success"}

    async def _read_report(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, Any]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise _Refusal(431, "request head too large") from exc
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _Refusal(400, "not an HTTP/1.x request")
        if parts[0] != "POST":
            raise _Refusal(405, "reports are POSTed")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, sep, value = line.partition(":")
                if not sep:
                    raise _Refusal(400, "malformed header line")
                headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(reader, headers)
        try:
            report = parse_json(body)  # strict: NaN or 1e999 would be re-published as invalid JSON
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise _Refusal(400, "the body is not JSON") from exc
        if not isinstance(report, dict):
            raise _Refusal(400, "the body is not a JSON object")
        return report

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._read_chunked(reader)
        length = headers.get("content-length")
        if length is None:
            raise _Refusal(411, "Content-Length required")
        if not length.isascii() or not length.isdigit():
            raise _Refusal(400, "bad Content-Length")
        if int(length) > self.max_body:
            raise _Refusal(413, f"a report is at most {self.max_body} bytes")
        return await reader.readexactly(int(length))

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            try:
                size_line = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as exc:
                raise _Refusal(400, "bad chunk") from exc
            size_text = size_line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise _Refusal(400, "bad chunk size") from exc
            if size == 0:
                break
            if size < 0 or len(body) + size > self.max_body:
                raise _Refusal(413, f"a report is at most {self.max_body} bytes")
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, if any
            pass
        return bytes(body)


async def _answer(writer: asyncio.StreamWriter, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode("ascii") + payload)
    await writer.drain()


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then read and drop what the client still sends (briefly, boundedly).

    An answer given before the whole request was read (413, 503) would otherwise be lost
    to the connection reset that closing with unread data causes.
    """
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_discard(reader, LINGER_BYTES), LINGER_SECONDS)


async def _discard(reader: asyncio.StreamReader, limit: int) -> None:
    taken = 0
    while taken < limit:
        chunk = await reader.read(65536)
        if not chunk:
            return
        taken += len(chunk)

"""The receiver of a Yeastar PBX's event reports: a small HTTP/1.1 server facing the LAN.

The PBX is the HTTP *client* for reports (protocols.md 4.7): it POSTs JSON to
``report_ip:report_port`` and sends the same report again until it gets a 200. So every
valid report is answered 200 (a resend too), handed once to ``on_report``, which mirrors
it to MQTT, and answered 503 only when that hand-over failed, so the PBX tries again.

It faces the LAN, so it is strict and small: one request per connection (``Connection:
close``); request line and headers at most 16 KiB; a body of at most ``max_body`` bytes
(Content-Length or chunked, 413 beyond); the whole request read within ``read_timeout``
seconds (else 408); POST only (405); any path (the PBX's ``url`` is the operator's
choice). A body that is not a JSON object, or one nested deeper than
:data:`~edge_agent.jsonsafe.DEFAULT_MAX_DEPTH` levels, is 400.

Only the PBX may report. A connection from an address outside ``allow`` (the endpoint's
``report_allow``: addresses or networks) is answered 403 before anything is read, and
nothing it sends is handed on or remembered. Without ``allow``, the addresses of
``pbx_host`` (the host of the endpoint's ``url``, resolved once at start, again later
only while it does not resolve) are the only ones allowed.

Connections are capped so that no peer can starve the PBX: at most ``max_per_source``
at once from any one address that is not the PBX's (closed at once beyond, without
reading), and at most ``max_connections`` from all of them together (503 beyond). The
PBX's own addresses have a pool of ``max_connections`` of their own, so forty slow
connections from elsewhere on the LAN never cost a real report.

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
import ipaddress
import json
import logging
import socket
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Callable, Optional, Union

from edge_agent.errors import EdgeAgentError
from edge_agent.jsonsafe import DEFAULT_MAX_DEPTH, JsonTooDeep, loads
from edge_agent.model import Clock

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
LINGER_SECONDS = 1.0  # after answering, how long to take in what a client still sends
LINGER_BYTES = 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
_IDENTITY_FIELDS = ("callid", "extension", "trunk", "sn")
RESOLVE_AGAIN_SECONDS = 30.0  # while the PBX's host does not resolve, how often to try again
REFUSED_LOG_SECONDS = 60.0  # at most one log line a minute about refused peers
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class _Refusal(Exception):
    """A request answered with an error status (never leaves this module)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ReportDeduper:
    """Tells a PBX resend from a new report, by the rules in the module docstring.

    Its memory is bounded in entries *and* bytes whatever the reports hold: it keeps a
    16-byte BLAKE2b hash of each key (a CDR's ``callid``, a subject) and of each report,
    never the key itself, so 3,000 forged 60 KB reports cost what 3,000 small ones do.
    Both memories are :class:`OrderedDict` s in arrival order: an insert is O(1), the
    oldest entry is the first forgotten (``popitem(last=False)``), and subjects whose
    window has passed are dropped from the front as they are met.
    """

    ENTRY_BYTES = 512
    """An upper bound on one remembered entry (hash keys, value, the dict's own slot), in bytes."""

    def __init__(self, window: float, cdr_memory: int = 4096, subject_memory: int = 4096) -> None:
        self.window = window
        self.cdr_memory = cdr_memory
        self.subject_memory = subject_memory
        self._cdrs: OrderedDict[bytes, None] = OrderedDict()
        self._latest: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()

    @property
    def max_bytes(self) -> int:
        """What the remembered keys may take at most, however large the reports were."""
        return (self.cdr_memory + self.subject_memory) * self.ENTRY_BYTES

    def __len__(self) -> int:
        return len(self._cdrs) + len(self._latest)

    def is_resend(self, report: dict[str, Any], now: float) -> bool:
        cdr = _cdr_key(report)
        if cdr is not None:
            return _hash(cdr) in self._cdrs
        latest = self._latest.get(_hash(*_subject(report)))
        return latest is not None and latest[0] == _digest(report) and now - latest[1] <= self.window

    def remember(self, report: dict[str, Any], now: float) -> None:
        cdr = _cdr_key(report)
        if cdr is not None:
            self._cdrs[_hash(cdr)] = None
            while len(self._cdrs) > self.cdr_memory:
                self._cdrs.popitem(last=False)
            return
        subject = _hash(*_subject(report))
        self._latest.pop(subject, None)  # re-inserted last: the order stays the order of arrival
        self._latest[subject] = (_digest(report), now)
        while len(self._latest) > self.subject_memory or self._oldest_expired(now):
            self._latest.popitem(last=False)  # the oldest: too many, or its window has passed

    def _oldest_expired(self, now: float) -> bool:
        oldest = next(iter(self._latest.values()), None)
        return oldest is not None and now - oldest[1] > self.window


def _hash(*parts: str) -> bytes:
    """A 16-byte digest of ``parts``; what the deduper keeps instead of a key of any size."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        encoded = part.encode("utf-8", errors="surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
    return digest.digest()


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


def _digest(report: dict[str, Any]) -> bytes:
    canonical = json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _hash(canonical)


class ReportListener:
    """Receives one PBX endpoint's reports; ``on_report(endpoint_name, report)`` gets each new one.

    ``on_report`` runs in the event loop and should only hand the report on (publish it);
    an :class:`~edge_agent.errors.EdgeAgentError` from it makes the answer 503, so the
    PBX sends the report again; a ValueError (a report that cannot be re-published, such
    as one nested too deep) makes it 400. Use ``port`` 0 to let the system choose (tests).
    ``allow`` (addresses or networks, as text) and ``pbx_host`` say who may report (see
    the module docstring); with neither, every connection is refused.
    """

    def __init__(
        self,
        bind: str,
        port: int,
        on_report: Callable[[str, dict[str, Any]], None],
        endpoint_name: str,
        clock: Clock,
        *,
        allow: Iterable[str] = (),
        pbx_host: Optional[str] = None,
        max_body: int = 64 * 1024,
        read_timeout: float = 10.0,
        max_connections: int = 32,
        max_per_source: int = 4,
        dedupe_window: float = 60.0,
        cdr_memory: int = 4096,
    ) -> None:
        self.bind = bind
        self.endpoint_name = endpoint_name
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.max_per_source = max_per_source
        self.allow: tuple[IPNetwork, ...] = tuple(parse_networks(allow))
        self.pbx_host = pbx_host
        self.pbx_addresses: frozenset[IPAddress] = frozenset()
        self._resolved_at: Optional[float] = None
        self._requested_port = port
        self._on_report = on_report
        self._clock = clock
        self._deduper = ReportDeduper(dedupe_window, cdr_memory)
        self._server: Optional[asyncio.Server] = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._per_source: dict[Optional[IPAddress], int] = {}
        self._open = {True: 0, False: 0}  # connections open, from the PBX's addresses and from others
        self._refused = 0
        self._refused_told_at: Optional[float] = None

    @property
    def port(self) -> int:
        """The port actually listened on (after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            return self._requested_port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Resolve the PBX's host, then listen; an :class:`EdgeAgentError` when it cannot bind."""
        await self._resolve_pbx()
        try:
            self._server = await asyncio.start_server(
                self._accept, self.bind, self._requested_port, limit=MAX_HEAD_BYTES
            )
        except OSError as exc:
            raise EdgeAgentError(
                f"cannot listen for PBX reports on {self.bind}:{self._requested_port}: "
                f"{exc.strerror or exc} (report_bind says where; by default it is report_ip)"
            ) from exc
        sources = [str(n) for n in self.allow] or sorted(map(str, self.pbx_addresses)) or ["nobody"]
        log.info(
            "%s: listening for PBX reports on %s:%d from %s",
            self.endpoint_name,
            self.bind,
            self.port,
            ", ".join(sources),
        )

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

    # -- who may report -----------------------------------------------------------------------

    async def _resolve_pbx(self) -> None:
        """The addresses of ``pbx_host``; on failure, none (and another try later)."""
        if not self.pbx_host:
            return
        self._resolved_at = self._clock.monotonic()
        try:
            literal = ipaddress.ip_address(self.pbx_host.strip("[]"))
        except ValueError:
            pass
        else:
            self.pbx_addresses = frozenset({_plain(literal)})
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(self.pbx_host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            log.warning(
                "%s: cannot resolve the PBX host %r (%s): reports are refused until it resolves",
                self.endpoint_name,
                self.pbx_host,
                exc,
            )
            return
        self.pbx_addresses = frozenset(
            address for info in infos if (address := _address(str(info[4][0]))) is not None
        )

    def allowed(self, address: Optional[IPAddress]) -> bool:
        """Whether a report from ``address`` is taken."""
        if address is None:
            return False
        if self.allow:
            return any(address in network for network in self.allow)
        return address in self.pbx_addresses

    # -- one connection ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = _address(_peer_host(writer))
        from_pbx = peer is not None and peer in self.pbx_addresses
        if not from_pbx and self._per_source.get(peer, 0) >= self.max_per_source:
            writer.transport.abort()  # this source holds enough slots already: not even an answer
            return
        self._connections[task] = writer
        self._per_source[peer] = self._per_source.get(peer, 0) + 1
        self._open[from_pbx] += 1
        try:
            if not self.allowed(peer) and self._should_resolve_again():
                await self._resolve_pbx()
            if not self.allowed(peer):
                self._tell_refused(peer)
                status, body = 403, {"status": "Failed", "error": "reports are taken from the PBX only"}
            elif self._open[from_pbx] > self.max_connections:
                status, body = 503, {"status": "Failed", "error": "too many connections"}
            else:
                status, body = await self._serve(reader, writer)
            await _answer(writer, status, body)
            await _linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the PBX went away; it will send the report again
        finally:
            del self._connections[task]
            self._open[from_pbx] -= 1
            left = self._per_source.pop(peer) - 1
            if left:
                self._per_source[peer] = left
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _tell_refused(self, peer: Optional[IPAddress]) -> None:
        """Log refused peers at most once a minute (a count), so a flood cannot flood the log."""
        self._refused += 1
        now = self._clock.monotonic()
        if self._refused_told_at is None or now - self._refused_told_at >= REFUSED_LOG_SECONDS:
            log.warning(
                "%s: refused %d report connection(s) from addresses that are not the PBX (latest: %s); "
                "see report_allow",
                self.endpoint_name,
                self._refused,
                peer,
            )
            self._refused, self._refused_told_at = 0, now

    def _should_resolve_again(self) -> bool:
        return (
            not self.allow
            and bool(self.pbx_host)
            and not self.pbx_addresses
            and (
                self._resolved_at is None
                or self._clock.monotonic() - self._resolved_at >= RESOLVE_AGAIN_SECONDS
            )
        )

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
        except ValueError as exc:  # it cannot be re-published as it is: a resend will not change that
            log.warning("%s: report refused (%s)", self.endpoint_name, exc)
            return 400, {"status": "Failed", "error": f"the report cannot be passed on: {exc}"}
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
            # strict: NaN or 1e999 would be re-published as invalid JSON; nesting capped, so
            # the report can be stored and published without reaching the recursion limit
            report = loads(body, max_depth=DEFAULT_MAX_DEPTH)
        except JsonTooDeep as exc:
            raise _Refusal(400, f"the body is JSON {exc}") from exc
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


def parse_networks(items: Iterable[str]) -> list[IPNetwork]:
    """``report_allow`` as networks: an address stands for itself; a ValueError names a bad entry."""
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or network ({exc})") from exc
    return networks


def _peer_host(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""


def _address(host: str) -> Optional[IPAddress]:
    """``host`` as an address, an IPv4-mapped IPv6 one as IPv4, a zone id dropped; None if not one."""
    try:
        return _plain(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


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

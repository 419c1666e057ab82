"""The only module that speaks HTTP to vendors: one connection pool per endpoint, errors translated here.

Each endpoint has its own :class:`HttpTransport` and pool (:mod:`.pool`), so connections
are reused beat after beat (kept idle up to :data:`KEEPALIVE_CAP`) and a slow vendor's
connections never hold up another's. The HTTP/1.1 itself is h11's, on asyncio sockets
(:mod:`.wire`): httpx, its pool and anyio cost 3.5 MB and 32 ms of import for what these
few modules do (``bench/README.md``).

TLS is verified unless ``tls_insecure``; ``ca_file`` replaces the roots. The TLS context
(the CA bundle, about 1.8 MB once loaded) is made at an endpoint's first ``https://``
request, so an agent whose vendors are all plain ``http://`` (a PBX or an AI box on the
LAN) never loads it. Redirects are not followed (a vendor that moves its API should be
reconfigured, not silently chased); proxies in the environment are not used. The reply
body is read by streaming and refused past ``max_response_bytes`` (counted after
decompression, :mod:`.decoding`), so a hostile or broken server cannot exhaust a Pi Zero's memory.

Every failure of the exchange becomes one of our VendorError subclasses here, and nowhere else.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Callable, Optional

from edge_agent import __version__
from edge_agent.errors import VendorError, VendorProtocolError, VendorRejectedError, VendorTransportError
from edge_agent.heartbeat.decoding import ACCEPT_ENCODING, Decoder, DecodingError
from edge_agent.heartbeat.messages import (
    request_headers,
    request_target,
    response_headers,
    shown_host,
    where_to,
)
from edge_agent.heartbeat.pool import ConnectionPool
from edge_agent.heartbeat.wire import Connection, TransportError
from edge_agent.vendors.types import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from edge_agent.config import HeartbeatBase

USER_AGENT = f"edge-agent/{__version__}"
KEEPALIVE_CAP = 120.0
"""Longest an idle connection is kept for the next beat: longer than a typical interval, shorter
than the idle timeouts of NAT boxes, so a silently dropped connection is rarely reused."""


def default_headers() -> dict[str, str]:
    """Headers the transport adds to every request (shown by ``--dry-run`` too)."""
    return {"User-Agent": USER_AGENT}


class _Progress:
    """Where an exchange stands, named for the message when the deadline passes."""

    phase = "PoolTimeout"


class HttpTransport:
    """Sends one endpoint's requests; ``send`` is the seam the adapters are given."""

    def __init__(self, config: HeartbeatBase, *, now: Callable[[], float] = time.monotonic) -> None:
        self.timeout = config.timeout
        self.max_response_bytes = config.max_response_bytes
        self._tls_insecure = config.tls_insecure
        self._ca_file = config.ca_file
        self._tls: Optional[ssl.SSLContext] = None
        # Kept a little longer than the interval: forgotten sooner, every beat would pay a new
        # TCP (and TLS) handshake (httpx's default was 5 s).
        self.pool = ConnectionPool(min(KEEPALIVE_CAP, config.interval + 5.0), now=now)

    async def send(self, request: HttpRequest, *, timeout: Optional[float] = None) -> HttpResponse:
        """Send ``request`` and return the response, whatever its status; raise a VendorError
        when there is no usable response within ``timeout`` seconds (default: the endpoint's).
        """
        deadline = timeout if timeout is not None else self.timeout
        progress = _Progress()
        try:
            return await asyncio.wait_for(self._exchange(request, progress), deadline)
        except asyncio.TimeoutError as exc:
            waited = f"{deadline:g} s ({progress.phase})"
            raise VendorTransportError(f"no reply from {shown_host(request.url)} within {waited}") from exc

    async def aclose(self) -> None:
        self.pool.close_idle()

    def _context(self, scheme: str) -> Optional[ssl.SSLContext]:
        if scheme != "https":
            return None
        if self._tls is None:
            if self._tls_insecure:
                self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
            elif self._ca_file is None:
                self._tls = _default_roots()
            else:
                try:
                    self._tls = ssl.create_default_context(cafile=str(self._ca_file))
                except (OSError, ssl.SSLError) as exc:
                    raise VendorRejectedError(f"ca_file {self._ca_file} cannot be used: {exc}") from exc
            self._tls.set_alpn_protocols(["http/1.1"])
        return self._tls

    async def _exchange(self, request: HttpRequest, progress: _Progress) -> HttpResponse:
        host = shown_host(request.url)
        split, origin = where_to(request.url)
        body = request.body_bytes()
        wanted = {"Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING, **default_headers()}
        headers = request_headers(split, origin, request, body, wanted)
        reading = False
        try:
            async with self.pool.slot():
                connection = self.pool.take(origin)
                if connection is None:
                    progress.phase = "ConnectTimeout"
                    tls = self._context(origin[0])
                    connection = await Connection.open(origin[1], origin[2], tls)
                try:
                    progress.phase = "WriteTimeout"
                    await connection.send_request(request.method, request_target(split), headers, body or b"")
                    progress.phase = "ReadTimeout"
                    status, head = await connection.receive_head()
                    reading = True
                    response = await self._read(connection, status, response_headers(head), host)
                except BaseException:
                    connection.close()
                    raise
                if connection.finish():
                    self.pool.put(origin, connection)
                else:
                    connection.close()
                return response
        except VendorError:
            raise
        except TransportError as exc:
            what = "reply cut short" if reading else "cannot reach"
            raise VendorTransportError(f"{what} {host}: {_describe(exc)}") from exc

    async def _read(
        self, connection: Connection, status: int, headers: dict[str, str], host: str
    ) -> HttpResponse:
        """The reply, its body decoded; refused past the cap, announced or counted as it comes."""
        try:
            return HttpResponse(status, await self._body(connection, status, headers), headers)
        except DecodingError as exc:
            raise VendorProtocolError(f"reply from {host} cannot be decoded: {exc}", status=status) from exc

    async def _body(self, connection: Connection, status: int, headers: Mapping[str, str]) -> bytes:
        cap = self.max_response_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise VendorProtocolError(f"reply larger than {cap} bytes", status=status)
        body = bytearray()
        decoder: Optional[Decoder] = None
        while True:
            data = await connection.receive_data()
            if data is None:
                break
            if decoder is None:  # made at the first byte: an empty reply needs no decoding
                decoder = Decoder(headers.get("content-encoding", ""))
            body += decoder.decode(data, cap - len(body))
            if len(body) > cap:
                raise VendorProtocolError(f"reply larger than {cap} bytes", status=status)
        if decoder is not None:
            body += decoder.flush()
            if len(body) > cap:
                raise VendorProtocolError(f"reply larger than {cap} bytes", status=status)
        return bytes(body)


@functools.cache
def _default_roots() -> ssl.SSLContext:
    """The verifying context, made once and shared by every endpoint: certifi's roots, as httpx used,
    or the system's when certifi is not installed.

    Making one loads the whole CA bundle: about 20 ms of CPU and 0.8 MB each, per endpoint
    and per reload, and 2,000 of them in a fleet simulation. An SSLContext is made to be shared.
    certifi is imported here, at the first https:// request: 0.6 MB of importlib.resources.
    """
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name

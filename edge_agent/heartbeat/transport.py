"""The only module that speaks HTTP to vendors: one httpx client per endpoint, errors translated here.

Each endpoint gets its own :class:`httpx.AsyncClient`, so connections are reused beat
after beat (kept idle up to :data:`KEEPALIVE_CAP`) and a slow vendor's pool never holds
up another's. TLS is verified unless ``tls_insecure``; ``ca_file`` replaces the system
roots. The TLS context (the CA bundle, about 1.8 MB once loaded) is made at an endpoint's
first ``https://`` request, so an agent whose vendors are all plain ``http://`` (a PBX or
an AI box on the LAN) never loads it. Redirects are not followed (a
vendor that moves its API should be reconfigured, not silently chased). The reply body
is read by streaming and refused past ``max_response_bytes`` (counted after
decompression), so a hostile or broken server cannot exhaust a Pi Zero's memory.

Every httpx exception becomes one of our VendorError subclasses here, and nowhere else.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import TYPE_CHECKING, Any, Callable, Optional, Union
from urllib.parse import urlsplit

import httpx

from edge_agent import __version__
from edge_agent.errors import (
    VendorError,
    VendorProtocolError,
    VendorRejectedError,
    VendorTransportError,
)
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


class HttpTransport:
    """Sends one endpoint's requests; ``send`` is the seam the adapters are given."""

    def __init__(self, config: HeartbeatBase) -> None:
        self.timeout = config.timeout
        self.max_response_bytes = config.max_response_bytes
        self._tls_insecure = config.tls_insecure
        self._ca_file = config.ca_file
        # httpx forgets an idle connection after 5 s by default: with a 10 to 60 s interval
        # every beat paid a new TCP (and TLS) handshake. Keep it a little longer than the interval.
        self._keepalive = min(KEEPALIVE_CAP, config.interval + 5.0)
        self._client: Optional[httpx.AsyncClient] = None

    async def send(self, request: HttpRequest, *, timeout: Optional[float] = None) -> HttpResponse:
        """Send ``request`` and return the response, whatever its status; raise a VendorError
        when there is no usable response within ``timeout`` seconds (default: the endpoint's).
        """
        deadline = timeout if timeout is not None else self.timeout
        host = urlsplit(request.url).netloc or request.url
        try:
            return await asyncio.wait_for(self._exchange(request, deadline), deadline)
        except asyncio.TimeoutError as exc:
            raise VendorTransportError(f"no reply from {host} within {deadline:g} s") from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _client_for(self, deadline: float) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=4, max_keepalive_connections=2, keepalive_expiry=self._keepalive
            )

            def transport(verify: Union[bool, ssl.SSLContext]) -> httpx.AsyncHTTPTransport:
                return httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)

            self._client = httpx.AsyncClient(
                # http:// goes here; it never does TLS, and if it were asked to, a context that
                # trusts no certificate would refuse rather than skip the check
                transport=transport(_trusts_nothing()),
                mounts={"https://": _OnFirstUse(lambda: transport(self._verify()))},
                timeout=httpx.Timeout(deadline),
                follow_redirects=False,
                headers=default_headers(),
                trust_env=False,
            )
        return self._client

    def _verify(self) -> Union[bool, ssl.SSLContext]:
        if self._tls_insecure:
            return False
        if self._ca_file is None:
            return _default_roots()
        try:
            return ssl.create_default_context(cafile=str(self._ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise VendorRejectedError(f"ca_file {self._ca_file} cannot be used: {exc}") from exc

    async def _exchange(self, request: HttpRequest, deadline: float) -> HttpResponse:
        host = urlsplit(request.url).netloc or request.url
        client = self._client_for(deadline)
        reading = False
        try:
            async with client.stream(
                request.method,
                request.url,
                headers=dict(request.headers),
                content=request.body_bytes(),
                timeout=httpx.Timeout(deadline),
            ) as response:
                reading = True
                body = await self._read_capped(response)
                headers = {name.lower(): value for name, value in response.headers.items()}
                return HttpResponse(response.status_code, body, headers)
        except VendorError:
            raise
        except httpx.TimeoutException as exc:
            raise VendorTransportError(f"no reply from {host} within {deadline:g} s ({_name(exc)})") from exc
        except httpx.UnsupportedProtocol as exc:
            raise VendorRejectedError(f"cannot send to {request.url!r}: {exc}") from exc
        except httpx.DecodingError as exc:
            raise VendorProtocolError(f"reply from {host} cannot be decoded: {exc}") from exc
        except httpx.TransportError as exc:
            what = "reply cut short" if reading else "cannot reach"
            raise VendorTransportError(f"{what} {host}: {_describe(exc)}") from exc
        except httpx.InvalidURL as exc:
            raise VendorRejectedError(f"invalid URL {request.url!r}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise VendorTransportError(f"{host}: {_describe(exc)}") from exc

    async def _read_capped(self, response: httpx.Response) -> bytes:
        cap = self.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise VendorProtocolError(f"reply larger than {cap} bytes", status=response.status_code)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise VendorProtocolError(f"reply larger than {cap} bytes", status=response.status_code)
        return bytes(body)


class _OnFirstUse(httpx.AsyncBaseTransport):
    """A transport made when its first request comes (for https://: the TLS context with it)."""

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self._transport: Optional[httpx.AsyncBaseTransport] = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = self._make()
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


@functools.cache
def _trusts_nothing() -> ssl.SSLContext:
    """A verifying context with no CA at all: cheap to make, and any certificate fails with it."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@functools.cache
def _default_roots() -> Union[bool, ssl.SSLContext]:
    """The verifying context httpx makes for ``verify=True``, made once and shared by every endpoint.

    Making one loads the whole CA bundle: about 20 ms of CPU and 0.8 MB each, per endpoint
    and per reload, and 2,000 of them in a fleet simulation. An SSLContext is made to be
    shared. httpx before 0.28 has no public factory: there each client makes its own.
    """
    factory = getattr(httpx, "create_ssl_context", None)
    return True if factory is None else factory(trust_env=False)


def _name(exc: Any) -> str:
    return type(exc).__name__


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{_name(exc)}: {text}" if text else _name(exc)

"""A vendor request as the lines HTTP/1.1 sends, and a reply's header lines as the adapters read them.

What httpx did for us between the URL an adapter builds and the bytes on the wire, kept
as it did it so a vendor sees the same request: where to connect, the request target
percent-encoded with WHATWG's sets (an already encoded ``%xx`` is left alone), a Host
header with the port when it is not the scheme's and IPv6 literals in brackets, Basic
auth from ``user:password@``, the adapter's headers over the transport's, and the length
of the body. Pure functions: no socket, no h11.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Optional
from urllib.parse import SplitResult, quote, unquote, urlsplit

from edge_agent.errors import VendorRejectedError
from edge_agent.heartbeat.pool import Origin
from edge_agent.heartbeat.wire import Header
from edge_agent.vendors.types import HttpRequest

DEFAULT_PORTS = {"http": 80, "https": 443}
# What may stay as written in a path and a query (unreserved characters always do); the rest
# is percent-encoded. WHATWG's path and query sets, as httpx used.
PATH_SAFE = "!$%&'()*+,/:;=@[\\]^|"
QUERY_SAFE = PATH_SAFE + "?`{}"


def where_to(url: str) -> tuple[SplitResult, Origin]:
    """The URL split, and where to connect; a VendorRejectedError when it is not one we can send to."""
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError as exc:
        raise VendorRejectedError(f"invalid URL {url!r}: {exc}") from exc
    scheme = split.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        what = f"an unsupported protocol '{scheme}://'" if scheme else "no 'http://' or 'https://'"
        raise VendorRejectedError(f"cannot send to {url!r}: the URL has {what}")
    if not split.hostname:
        raise VendorRejectedError(f"invalid URL {url!r}: no host")
    return split, (scheme, split.hostname, port if port is not None else DEFAULT_PORTS[scheme])


def request_target(split: SplitResult) -> str:
    """The path and query as the request line carries them (the fragment stays with the client)."""
    target = quote(split.path or "/", safe=PATH_SAFE)
    if split.query:
        target += "?" + quote(split.query, safe=QUERY_SAFE)
    return target


def request_headers(
    split: SplitResult,
    origin: Origin,
    request: HttpRequest,
    body: Optional[bytes],
    defaults: Mapping[str, str],
) -> list[Header]:
    """Host and ``defaults`` first, then the adapter's headers (which win), then the body's length."""
    scheme, hostname, port = origin
    host = f"[{hostname}]" if ":" in hostname else hostname
    if port != DEFAULT_PORTS[scheme]:
        host += f":{port}"
    wanted = {"Host": host, **defaults}
    if split.username is not None:  # user:password@ in the URL: Basic auth, as httpx did
        pair = f"{unquote(split.username)}:{unquote(split.password or '')}".encode()
        wanted["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    headers: dict[str, tuple[str, str]] = {}  # lower-case name -> (name as written, value)
    for source in (wanted, request.headers):
        for name, value in source.items():
            headers[name.lower()] = (name, value)
    headers.pop("transfer-encoding", None)
    headers.pop("content-length", None)
    if body is not None or request.method.upper() in ("POST", "PUT", "PATCH"):
        headers["content-length"] = ("Content-Length", str(len(body or b"")))
    # A name that is not ASCII gets a "?" that h11 refuses with a clear message
    return [(name.encode("ascii", "replace"), value.encode("utf-8")) for name, value in headers.values()]


def response_headers(head: list[Header]) -> dict[str, str]:
    """Lower-case names; a header sent more than once has its values joined by ", " (as httpx did)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in head:
        name, value = raw_name.decode("latin-1").lower(), _text(raw_value)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def shown_host(url: str) -> str:
    """host:port of ``url`` for a message, without any user:password@ before it."""
    return urlsplit(url).netloc.rpartition("@")[2] or url


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")

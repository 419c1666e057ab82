"""The client side of the transport's tests: an endpoint's config, and requests sent through one transport."""

from __future__ import annotations

import asyncio
import tracemalloc
from types import SimpleNamespace
from typing import Any, Callable, Optional

from edge_agent.errors import VendorError
from edge_agent.heartbeat.transport import HttpTransport
from edge_agent.vendors.types import HttpRequest

CAP = 64 * 1024


def endpoint(**overrides: Any) -> Any:
    """What the transport reads of an endpoint's config."""
    values = {
        "timeout": 10.0,
        "max_response_bytes": CAP,
        "tls_insecure": False,
        "ca_file": None,
        "interval": 10.0,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def get(url: str) -> HttpRequest:
    return HttpRequest(method="GET", url=url)


def exchange(
    requests: list[HttpRequest],
    config: Any = None,
    *,
    between: Optional[Callable[[int], None]] = None,
    timeout: Optional[float] = None,
    now: Optional[Callable[[], float]] = None,
) -> list[Any]:
    """Send ``requests`` one after the other through one transport; each response or VendorError.

    ``between(i)`` runs (in a thread, the loop free meanwhile) before request ``i`` > 0.
    """

    async def run() -> list[Any]:
        transport = HttpTransport(config or endpoint(), **({"now": now} if now else {}))
        results: list[Any] = []
        try:
            for index, request in enumerate(requests):
                if index and between is not None:
                    await asyncio.to_thread(between, index)
                try:
                    results.append(await transport.send(request, timeout=timeout))
                except VendorError as exc:
                    results.append(exc)
        finally:
            await transport.aclose()
        return results

    return asyncio.run(run())


def with_peak_memory(run: Callable[[], Any]) -> tuple[Any, int]:
    """What ``run()`` returned, and the most memory Python held meanwhile (tracemalloc, all threads)."""
    tracemalloc.start()
    try:
        result = run()
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def one(request: HttpRequest, config: Any = None, *, timeout: Optional[float] = None) -> Any:
    return exchange([request], config, timeout=timeout)[0]

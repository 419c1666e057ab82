"""The Healthchecks endpoint the demo, the tests and the bench point at a simulator."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable, Optional

from edge_agent.vendors.pick import Pick
from edge_agent.vendors.place import Place
from edge_agent.vendors.types import HttpRequest, HttpResponse

ENDPOINT_NAME = "cron"
PINGS_PER_BEAT = 4
"""A beat sends one ping, its first also ``/start``, a failure its retries: the rate a
world's pace needs, with room for them."""


def prepare(app: Any, interval: Optional[float]) -> None:
    """Healthchecks.io refuses a sixth ping to one check in a minute (429): a world beating
    faster than every 12 s (the tests, the bench) gets a simulator that takes its pace."""
    if interval:
        app.rate_limit = max(app.rate_limit, math.ceil(60 / interval) * PINGS_PER_BEAT)


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.cron]``: the demo check by its UUID."""
    return {
        "vendor": "healthchecks",
        "url": url,
        "uuid": credentials["uuid"],
        "on_stop": "log",
        "interval": 15,
        "timeout": 3,
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    check = app.check(credentials["uuid"])
    return f"healthchecks: {len(check.pings)} ping(s) received; the check is {check.status}"


def valid_reply(request: HttpRequest, pick: Pick) -> Any:
    """What the documents say Healthchecks answers a ping it took: plain text, not JSON."""
    return pick.one_of([b"OK", b"Created"])


def decoders(request: HttpRequest) -> list[Callable[[HttpResponse], Any]]:
    """The pure readers of its replies, for the fuzz suite."""
    from edge_agent.vendors.healthchecks.adapter import decode

    return [decode]

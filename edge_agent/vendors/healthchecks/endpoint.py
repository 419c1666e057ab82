"""The Healthchecks endpoint the demo and the tests point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.vendors.place import Place

ENDPOINT_NAME = "cron"


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

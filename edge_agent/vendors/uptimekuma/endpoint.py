"""The Uptime Kuma endpoint the demo and the tests point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.vendors.place import Place

ENDPOINT_NAME = "kuma"


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.kuma]``: the demo push monitor."""
    return {
        "vendor": "uptimekuma",
        "url": url,
        "push_token": credentials["push_token"],
        "on_stop": "down",
        "interval": 5,
        "timeout": 3,
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    beats = app.beats(credentials["push_token"])
    last = beats[-1].status if beats else "none"
    return f"uptimekuma: {len(beats)} push(es) received; the last said {last}"

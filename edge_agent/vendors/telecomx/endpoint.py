"""The Telecom X endpoint the demo and the tests point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.vendors.place import Place

ENDPOINT_NAME = "iptv"


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.iptv]`` against the simulator at ``url`` (its demo token)."""
    return {
        "vendor": "telecomx",
        "url": url + "/iptv/app/heartbeat",
        "token": credentials["token"],
        "interval": 2,
        "timeout": 3,
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    beats = app.heartbeats(credentials["token"])
    last = beats[-1] if beats else {}
    said = "turnedOff" if last.get("turnedOff") else "still on" if last else "nothing (none arrived)"
    return f"telecomx: the last heartbeat said {said}"

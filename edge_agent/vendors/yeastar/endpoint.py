"""The Yeastar endpoint the demo and the tests point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.vendors.place import Place

ENDPOINT_NAME = "pbx"


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.pbx]``: the simulator's API user; reports pushed to ``place.report_port``."""
    return {
        "vendor": "yeastar",
        "url": url,
        "username": credentials["username"],
        "password": credentials["password"],
        "report_ip": "127.0.0.1",
        "report_port": place.report_port,
        "report_bind": "127.0.0.1",
        "interval": 5,
        "timeout": 3,
    }


def demo_note(place: Place) -> str:
    """Said beside the endpoint in the demo's opening lines."""
    return f"; PBX report listener 127.0.0.1:{place.report_port}"


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    delivered = sum(1 for push in app.report_attempts() if push.delivered)
    logged_in = bool(app.tokens())
    return f"yeastar: {delivered} event report(s) delivered; " + (
        "still logged in" if logged_in else "logged out"
    )

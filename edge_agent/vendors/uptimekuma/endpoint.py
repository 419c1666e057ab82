"""The Uptime Kuma endpoint the demo, the tests and the bench point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from edge_agent.vendors.pick import Pick
from edge_agent.vendors.place import Place
from edge_agent.vendors.types import HttpRequest, HttpResponse

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


def valid_reply(request: HttpRequest, pick: Pick) -> Any:
    """What the documents say Uptime Kuma answers a push it took."""
    return {"ok": True}


def decoders(request: HttpRequest) -> list[Callable[[HttpResponse], Any]]:
    """The pure readers of its replies, for the fuzz suite."""
    from edge_agent.vendors.uptimekuma.adapter import decode

    return [decode]

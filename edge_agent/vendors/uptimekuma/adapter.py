"""Uptime Kuma push monitors: ``GET <url>/api/push/<token>?status=up|down&msg=...&ping=<ms>``.

Written from Uptime Kuma's ``api-router.js``: the route reads only the query; ``status``
``up`` is UP and anything else DOWN; ``msg`` defaults to ``OK``; ``ping`` is a number of
milliseconds from 0 to 100,000,000,000. The answer is ``{"ok": true}``, or
``{"ok": false, "msg": ...}`` (HTTP 404) for an unknown or paused monitor or a bad ping.

Each beat: ``up`` with ``msg`` and the snapshot's ``rtt_ms`` as ``ping`` (left out when
unknown), or ``down`` with the reason when there is no snapshot. The final beat sends
``down`` "edge-agent stopped" when ``on_stop = "down"``. Nothing is stored.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Optional
from urllib.parse import quote, urlencode

from edge_agent.errors import VendorProtocolError, VendorRejectedError
from edge_agent.model import Snapshot
from edge_agent.vendors.types import HttpRequest, HttpResponse, Reply, Send, VendorContext, error_for_status
from edge_agent.vendors.uptimekuma.config import UptimeKumaConfig

MAX_PING_MS = 100_000_000_000


class UptimeKumaAdapter:
    """One push monitor, pushed each beat."""

    vendor: ClassVar[str] = "uptimekuma"
    sends_final: ClassVar[bool] = True

    def __init__(self, endpoint: str, config: UptimeKumaConfig, context: VendorContext) -> None:
        self.endpoint = endpoint
        self.config = config
        self.context = context

    def preview(self, snapshot: Optional[Snapshot], *, final: bool = False) -> tuple[HttpRequest, str]:
        if final:
            note = "the goodbye push" if self.config.on_stop == "down" else "on_stop = none: nothing is sent"
            return self._request("down", "edge-agent stopped", None), note
        return self._request(*_status_for(snapshot, self.config.msg)), ""

    async def beat(self, snapshot: Optional[Snapshot], send: Send, *, final: bool = False) -> Reply:
        if final:
            if self.config.on_stop == "none":
                return Reply(summary={"sent": None})
            response = await send(self._request("down", "edge-agent stopped", None))
            return Reply(status=response.status, summary={"sent": "down", **decode(response)})
        status, msg, ping = _status_for(snapshot, self.config.msg)
        response = await send(self._request(status, msg, ping))
        return Reply(status=response.status, summary={"sent": status, "ping": ping, **decode(response)})

    def _request(self, status: str, msg: str, ping: Optional[float]) -> HttpRequest:
        token = self.config.push_token.get_secret_value()
        query = {"status": status, "msg": msg, "ping": "" if ping is None else f"{ping:g}"}
        url = f"{self.config.url.rstrip('/')}/api/push/{token}?{urlencode(query, quote_via=quote)}"
        return HttpRequest("GET", url, secret_url_parts=(token,))


def _status_for(snapshot: Optional[Snapshot], msg: str) -> tuple[str, str, Optional[float]]:
    if snapshot is None:
        return "down", "no snapshot: the collectors produced nothing", None
    rtt = snapshot.rtt_ms
    ping = round(rtt, 3) if rtt is not None and math.isfinite(rtt) and 0 <= rtt <= MAX_PING_MS else None
    return "up", msg, ping


def decode(response: HttpResponse) -> dict[str, Any]:
    """``{"ok": true}`` is the only success; ``ok: false`` says why in ``msg``."""
    if not response.ok:
        raise error_for_status(response.status, _why(response))
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("ok"), bool):
        raise VendorProtocolError(f"reply is not Uptime Kuma's {{ok: ...}}: {response.excerpt(80)!r}")
    if body["ok"] is not True:
        raise VendorRejectedError(f"Uptime Kuma refused the push: {_why(response)}", status=response.status)
    return {"ok": True}


def _why(response: HttpResponse) -> str:
    try:
        body = response.json()
    except VendorProtocolError:
        return response.excerpt()
    msg = body.get("msg") if isinstance(body, dict) else None
    return str(msg)[:200] if isinstance(msg, str) else response.excerpt()

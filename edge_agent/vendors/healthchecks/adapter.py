"""Healthchecks.io's Pinging API: one ping per beat, the snapshot as the ping's log.

Endpoints (``<base>`` is ``url``; ``<check>`` is ``<uuid>`` or ``<ping-key>/<slug>``):
``<base>/<check>`` success, ``/start``, ``/fail``, ``/log``, ``/<exit-status>`` (0..255).
A POST body is the ping's log; Healthchecks keeps its first 100 kB, so we send at most
that. A good answer is ``200 OK`` (``201 Created`` when a slug URL created the check);
``404 not found``, ``409 ambiguous slug``, ``429 rate limited`` and the older
``200 OK (not found)`` / ``OK (rate limited)`` bodies are errors, never a success.

Each beat: ``/fail`` when there is no snapshot to report (the collectors produced
nothing), else success; with ``signal_start`` the first beat of a run sends ``/start``
first. The final beat (clean shutdown) sends ``on_stop``: nothing, ``/log``, ``/fail``
or an exit status. Nothing is stored: a ping has no state to keep.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Optional

from edge_agent.errors import VendorProtocolError, VendorRejectedError, VendorTransportError
from edge_agent.model import Snapshot
from edge_agent.vendors.healthchecks.config import HealthchecksConfig
from edge_agent.vendors.types import HttpRequest, HttpResponse, Reply, Send, VendorContext, error_for_status

BODY_LIMIT = 100_000
"""Healthchecks.io keeps the first 100 kB of a ping's body; more would be cut there anyway."""
GOOD = {"OK", "Created"}


class HealthchecksAdapter:
    """One check, pinged each beat."""

    vendor: ClassVar[str] = "healthchecks"
    sends_final: ClassVar[bool] = True

    def __init__(self, endpoint: str, config: HealthchecksConfig, context: VendorContext) -> None:
        self.endpoint = endpoint
        self.config = config
        self.context = context
        self._started = False

    def preview(self, snapshot: Optional[Snapshot], *, final: bool = False) -> tuple[HttpRequest, str]:
        if final:
            if self.config.on_stop == "none":
                return self._request("log", "edge-agent stopping"), "on_stop = none: nothing is sent"
            return self._request(self.config.on_stop, "edge-agent stopping"), "the goodbye ping"
        signal, body = _signal_for(snapshot)
        note = "a /start ping goes first" if self.config.signal_start and not self._started else ""
        return self._request(signal, body), note

    async def beat(self, snapshot: Optional[Snapshot], send: Send, *, final: bool = False) -> Reply:
        if final:
            if self.config.on_stop == "none":
                return Reply(summary={"sent": None})
            response = await send(self._request(self.config.on_stop, "edge-agent stopping"))
            return Reply(status=response.status, summary={"sent": self.config.on_stop, **decode(response)})
        if self.config.signal_start and not self._started:
            decode(await send(self._request("start", "edge-agent started")))
            self._started = True
        signal, body = _signal_for(snapshot)
        response = await send(self._request(signal, body))
        return Reply(status=response.status, summary={"sent": signal, **decode(response)})

    def _request(self, signal: str, body: str) -> HttpRequest:
        config = self.config
        if config.uuid is not None:
            check = config.uuid.get_secret_value()
            secrets: tuple[str, ...] = (check,)
        else:
            assert config.ping_key is not None and config.slug is not None
            key = config.ping_key.get_secret_value()
            check, secrets = f"{key}/{config.slug}", (key,)
        url = f"{config.url.rstrip('/')}/{check}"
        if signal != "success":
            url += f"/{signal}"
        if config.create:
            url += "?create=1"
        data = body.encode("utf-8")[:BODY_LIMIT].decode("utf-8", errors="ignore")
        return HttpRequest(
            "POST",
            url,
            headers={"Content-Type": "text/plain; charset=utf-8"},
            text_body=data,
            secret_url_parts=secrets,
        )


def _signal_for(snapshot: Optional[Snapshot]) -> tuple[str, str]:
    """Success with the snapshot as the log, or ``fail`` when there is nothing to report."""
    if snapshot is None:
        return "fail", "no snapshot: the collectors produced nothing"
    return "success", json.dumps(snapshot.to_json(), separators=(",", ":"), default=str)


def decode(response: HttpResponse) -> dict[str, Any]:
    """What the ping's answer says; a VendorError unless Healthchecks took the ping."""
    text = response.body.decode("utf-8", errors="replace").strip()
    if not response.ok:
        raise error_for_status(response.status, text[:120])
    if text in GOOD:
        return {"answer": text}
    if text.startswith("OK (") and text.endswith(")"):  # a 200 that says the ping was not taken
        reason = text[4:-1]
        if "rate limit" in reason:
            raise VendorTransportError(f"Healthchecks ignored the ping: {reason}", status=response.status)
        raise VendorRejectedError(f"Healthchecks ignored the ping: {reason}", status=response.status)
    raise VendorProtocolError(
        f"reply is not a Healthchecks answer (OK, Created): {response.excerpt(80)!r}", status=response.status
    )

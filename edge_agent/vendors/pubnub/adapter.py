"""PubNub Presence "announce heartbeat" (seed 004, protocols.md section 5): one signed GET per beat.

``GET {origin}/v2/presence/sub-key/{sub_key}/channel/{channels}/heartbeat`` with ``uuid``,
``heartbeat`` (the presence timeout), ``channel-group``, ``state``, ``auth`` and ``pnsdk``;
with a secret key, also a fresh ``timestamp`` and a v2 ``signature`` on every request
(:mod:`edge_agent.vendors.pubnub.signature`). Channel names are percent-encoded and
joined with literal commas, sorted and without repeats as the Python SDK does; a request
for channel groups only has the literal ``,`` as its channel segment.

``state`` announces the snapshot keys named in the config as compact JSON, always keyed by
each channel and each channel group it is set for, even when there is only one (the seed:
"an object with root keys associated with each channel you are setting state for"; the
Python SDK's heartbeat sends ``StateManager.state_payload()``, keyed by channel and group
name alike). Missing or non-finite values are left out; no value at all means no ``state``
parameter.

Clock: with a secret key every request carries ``timestamp``, which PubNub refuses more than
60 s from its own time. A Pi without a real-time clock boots with a stale clock, so the
adapter keeps an offset to the server's clock, learnt from the ``Date`` header of every
reply (the live service sends one), and signs with the corrected time. A 403 whose ``Date``
shows the timestamp was off by more than the window is announced as clock skew
(``clock_skew_s`` and a ``hint`` in ``pubnub.access_denied``) and the request is sent again
at once with the corrected time, so a skewed clock costs one refused request, not a
30-minute forbidden pause. The offset lives in memory only: after a reboot the clock is
stale by a different amount (or already NTP-synced), so a stored offset would be wrong.

The query is sent exactly as it is signed (sorted, every value encoded the same way), so
what the server re-derives from the wire is what was signed. Replies: 200 is presence
refreshed; 403 (no grant, or a signature the server does not accept) is a
VendorAuthError plus a ``pubnub.access_denied`` event naming what was refused; 400 is a
VendorRejectedError (the engine stops until the config changes); 5xx and network errors
are retried with backoff.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from edge_agent import __version__
from edge_agent.errors import VendorAuthError, VendorProtocolError, VendorRejectedError
from edge_agent.model import Snapshot
from edge_agent.vendors.pubnub.signature import pam_encode, signature_v2, signed_query
from edge_agent.vendors.types import (
    MASK,
    HttpRequest,
    HttpResponse,
    Reply,
    Send,
    VendorContext,
    error_detail,
    error_for_status,
    parse_json,
)

if TYPE_CHECKING:
    from edge_agent.vendors.pubnub.config import PubNubConfig

VENDOR = "pubnub"
TIMESTAMP_WINDOW_S = 60  # seed: "no more than ± 60 seconds offset from NTP"
SKEW_SUSPECT_S = TIMESTAMP_WINDOW_S - 5  # a 403 this far off (Date has whole seconds) is the clock
CLOCK_STEP_S = 2  # the offset follows the server only past this much disagreement
MAX_CLOCK_OFFSET_S = 100 * 365 * 86400  # beyond this a Date header is nonsense, not a clock

log = logging.getLogger(__name__)


PNSDK = f"edge-agent/{__version__}"
"""Who is calling, as PubNub's SDKs say it: the package's one version (also the HTTP User-Agent's).
Read from the package root, not ``importlib.metadata``, which cost 1.2 MB and 9 ms to load."""


def channel_path(config: PubNubConfig) -> str:
    """The request path, percent-encoded exactly as it is sent and signed."""
    channels = sorted(set(config.channels))
    segment = ",".join(pam_encode(name) for name in channels) if channels else ","
    return f"/v2/presence/sub-key/{pam_encode(config.subscribe_key)}/channel/{segment}/heartbeat"


def presence_state(config: PubNubConfig, snapshot: Optional[Snapshot]) -> tuple[Optional[Any], list[str]]:
    """The ``state`` object for the chosen snapshot keys (None when there is nothing to say), and notes."""
    if not config.state:
        return None, []
    known = snapshot.to_json() if snapshot is not None else {}
    chosen: dict[str, Any] = {}
    notes: list[str] = []
    for key in config.state:
        if key not in known:
            notes.append(
                f"state: {key!r} is not a snapshot key" if snapshot is not None else "state: no snapshot"
            )
        elif known[key] is None or (isinstance(known[key], float) and not math.isfinite(known[key])):
            notes.append(f"state: {key} is unavailable")
        else:
            chosen[key] = known[key]
    if not chosen:
        return None, notes
    names = sorted(set(config.channels)) + sorted(set(config.channel_groups))
    return {name: chosen for name in names}, notes


def heartbeat_params(
    config: PubNubConfig, uuid: str, state: Optional[Any], timestamp: Optional[int]
) -> dict[str, str]:
    """Every query parameter but ``signature``, as decoded values."""
    params = {"uuid": uuid, "heartbeat": str(config.presence_timeout), "pnsdk": PNSDK}
    if config.channel_groups:
        params["channel-group"] = ",".join(sorted(set(config.channel_groups)))
    if state is not None:
        params["state"] = json.dumps(state, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if config.auth_key is not None:
        params["auth"] = config.auth_key.get_secret_value()
    if config.secret_key is not None and timestamp is not None:
        params["timestamp"] = str(timestamp)
    return params


def heartbeat_request(
    config: PubNubConfig, uuid: str, state: Optional[Any], timestamp: int, *, mask: bool = False
) -> HttpRequest:
    """The heartbeat GET; ``mask`` hides the auth key in the URL (for showing, not sending)."""
    path = channel_path(config)
    params = heartbeat_params(config, uuid, state, timestamp)
    signature: Optional[str] = None
    if config.secret_key is not None:
        secret = config.secret_key.get_secret_value()
        signature = signature_v2(secret, "GET", config.publish_key, path, params)
    shown: Mapping[str, str] = params
    if mask and "auth" in params:
        shown = {**params, "auth": MASK}
    query = signed_query(shown)
    if signature is not None:
        query += f"&signature={signature}"
    return HttpRequest(method="GET", url=f"{config.origin.rstrip('/')}{path}?{query}")


def decode(response: HttpResponse) -> dict[str, Any]:
    """The Presence answer of a 200, or the VendorError its status stands for."""
    if response.status == 403:
        raise VendorAuthError(f"HTTP 403: {error_detail(response)}", status=403)
    if not response.ok:
        raise error_for_status(response.status, error_detail(response))
    body = response.json()
    if not isinstance(body, dict) or body.get("status") != 200:
        raise VendorProtocolError(
            f"unexpected Presence answer: {response.excerpt()!r}", status=response.status
        )
    return body


def denial(response: HttpResponse) -> dict[str, Any]:
    """What a 403 body says was refused (message, and the channels or groups when named)."""
    try:
        body = parse_json(response.body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"message": response.excerpt()}
    if not isinstance(body, dict):
        return {"message": response.excerpt()}
    found: dict[str, Any] = {"message": str(body.get("message", ""))[:200]}
    if isinstance(body.get("payload"), dict):
        found["payload"] = body["payload"]
    return found


def server_time(response: HttpResponse) -> Optional[float]:
    """The server's clock from the reply's ``Date`` header (Unix seconds), None when absent or unreadable."""
    text = response.headers.get("date", "")
    if not text or len(text) > 64:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; an odd form without a zone still is
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class PubNubAdapter:
    """One PubNub Presence endpoint: keep ``uuid`` present on the configured channels and groups."""

    vendor: ClassVar[str] = VENDOR
    sends_final: ClassVar[bool] = False  # a leave is another API; presence simply times out

    def __init__(self, endpoint: str, config: PubNubConfig, context: VendorContext) -> None:
        self.endpoint = endpoint
        self.config = config
        self.context = context
        self.clock_offset_s = 0  # server clock minus ours, from the replies' Date headers

    def uuid(self) -> str:
        """The configured uuid, else the device id (protocols.md 5.2: 1 to 92 characters)."""
        uuid = self.config.uuid or self.context.device_id
        if not uuid or len(uuid) > 92:
            raise VendorRejectedError("set uuid: the device id cannot serve as the PubNub uuid")
        return uuid

    def preview(self, snapshot: Optional[Snapshot], *, final: bool = False) -> tuple[HttpRequest, str]:
        state, notes = presence_state(self.config, snapshot)
        request = heartbeat_request(self.config, self.uuid(), state, self._timestamp(), mask=True)
        signed = "signed with a fresh timestamp on every request" if self.config.secret_key else "unsigned"
        return request, "; ".join([signed, *notes])

    async def beat(self, snapshot: Optional[Snapshot], send: Send, *, final: bool = False) -> Reply:
        state, notes = presence_state(self.config, snapshot)
        timestamp = self._timestamp()
        response = await send(heartbeat_request(self.config, self.uuid(), state, timestamp))
        skew = self._learn_clock(response, timestamp)
        if response.status == 403:
            skewed = self._announce_denial(response, skew)
            if skewed:  # the clock was the cause: once more at once, with the server's time
                timestamp = self._timestamp()
                response = await send(heartbeat_request(self.config, self.uuid(), state, timestamp))
                skew = self._learn_clock(response, timestamp)
                if response.status == 403:
                    self._announce_denial(response, skew, retry=False)
        body = decode(response)
        summary = {
            "uuid": self.uuid(),
            "channels": sorted(set(self.config.channels)),
            "channel_groups": sorted(set(self.config.channel_groups)),
            "state": state,
            "presence": body.get("message"),
        }
        if self.clock_offset_s:
            summary["clock_offset_s"] = self.clock_offset_s  # what the server's Date corrected
        return Reply(status=response.status, summary=summary, skipped=tuple(notes))

    def _timestamp(self) -> int:
        """The signing timestamp: our clock, corrected by what the server's replies said of theirs."""
        return int(self.context.clock.now().timestamp()) + self.clock_offset_s

    def _learn_clock(self, response: HttpResponse, sent: int) -> Optional[int]:
        """Take the server's clock from the reply; returns how far ``sent`` was from it (s), if known.

        ``Date`` has whole seconds and arrives a round trip late, so the offset moves only
        when it is off by :data:`CLOCK_STEP_S` or more: a second of jitter never churns it.
        """
        server = server_time(response)
        if server is None:
            return None
        measured = round(server - self.context.clock.now().timestamp())
        if abs(measured) > MAX_CLOCK_OFFSET_S:
            log.warning("%s: ignoring a Date header %d s from our clock", self.endpoint, measured)
            return None
        if abs(measured - self.clock_offset_s) >= CLOCK_STEP_S:
            if abs(measured) < CLOCK_STEP_S:
                log.info("%s: our clock agrees with PubNub's again (from its Date header)", self.endpoint)
                measured = 0
            else:
                log.warning(
                    "%s: our clock is %d s %s PubNub's (from its Date header); signing with its time",
                    self.endpoint,
                    abs(measured),
                    "behind" if measured > 0 else "ahead of",
                )
            self.clock_offset_s = measured
        return round(sent - server)

    def _announce_denial(self, response: HttpResponse, skew: Optional[int], *, retry: bool = True) -> bool:
        """The ``pubnub.access_denied`` event; True when the timestamp was outside the window."""
        data: dict[str, Any] = {"endpoint": self.endpoint, **denial(response)}
        skewed = skew is not None and self.config.secret_key is not None and abs(skew) > SKEW_SUSPECT_S
        if skew is not None:
            data["clock_skew_s"] = skew
        if skewed:
            assert skew is not None
            data["hint"] = (
                f"the signed timestamp was {abs(skew)} s {'ahead of' if skew > 0 else 'behind'} the "
                f"server's clock (PubNub allows {TIMESTAMP_WINDOW_S} s): the device clock is wrong "
                "(no NTP yet?); "
                + ("corrected from the server's Date header and sent again" if retry else "still refused")
            )
        self.context.emit("pubnub.access_denied", data)
        return skewed

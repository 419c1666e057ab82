"""Telecom X IPTV app heartbeat (seed 000, protocols.md section 1): one POST, an array of actions back.

The request carries the session ``token`` and every statistic the device can tell,
typed as the seed says (``cpuUsage`` is a String, ``freeMemory`` 0-100,
``temperatureZones`` a comma-separated String, ``awakeState`` a Boolean (the display's
DPMS state), ``appStatus`` keyed by package with each app's ``name`` where the platform
tells it). A statistic the device lacks is left out rather than sent as null; why is in
the snapshot's ``unavailable``.

The reply is a JSON array of actions without ids. Each gets a stable id, the endpoint
name plus a hash of the action's canonical JSON (its type, date and payload), so the same
action delivered twice (``noEvents``, or a redelivery after a lost reply) is recognised by
the journal and not queued again. Two different actions identical in type, date and
payload would be taken for one: the seed gives nothing else to tell them apart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from edge_agent.errors import VendorProtocolError
from edge_agent.model import Action, Snapshot
from edge_agent.vendors.types import (
    JSON_CONTENT_TYPE,
    HttpRequest,
    HttpResponse,
    Reply,
    Send,
    VendorContext,
    error_detail,
    error_for_status,
)

if TYPE_CHECKING:
    from edge_agent.vendors.telecomx.config import TelecomXConfig

log = logging.getLogger(__name__)

VENDOR = "telecomx"

# The fields each action type may carry (besides ``type`` and ``date``), with their JSON
# kinds, and which of them the action cannot do without.
_ACTION_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "MESSAGE": {"message": ("string",), "notify": ("string", "number"), "repeat": ("boolean",),
                "duration": ("number",)},
    "REBOOT": {},
    "START_APP": {"app": ("string",), "includeToken": ("boolean",), "includeDeviceId": ("boolean",),
                  "includeTechnicalRoomNumber": ("boolean",)},
    "UPDATE_APP": {"app": ("string",), "version": ("string",)},
    "VIDEO": {"video": ("string",)},
}  # fmt: skip
_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "MESSAGE": ("message",),
    "START_APP": ("app",),
    "UPDATE_APP": ("app",),
    "VIDEO": ("video",),
}


def encode(snapshot: Optional[Snapshot], config: TelecomXConfig, *, final: bool = False) -> HttpRequest:
    """The heartbeat POST for ``snapshot``; ``final`` marks the last one before a clean shutdown."""
    body: dict[str, Any] = {"token": config.token.get_secret_value()}
    if snapshot is not None:
        body.update(statistics(snapshot, config.apps))
    if config.place is not None:
        body["place"] = config.place
    if final:
        body["turnedOff"] = True
    body["noEvents"] = config.no_events
    return HttpRequest(
        method="POST",
        url=config.url,
        headers={"Content-Type": JSON_CONTENT_TYPE, "Accept": JSON_CONTENT_TYPE},
        json_body=body,
        secret_fields=frozenset({"token"}),
    )


def statistics(snapshot: Snapshot, apps: list[str]) -> dict[str, Any]:
    """The seed's statistics that ``snapshot`` knows, in the seed's names, types and units."""
    stats: dict[str, Any] = {}
    if snapshot.cpu_percent is not None:
        stats["cpuUsage"] = _number_text(snapshot.cpu_percent)
    _put_number(stats, "wifiLinkSpeed", snapshot.wifi_link_mbps)
    _put_number(stats, "wifiSignalStrength", snapshot.wifi_signal_dbm)
    if snapshot.memory_free_percent is not None and math.isfinite(snapshot.memory_free_percent):
        stats["freeMemory"] = min(100, max(0, round(snapshot.memory_free_percent)))
    if snapshot.uptime_s is not None and math.isfinite(snapshot.uptime_s):
        stats["uptime"] = int(snapshot.uptime_s)
    _put_number(stats, "remoteRtt", snapshot.rtt_ms)
    _put_number(stats, "remotePacketLoss", snapshot.packet_loss_percent)
    _put_number(stats, "batteryState", snapshot.battery_percent)
    if snapshot.charging is not None:
        stats["chargingState"] = snapshot.charging
    if snapshot.awake is not None:
        stats["awakeState"] = snapshot.awake
    zones = [_number_text(value) for value in snapshot.temperatures.values() if math.isfinite(value)]
    if zones:
        stats["temperatureZones"] = ",".join(zones)
    app_status = {
        package: _app_json(snapshot.apps[package].to_json()) for package in apps if package in snapshot.apps
    }
    if app_status:
        stats["appStatus"] = app_status
    return stats


def _put_number(stats: dict[str, Any], key: str, value: Optional[float]) -> None:
    if value is not None and math.isfinite(value):
        stats[key] = round(value, 2)


def _number_text(value: float) -> str:
    """A number as short text: 41.5 -> "41.5", 38.0 -> "38"."""
    return format(round(value, 1), "g")


def _app_json(app: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in app.items() if value is not None}


def decode(response: HttpResponse, endpoint: str, *, limit: Optional[int] = None) -> Reply:
    """The actions of a heartbeat reply, or the VendorError its status stands for.

    A reply that is not a JSON array is a :class:`VendorProtocolError`; inside it, an
    action of an unknown type or with a field of the wrong type is skipped and logged,
    and unknown fields are dropped, so one odd action never costs the others.

    Only the first ``limit`` elements are read (``[actions] max_per_reply``); the rest are
    counted in ``over_limit``, not looked at: reading the 34,000 actions a 1 MiB reply can
    hold takes a quarter of a second of the event loop for nothing.
    """
    if not response.ok:
        raise error_for_status(response.status, error_detail(response))
    items = response.json() if response.body.strip() else []
    if not isinstance(items, list):
        raise VendorProtocolError(
            f"reply is a JSON {type(items).__name__}, not the array of actions", status=response.status
        )
    read = items if limit is None else items[: max(0, limit)]
    actions: list[Action] = []
    skipped: list[str] = []
    for position, item in enumerate(read):
        action, problem = read_action(item, endpoint)
        if problem is not None:
            skipped.append(f"action {position}: {problem}")
        if action is not None:
            actions.append(action)
    if skipped:  # one line for the lot: a hostile reply must not flood the log
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        log.warning(
            "%s: skipped %d action(s) of the reply: %s%s",
            endpoint,
            len(skipped),
            "; ".join(skipped[:3]),
            more,
        )
    return Reply(
        status=response.status,
        actions=tuple(actions),
        summary={"actions": [action.to_json() for action in actions], "skipped": skipped},
        skipped=tuple(skipped),
        over_limit=len(items) - len(read),
    )


def read_action(item: Any, endpoint: str) -> tuple[Optional[Action], Optional[str]]:
    """One reply element as an Action, and what was wrong with it (if anything)."""
    if not isinstance(item, dict):
        return None, f"a JSON {type(item).__name__}, not an action object"
    action_type = item.get("type")
    if not isinstance(action_type, str):
        return None, "no action type"
    allowed = _ACTION_FIELDS.get(action_type)
    if allowed is None:
        return None, f"unknown action type {action_type[:40]!r}"
    date = item.get("date")
    if "date" in item and not _is_number(date):
        return None, f"{action_type}: date is not a number"
    fields: dict[str, Any] = {} if date is None else {"date": date}
    unknown = sorted(key for key in item if key not in allowed and key not in ("type", "date"))
    for key, kinds in allowed.items():
        if key not in item:
            continue
        if not any(_has_kind(item[key], kind) for kind in kinds):
            return None, f"{action_type}: {key} is not a {' or '.join(kinds)}"
        fields[key] = item[key]
    missing = [key for key in _REQUIRED_FIELDS.get(action_type, ()) if key not in fields]
    if missing:
        return None, f"{action_type}: missing {', '.join(missing)}"
    action = Action(
        id=action_id(endpoint, item), type=action_type, fields=fields, source=f"heartbeat:{endpoint}"
    )
    if unknown:
        return action, f"{action_type}: ignored unknown fields {', '.join(key[:40] for key in unknown[:10])}"
    return action, None


def action_id(endpoint: str, item: dict[str, Any]) -> str:
    """A stable id for an action that came without one: the same delivery gives the same id."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()[:24]
    return f"{endpoint}:{digest}"


def _has_kind(value: Any, kind: str) -> bool:
    if kind == "number":
        return _is_number(value)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    """A finite JSON number (Python reads ``true`` as an int, so booleans are excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class TelecomXAdapter:
    """One Telecom X endpoint: one request per beat, each returned action queued once."""

    vendor: ClassVar[str] = VENDOR
    sends_final: ClassVar[bool] = True

    def __init__(self, endpoint: str, config: TelecomXConfig, context: VendorContext) -> None:
        self.endpoint = endpoint
        self.config = config
        self.context = context

    def preview(self, snapshot: Optional[Snapshot], *, final: bool = False) -> tuple[HttpRequest, str]:
        """The request the next beat would send, and a note for a person (none needed here)."""
        return encode(snapshot, self.config, final=final), ""

    async def beat(self, snapshot: Optional[Snapshot], send: Send, *, final: bool = False) -> Reply:
        response = await send(encode(snapshot, self.config, final=final))
        reply = decode(response, self.endpoint, limit=self.context.max_actions_per_reply)
        if reply.actions or reply.over_limit:
            self.context.queue_actions(reply.actions, over_limit=reply.over_limit)
        return reply

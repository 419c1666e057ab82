"""Xyte V1 HTTP Device API (seed 001, protocols.md section 2): the pure steps, request in, facts out.

Every function here builds one request or reads one response; none sends anything or
keeps state. :mod:`edge_agent.vendors.xyte.adapter` sequences them into a heartbeat:
register once, telemetry on every beat, then Get Config / Get Command / Get Licenses
when the telemetry reply says there is something to fetch.

Ids (device, command, license) are opaque strings (the docs call some of them integers
but every example is a UUID). ``config_version`` is an integer in the telemetry reply;
it is sent back as an integer in Update Device, which the simulator accepts as the docs
allow both [INFERRED].

Delivery: a telemetry counts only when the hub says ``success: true`` (or says nothing of
it): a reply with ``success: false`` is a :class:`VendorTransportError` carrying the hub's
message, retried with backoff like a 5xx. The hub answers a deleted device 401/403 or 404
``{"error": "Not found"}`` (protocols.md 2.5, 2.8): on the telemetry call a 404 is a
:class:`VendorAuthError` too, so the flow registers again as it does on 401.

Status: ``online``, ``offline`` (the goodbye) or ``error`` with a ``message`` (the seed's
values). The device says ``error`` when it is degraded, which :func:`degradation` decides
from the snapshot alone: no snapshot at all (the collectors produce nothing), or a metric
this device reported earlier in this run that is unavailable now (a sensor that worked
and stopped, with the collector's reason). A metric the device never had (no battery on
a Pi) is not a fault.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Optional

from edge_agent.errors import VendorAuthError, VendorProtocolError, VendorRejectedError, VendorTransportError
from edge_agent.model import Action, Snapshot, format_utc
from edge_agent.vendors.types import (
    JSON_CONTENT_TYPE,
    HttpRequest,
    HttpResponse,
    error_detail,
    error_for_status,
)

if TYPE_CHECKING:
    from edge_agent.vendors.xyte.config import XyteConfig

VENDOR = "xyte"
MIN_INTERVAL = 1.0
MAX_INTERVAL = 86400.0
MAX_MESSAGE = 500  # a telemetry message is one line for a person, not a log
# The metrics whose loss makes the device degraded: every Snapshot key but its bookkeeping.
TRACKED_METRICS = tuple(f.name for f in fields(Snapshot) if f.name not in ("timestamp", "unavailable"))


@dataclass(frozen=True)
class Registration:
    """Who the hub knows us as: kept in the store, wiped when the hub says 401/403."""

    device_id: str
    access_key: str
    hub_url: str

    def url(self, suffix: str = "") -> str:
        return f"{self.hub_url.rstrip('/')}/v1/devices/{self.device_id}{suffix}"


@dataclass(frozen=True)
class TelemetryReply:
    """The flags and versions the hub answers a telemetry with."""

    config_version: Optional[int]
    command: bool
    new_licenses: bool
    success: Optional[bool]
    info_version: Optional[int]
    latest_fw_version: Optional[str]
    latest_fw_file_id: Optional[str]
    space_data_version: Optional[int]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Command:
    """One command from Get Command."""

    id: str
    name: str
    status: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class License:
    """One license change from Get Licenses: ``change`` is add, update or remove."""

    id: str
    change: str
    data: Any
    signature: Any
    expires_at: Optional[str]


# -- requests ----------------------------------------------------------------------------


def registration_request(config: XyteConfig) -> HttpRequest:
    """Register Device on the entry host (no auth; the hardware key is the secret)."""
    body: dict[str, Any] = {
        "hardware_key": config.hardware_key.get_secret_value(),
        "sn": config.sn,
        "firmware_version": config.firmware_version,
    }
    if config.mac:
        body["mac"] = config.mac
    if config.cloud_id:
        body["cloud_id"] = config.cloud_id
    if config.name:
        body["name"] = config.name
    return HttpRequest(
        "POST",
        f"{config.entry_url.rstrip('/')}/v1/devices",
        _json_headers(),
        body,
        secret_fields=frozenset({"hardware_key"}),
    )


def telemetry_request(
    snapshot: Optional[Snapshot],
    registration: Registration,
    *,
    override: bool,
    status: str,
    taken_at: str,
    message: Optional[str] = None,
) -> HttpRequest:
    """Send Telemetry: status (and why, for ``error``), when it was taken (ISO 8601 with ms),
    the metrics, override."""
    body: dict[str, Any] = {
        "status": status,
        "timestamp": taken_at,
        "telemetries": telemetries(snapshot) if snapshot is not None else {},
    }
    if message:
        body["message"] = message[:MAX_MESSAGE]
    if override:
        body["override"] = True
    return _hub("POST", registration, "/telemetry", body)


def degradation(
    snapshot: Optional[Snapshot], seen: set[str], failing: Optional[Mapping[str, str]] = None
) -> Optional[str]:
    """Why the device is degraded (for ``status: "error"``), or None: a metric it had is
    lost, or another of its heartbeat endpoints is failing (``failing``: name -> why).
    Adds to ``seen`` the metrics this snapshot has, so a later loss of one is noticed."""
    if snapshot is None:
        return "no metrics: the collectors have produced no snapshot"
    values = snapshot.to_json()
    seen.update(key for key in TRACKED_METRICS if values.get(key) not in (None, {}))
    lost = [key for key in TRACKED_METRICS if key in seen and key in snapshot.unavailable]
    reasons = [f"{key} unavailable: {snapshot.unavailable[key]}" for key in lost]
    reasons += [f"heartbeat {name} failing: {why}" for name, why in sorted((failing or {}).items())]
    return "; ".join(reasons)[:MAX_MESSAGE] if reasons else None


def telemetries(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as Xyte's flat key -> number/string/bool map (temperatures one key per zone)."""
    flat: dict[str, Any] = {}
    for key, value in snapshot.scalar_metrics().items():
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if value is not None:
            flat[key] = value
    for zone, celsius in snapshot.temperatures.items():
        if math.isfinite(celsius):
            flat[f"temperature_{zone}"] = celsius
    return flat


def taken_at(snapshot: Optional[Snapshot], fallback: Any) -> str:
    """The telemetry timestamp: when the snapshot was taken, else now (``fallback``)."""
    return format_utc(snapshot.timestamp if snapshot is not None else fallback)


def config_request(registration: Registration) -> HttpRequest:
    return _hub("GET", registration, "/config")


def command_request(registration: Registration) -> HttpRequest:
    return _hub("GET", registration, "/command")


def command_update_request(
    registration: Registration, command_id: str, status: str, message: str = ""
) -> HttpRequest:
    """Update Command: in_progress, done or failed (``id`` is required from API v1.0.1)."""
    body: dict[str, Any] = {"id": command_id, "status": status}
    if message:
        body["message"] = message
    return _hub("POST", registration, "/command", body)


def licenses_request(registration: Registration) -> HttpRequest:
    return _hub("GET", registration, "/licenses")


def license_update_request(
    registration: Registration, license_id: str, state: str, error: str = ""
) -> HttpRequest:
    body: dict[str, Any] = {"id": license_id, "state": state}
    if error:
        body["error"] = error
    return _hub("POST", registration, "/licenses", body)


def device_update_request(registration: Registration, fields: Mapping[str, Any]) -> HttpRequest:
    """Update Device (throttled by Xyte: send only what changed)."""
    return _hub("PUT", registration, "", dict(fields))


def _hub(method: str, registration: Registration, suffix: str, body: Any = None) -> HttpRequest:
    headers = _json_headers() if body is not None else {"Accept": JSON_CONTENT_TYPE}
    headers["Authorization"] = registration.access_key
    return HttpRequest(
        method, registration.url(suffix), headers, body, secret_headers=frozenset({"Authorization"})
    )


def _json_headers() -> dict[str, str]:
    return {"Content-Type": JSON_CONTENT_TYPE, "Accept": JSON_CONTENT_TYPE}


# -- responses ---------------------------------------------------------------------------


def check(response: HttpResponse) -> None:
    """Raise the VendorError an unsuccessful answer stands for."""
    if not response.ok:
        raise error_for_status(response.status, error_detail(response))


def decode_registration(response: HttpResponse) -> Registration:
    """The id, access key and hub URL a registration returns.

    A refusal that says "already" means the hub knows this device but we lost its key:
    registering again will not help, so it is a rejection (stop until someone acts).
    """
    if not response.ok:
        detail = error_detail(response)
        if response.status == 409 or "already" in detail.lower():
            raise VendorRejectedError(
                f"HTTP {response.status}: {detail} (the hub has this device but its access key is "
                "lost: delete the device in the Xyte portal so it can register again)",
                status=response.status,
            )
        raise error_for_status(response.status, detail)
    body = _object(response)
    device_id, access_key, hub_url = body.get("id"), body.get("access_key"), body.get("hub_url")
    for name, value in (("id", device_id), ("access_key", access_key), ("hub_url", hub_url)):
        if not isinstance(value, str) or not value or len(value) > 2048:
            raise VendorProtocolError(f"registration reply has no usable {name}", status=response.status)
    assert isinstance(device_id, str) and isinstance(access_key, str) and isinstance(hub_url, str)
    if not hub_url.startswith(("https://", "http://")) or "/" in device_id or "?" in device_id:
        raise VendorProtocolError("registration reply has an unusable hub_url or id", status=response.status)
    return Registration(device_id, access_key, hub_url)


def is_already_registered(error: VendorRejectedError) -> bool:
    """True when a registration was refused because the hub already has this device."""
    return error.status == 409 or "already" in str(error).lower()


def decode_telemetry(response: HttpResponse) -> TelemetryReply:
    """The telemetry reply's flags; a field of the wrong type makes the reply unusable.

    404 means the hub no longer knows the device (deleted): a VendorAuthError, as for 401,
    so the flow registers again. ``success: false`` means the telemetry was not taken: a
    VendorTransportError with the hub's message, so it is sent again after a backoff.
    """
    if response.status == 404:
        raise VendorAuthError(
            f"HTTP 404: {error_detail(response)} (the hub does not know this device: deleted?)", status=404
        )
    check(response)
    body = _object(response)
    if body.get("success") is False:
        said = [str(body[key])[:200] for key in ("message", "error") if isinstance(body.get(key), str)]
        raise VendorTransportError(
            f"telemetry not accepted (success: false): {': '.join(said) or 'no reason given'}",
            status=response.status,
        )
    return TelemetryReply(
        config_version=_typed(body, "config_version", int),
        command=bool(_typed(body, "command", bool)),
        new_licenses=bool(_typed(body, "new_licenses", bool)),
        success=_typed(body, "success", bool),
        info_version=_typed(body, "info_version", int),
        latest_fw_version=_typed(body, "latest_fw_version", str),
        latest_fw_file_id=_typed(body, "latest_fw_file_id", str),
        space_data_version=_typed(body, "space_data_version", int),
    )


def decode_config(response: HttpResponse) -> tuple[int, dict[str, Any]]:
    """Get Config's version and config: nested under ``config`` (v1.0.5+) or flat (older)."""
    check(response)
    body = _object(response)
    version = _typed(body, "version", int)
    if version is None:
        raise VendorProtocolError("config reply has no version", status=response.status)
    if "config" in body:
        config = body["config"]
        if not isinstance(config, dict):
            raise VendorProtocolError("config reply's config is not an object", status=response.status)
        return version, config
    flat = {k: v for k, v in body.items() if k not in ("version", "last_updated", "name", "device_id")}
    return version, flat


def decode_command(response: HttpResponse) -> Optional[Command]:
    """The pending command, or None when there is none (``{}`` or 404)."""
    if response.status == 404:
        return None
    check(response)
    body = _object(response)
    if not body:
        return None
    command_id, name = body.get("id"), body.get("name")
    if isinstance(command_id, int) and not isinstance(command_id, bool):
        command_id = str(command_id)
    if not isinstance(command_id, str) or not command_id or not isinstance(name, str) or not name:
        raise VendorProtocolError("command reply has no id or name", status=response.status)
    parameters = body.get("parameters")
    status = body.get("status")
    return Command(
        id=command_id[:200],
        name=name[:100],
        status=status if isinstance(status, str) else "pending",
        parameters=parameters if isinstance(parameters, dict) else {},
    )


def decode_licenses(response: HttpResponse) -> tuple[list[License], list[str]]:
    """The license changes, and what was skipped (an item without id or change) and why."""
    check(response)
    body = response.json()
    if not isinstance(body, list):
        raise VendorProtocolError("licenses reply is not an array", status=response.status)
    changes: list[License] = []
    skipped: list[str] = []
    for position, item in enumerate(body):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            skipped.append(f"license {position}: no id")
            continue
        flags = [change for change in ("remove", "update", "add") if item.get(change) is True]
        action = item.get("action")
        change = flags[0] if flags else action if action in ("add", "update", "remove") else None
        if change is None:
            skipped.append(f"license {item['id'][:60]}: says neither add, update nor remove")
            continue
        expires = item.get("expires_at")
        changes.append(
            License(
                item["id"],
                change,
                item.get("data"),
                item.get("signature"),
                expires if isinstance(expires, str) else None,
            )
        )
    return changes, skipped


def command_action(endpoint: str, command: Command) -> Action:
    """The action a Xyte command becomes: the standard reboot and dump map to REBOOT and DUMP,
    any other (custom) name is kept as is, to match an ``[actions.commands]`` entry.
    """
    action_type = {"reboot": "REBOOT", "dump": "DUMP"}.get(command.name, command.name)
    return Action(
        id=f"{endpoint}:command:{command.id}",
        type=action_type,
        fields=dict(command.parameters),
        source=f"heartbeat:{endpoint}",
    )


def config_interval(config: Mapping[str, Any]) -> Optional[float]:
    """The telemetry interval a Xyte config asks for (key ``interval``, seconds), within bounds."""
    value = config.get("interval")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if value <= 0:
        return None
    return float(min(MAX_INTERVAL, max(MIN_INTERVAL, value)))


def _object(response: HttpResponse) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise VendorProtocolError(
            f"reply is a JSON {type(body).__name__}, not an object", status=response.status
        )
    return body


def _typed(body: dict[str, Any], key: str, kind: type) -> Any:
    """``body[key]`` when it is of ``kind`` (null counts as absent); else a VendorProtocolError."""
    value = body.get(key)
    if value is None:
        return None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise VendorProtocolError(f"{key} is a JSON {type(value).__name__}, not a {kind.__name__}")
    return value

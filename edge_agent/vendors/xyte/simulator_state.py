"""What the Xyte simulator remembers per device, and the rules that change it.

Kept apart from :mod:`edge_agent.vendors.xyte.simulator` (the HTTP side) so that the state
rules (override semantics, the command life cycle, the license queue, rolling rate
windows) read without the routing around them. Nothing here does I/O or locking: the
simulator holds its lock while calling in.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

TELEMETRY_STATUSES = ("online", "offline", "error")
COMMAND_UPDATES = ("in_progress", "done", "failed")
LICENSE_ACTIONS = ("add", "remove", "update")
LICENSE_STATES = ("inuse", "removed", "error")
# [DOC update-device] the only parameters Update Device accepts (v1.0.6+: others are a 400).
UPDATE_DEVICE_PARAMS = (
    "firmware_version",
    "name",
    "sub_model",
    "details",
    "space_version",
    "config_version",
    "parent_id",
    "host_address",
)


class StateRuleError(ValueError):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``, the form the Xyte documents show."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class XyteCommand:
    """One command queued for a device and what the device reported about it."""

    id: str
    name: str
    parameters: dict[str, Any]
    status: str = "pending"
    reports: list[dict[str, Any]] = field(default_factory=list)  # the Update Command bodies

    def to_wire(self, device_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "device_id": device_id,
            "status": self.status,
            "name": self.name,
            "parameters": dict(self.parameters),
        }


@dataclass
class XyteLicense:
    """One pending license change; removed from the queue by the device's Update License."""

    id: str
    data: str
    action: str
    signature: str = ""
    expires_at: Optional[str] = None

    def to_wire(self, device_id: str) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "device_id": device_id,
            "data": self.data,
            "signature": self.signature,
            "expires_at": self.expires_at,
        }
        for action in LICENSE_ACTIONS:
            wire[action] = action == self.action
        return wire


@dataclass
class XyteFile:
    """A firmware file, as Get File describes it; ``content`` is what the download serves."""

    id: str
    version: str
    name: str
    created_at: str
    content: bytes = b""
    public_notes: str = ""

    def to_wire(self, download_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": download_url,
            "desc": f"firmware {self.version}",
            "file_type": "firmware",
            "version": self.version,
            "created_at": self.created_at,
            "public_notes": self.public_notes,
        }


@dataclass(frozen=True)
class XyteDeviceInfo:
    """A read-only copy of a device's identity for assertions (``device_by_sn``)."""

    id: str
    access_key: str
    hardware_key: str
    sn: str
    mac: Optional[str]
    cloud_id: Optional[str]
    firmware_version: str
    name: Optional[str]
    deleted: bool
    reported_config_version: Optional[int]


@dataclass
class XyteDevice:
    """Everything the server keeps for one registered device."""

    id: str
    access_key: str
    hardware_key: str
    sn: str
    firmware_version: str
    registered_at: datetime
    mac: Optional[str] = None
    cloud_id: Optional[str] = None
    deleted: bool = False
    deleted_status: int = 401  # what a deleted device's calls are answered with (401 or 404)
    properties: dict[str, Any] = field(default_factory=dict)  # name, details, ... (Update Device)
    telemetry_state: dict[str, Any] = field(default_factory=dict)
    telemetries: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    config_name: str = "Default"
    config_version: int = 0
    config_updated_at: Optional[datetime] = None
    reported_config_version: Optional[int] = None
    info_version: int = 0
    space_data_version: int = 0
    commands: deque[XyteCommand] = field(default_factory=deque)
    command_history: list[XyteCommand] = field(default_factory=list)
    licenses: list[XyteLicense] = field(default_factory=list)
    license_reports: list[dict[str, Any]] = field(default_factory=list)
    update_device_calls: list[dict[str, Any]] = field(default_factory=list)
    update_device_times: list[float] = field(default_factory=list)
    call_times: list[float] = field(default_factory=list)

    def info(self) -> XyteDeviceInfo:
        return XyteDeviceInfo(
            id=self.id,
            access_key=self.access_key,
            hardware_key=self.hardware_key,
            sn=self.sn,
            mac=self.mac,
            cloud_id=self.cloud_id,
            firmware_version=self.firmware_version,
            name=self.properties.get("name"),
            deleted=self.deleted,
            reported_config_version=self.reported_config_version,
        )

    def telemetry_reply(self, latest: Optional[XyteFile]) -> dict[str, Any]:
        """[DOC send-telemetry] the flags and versions, computed from what the server holds."""
        return {
            "config_version": self.config_version,
            "command": bool(self.commands),
            "new_licenses": bool(self.licenses),
            "success": True,
            "info_version": self.info_version,
            "latest_fw_version": latest.version if latest else None,
            "latest_fw_file_id": latest.id if latest else None,
            "space_data_version": self.space_data_version,
        }

    def config_document(self) -> dict[str, Any]:
        """Get Config's answer, in the v1.0.7 shape (config nested, device_id included)."""
        updated = self.config_updated_at or self.registered_at
        return {
            "name": self.config_name,
            "version": self.config_version,
            "last_updated": iso(updated),
            "config": dict(self.config),
            "device_id": self.id,
        }

    def replace_config(self, config: dict[str, Any], now: datetime, *, from_device: bool) -> None:
        """Store a new config and bump its version; a device posting the same config is a no-op.

        [INFERRED] the sample agent posts back the config it has just fetched; bumping on
        that would make it fetch again forever. A change made on the server side (the
        ``set_config`` hook, standing for the portal) always bumps.
        """
        if from_device and config == self.config:
            return
        self.config = dict(config)
        self.config_version += 1
        self.config_updated_at = now

    def apply_telemetry(self, body: dict[str, Any]) -> None:
        """[DOC send-telemetry] status joins the telemetries; ``override`` replaces the state."""
        status = body.get("status")
        if status not in TELEMETRY_STATUSES:
            raise StateRuleError(400, f"status must be one of {', '.join(TELEMETRY_STATUSES)}")
        telemetries = body.get("telemetries", {})
        if not isinstance(telemetries, dict):
            raise StateRuleError(400, "telemetries must be an object")
        if "timestamp" in body and not isinstance(body["timestamp"], str):
            raise StateRuleError(400, "timestamp must be an ISO-8601 string")
        if "message" in body and not isinstance(body["message"], str):
            raise StateRuleError(400, "message must be a string")
        if body.get("override") is True:
            self.telemetry_state = {}
        self.telemetry_state.update(telemetries)
        self.telemetry_state["status"] = status

    def report_command(self, body: dict[str, Any]) -> None:
        """[DOC get-command, SRC command.ts] pending -> in_progress -> done | failed, by id."""
        command_id = body.get("id")
        if command_id is None or command_id == "":
            raise StateRuleError(400, "id is required")
        status = body.get("status")
        if status not in COMMAND_UPDATES:
            raise StateRuleError(400, f"status must be one of {', '.join(COMMAND_UPDATES)}")
        if not self.commands or str(command_id) != self.commands[0].id:
            # [INFERRED] 409: the id names no pending command (finished, or never queued).
            raise StateRuleError(409, "Command id does not match the pending command")
        head = self.commands[0]
        head.reports.append(dict(body))
        head.status = status
        if status in ("done", "failed"):
            self.commands.popleft()

    def report_license(self, body: dict[str, Any]) -> None:
        """[DOC update-license] the device's state for one license removes it from the queue."""
        license_id = body.get("id")
        if license_id is None or license_id == "":
            raise StateRuleError(400, "id is required")
        state = body.get("state")
        if state not in LICENSE_STATES:
            raise StateRuleError(400, f"state must be one of {', '.join(LICENSE_STATES)}")
        for index, pending in enumerate(self.licenses):
            if pending.id == str(license_id):
                del self.licenses[index]
                self.license_reports.append(dict(body))
                return
        raise StateRuleError(409, "License id does not match a pending license")  # [INFERRED] 409

    def update_properties(self, body: dict[str, Any]) -> None:
        """[DOC update-device] only the documented parameters; config_version int or string."""
        unknown = sorted(set(body) - set(UPDATE_DEVICE_PARAMS))
        if unknown:
            raise StateRuleError(400, f"Unknown parameters: {', '.join(unknown)}")
        config_version = _config_version(body["config_version"]) if "config_version" in body else None
        firmware = body.get("firmware_version", self.firmware_version)
        if not isinstance(firmware, str) or not firmware:
            raise StateRuleError(400, "firmware_version must be a non-empty string")
        if config_version is not None:
            self.reported_config_version = config_version
        self.firmware_version = firmware
        for name, value in body.items():
            if name not in ("config_version", "firmware_version"):
                self.properties[name] = value


def registration_problem(
    body: dict[str, Any], models: set[str], devices: Iterable[XyteDevice]
) -> Optional[tuple[int, str]]:
    """Why Register Device refuses ``body`` as (status, message), or None to register it.

    [DOC register-device] the required fields; [DOC registration] one registration per
    Cloud ID or MAC + serial among devices not deleted; 400 and 409 are [INFERRED].
    """
    for name in ("hardware_key", "sn", "firmware_version"):
        if not isinstance(body.get(name), str) or not body[name]:
            return 400, f"{name} is required"
    if body["hardware_key"] not in models:
        return 400, "Invalid hardware key"
    mac, cloud_id = body.get("mac"), body.get("cloud_id")
    if not (isinstance(mac, str) and mac) and not (isinstance(cloud_id, str) and cloud_id):
        return 400, "mac or cloud_id is required"
    for device in devices:
        if device.deleted:
            continue
        same_cloud = bool(cloud_id) and device.cloud_id == cloud_id
        same_mac_sn = bool(mac) and device.sn == body["sn"] and _mac_key(device.mac) == _mac_key(mac)
        if same_cloud or same_mac_sn:
            return 409, "Device already registered"
    return None


def _mac_key(mac: Optional[str]) -> str:
    """[INFERRED] MACs compare without case or separators."""
    return re.sub(r"[^0-9a-f]", "", (mac or "").lower())


def _config_version(value: Any) -> int:
    """[DOC] config_version is a string in Update Device but an integer elsewhere: take both."""
    if isinstance(value, bool):
        raise StateRuleError(400, "config_version must be an integer or a string of digits")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise StateRuleError(400, "config_version must be an integer or a string of digits")


def within_limit(times: list[float], now: float, window: float, limit: int) -> bool:
    """Drop the calls older than ``window``; True when one more call stays within ``limit``."""
    cutoff = now - window
    while times and times[0] <= cutoff:
        times.pop(0)
    return len(times) < limit

"""Battery level and charging state from ``/sys/class/power_supply``, or termux-api on Android.

The host's battery is the first ``power_supply`` entry of ``type`` Battery whose
``scope`` is not ``Device`` (a wireless mouse's battery is not the host's). ``charging``
is true when its ``status`` is Charging or Full, or when an external supply (AC, USB,
Mains, Wireless) reports ``online`` = 1 (a tablet held at a charge limit says
"Not charging" while plugged in); false when it is discharging with nothing plugged in.

Android 10+ hides ``power_supply`` from apps; on Termux, and only when sysfs gives
nothing, ``termux-battery-status`` is asked instead (through the bounded, cached runner:
it hangs for good when the Termux:API app is missing).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Optional

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable

POWER_SUPPLY_DIR = "/sys/class/power_supply"
TERMUX_BATTERY = ("termux-battery-status",)

KEYS = ("battery_percent", "charging")

_CHARGING_STATUSES = {"charging", "full"}
_NOT_CHARGING_STATUSES = {"discharging", "not charging"}
_EXTERNAL_TYPES = {"Mains", "USB", "USB_C", "USB_PD", "USB_DCP", "USB_CDP", "USB_ACA", "Wireless"}


def find_battery(host: HostPaths) -> Optional[str]:
    """The device path of the host's battery, or None when it has none."""
    for supply in host.list_dir(POWER_SUPPLY_DIR):
        if _read_optional(host, f"{supply}/type") != "Battery":
            continue
        if _read_optional(host, f"{supply}/scope") == "Device":
            continue
        return supply
    return None


def external_power_online(host: HostPaths) -> Optional[bool]:
    """Whether an AC/USB/wireless supply is online; None when no supply says either way."""
    answers: list[bool] = []
    for supply in host.list_dir(POWER_SUPPLY_DIR):
        if _read_optional(host, f"{supply}/type") not in _EXTERNAL_TYPES:
            continue
        online = _read_optional(host, f"{supply}/online")
        if online in ("0", "1"):
            answers.append(online == "1")
    return any(answers) if answers else None


def read_sysfs_battery(host: HostPaths, battery: str) -> dict[str, Any]:
    """Capacity and charging state of the battery at ``battery``."""
    values: dict[str, Any] = {"battery_percent": float(host.read_int(f"{battery}/capacity"))}
    status = (_read_optional(host, f"{battery}/status") or "").lower()
    plugged = external_power_online(host)
    if status in _CHARGING_STATUSES or plugged:
        values["charging"] = True
    elif status in _NOT_CHARGING_STATUSES or plugged is False:
        values["charging"] = False
    return values


def parse_termux_battery(text: str) -> dict[str, Any]:
    """``termux-battery-status`` JSON: percentage, status, plugged."""
    try:
        data = json.loads(text)
        percent = float(data["percentage"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SensorUnavailable("termux-battery-status gave no percentage") from exc
    status = str(data.get("status", "")).upper()
    plugged = str(data.get("plugged", "")).upper()
    charging = status in ("CHARGING", "FULL") or (bool(plugged) and plugged != "UNPLUGGED")
    return {"battery_percent": percent, "charging": charging}


def _read_optional(host: HostPaths, device_path: str) -> Optional[str]:
    try:
        return host.read_line(device_path)
    except SensorUnavailable:
        return None


class BatteryCollector:
    """The host battery's level and whether it is charging."""

    keys: ClassVar[tuple[str, ...]] = KEYS

    def __init__(self, context: CollectorContext) -> None:
        self._host = context.host
        self._commands = context.commands
        self._termux = context.platform == "termux"
        self.may_wait = self._termux

    def read(self) -> Reading:
        reading = Reading()
        with reading.guard(*KEYS):
            reading.values.update(self._read_values())
            if "charging" not in reading.values:
                reading.mark_unavailable(("charging",), "battery status unknown")
        return reading

    def _read_values(self) -> dict[str, Any]:
        try:
            battery = find_battery(self._host)
            if battery is not None:
                return read_sysfs_battery(self._host, battery)
            sysfs_reason = f"no battery in {POWER_SUPPLY_DIR}"
        except SensorUnavailable as exc:
            sysfs_reason = exc.reason
        if not self._termux:
            raise SensorUnavailable(sysfs_reason)
        try:
            result = self._commands.run(TERMUX_BATTERY)
            if not result.ok:
                raise SensorUnavailable(f"termux-battery-status failed (exit {result.returncode})")
            return parse_termux_battery(result.stdout)
        except SensorUnavailable as exc:
            raise SensorUnavailable(f"{sysfs_reason}; {exc.reason}") from exc

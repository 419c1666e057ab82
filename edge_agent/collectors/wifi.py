"""Wi-Fi signal in dBm from ``/proc/net/wireless``, and link speed in Mbit/s from a helper.

The signal is the ``level`` column of ``/proc/net/wireless`` (``-54.``: the kernel marks a
fresh value with a trailing dot). With the ``IW_QUAL_DBM`` flag the kernel already
prints dBm as a negative number. Drivers that forget the flag print the same byte
unsigned: values 128-255 are that byte, so ``level - 256`` dBm. Values 1-127 are a
driver's relative scale with no dBm equivalent, and 0 means "not associated": both
are reported unavailable rather than converted by guesswork.

The link speed has no file: on Linux ``iw dev <if> link`` (nl80211) prints
``tx bitrate: 433.3 MBit/s``; on Termux, where SELinux closes nl80211 and often
``/proc/net`` as well, ``termux-wifi-connectioninfo`` gives ``link_speed_mbps`` and
``rssi``. Both go through the bounded, cached runner, and neither runs at all on a
host without a wireless interface.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable, ClassVar, Optional

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.collectors.commands import CommandRunner
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable

WIRELESS = "/proc/net/wireless"
NET_DIR = "/sys/class/net"
TERMUX_WIFI = ("termux-wifi-connectioninfo",)

KEYS = ("wifi_signal_dbm", "wifi_link_mbps")

_TX_BITRATE = re.compile(r"^\s*tx bitrate:\s*([0-9.]+)\s*MBit/s", re.MULTILINE)
_NO_RSSI = -127  # what Android reports when there is no signal to measure


def parse_wireless(text: str) -> dict[str, float]:
    """Interface -> raw ``level`` from ``/proc/net/wireless`` (two header lines, then one per interface)."""
    levels: dict[str, float] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        columns = rest.split()
        if not sep or len(columns) < 3:
            continue
        try:
            levels[name.strip()] = float(columns[2].rstrip("."))
        except ValueError as exc:
            raise SensorUnavailable(f"malformed {WIRELESS}: {line.strip()[:60]!r}") from exc
    return levels


def level_to_dbm(interface: str, level: float) -> float:
    """The ``level`` column as dBm, or SensorUnavailable when it is not one."""
    if level == 0 or level <= -256:
        raise SensorUnavailable(f"{interface} is not associated")
    if level < 0:
        return level
    if 128 <= level <= 255:
        return level - 256
    raise SensorUnavailable(f"{interface} reports a relative level ({level:g}), not dBm")


def wireless_interfaces(host: HostPaths) -> list[str]:
    """Wireless interfaces: those in ``/proc/net/wireless``, else those sysfs marks as 802.11."""
    listed = _listed_in_proc(host)
    if listed:
        return listed
    return _marked_wireless(host, host.list_dir(NET_DIR))


def _listed_in_proc(host: HostPaths) -> list[str]:
    try:
        return list(parse_wireless(host.read_text(WIRELESS)))
    except SensorUnavailable:
        return []


def _marked_wireless(host: HostPaths, paths: list[str]) -> list[str]:
    return [
        path.rsplit("/", 1)[-1]
        for path in paths
        if host.exists(f"{path}/wireless") or host.exists(f"{path}/phy80211")
    ]


class WirelessInterfaces:
    """:func:`wireless_interfaces`, with the sysfs examination kept while the listing is unchanged.

    Without ``/proc/net/wireless`` (or on a host with no Wi-Fi, where it lists nothing)
    every interface of ``/sys/class/net`` was examined each cycle: two ``stat`` calls
    per interface, a large share of a cycle's reads on a machine with a few bridges or
    containers (issue 15). Whether an interface is 802.11 does not change while it
    exists, so the answer is kept for the listing it was found on: one ``listdir`` a
    cycle, and a hot-plugged or removed interface is seen at the next cycle. A name
    that went and came back between two cycles keeps the old answer, so the whole
    answer is also examined afresh every ``REEXAMINE_S`` seconds (and an interface
    caught while sysfs was still filling its folder is corrected then).
    """

    REEXAMINE_S = 60.0

    def __init__(self, host: HostPaths, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._host = host
        self._monotonic = monotonic
        self._listing: Optional[list[str]] = None
        self._wireless: list[str] = []
        self._examined_at = 0.0

    def current(self) -> list[str]:
        listed = _listed_in_proc(self._host)
        if listed:
            return listed
        listing = self._host.list_dir(NET_DIR)
        now = self._monotonic()
        if listing != self._listing or now - self._examined_at >= self.REEXAMINE_S:
            self._wireless = _marked_wireless(self._host, listing)
            self._listing, self._examined_at = listing, now
        return list(self._wireless)


def parse_iw_link(interface: str, text: str) -> float:
    """The tx bitrate (Mbit/s) from ``iw dev <if> link``."""
    if text.strip().startswith("Not connected"):
        raise SensorUnavailable(f"{interface} is not connected")
    match = _TX_BITRATE.search(text)
    if match is None:
        raise SensorUnavailable(f"iw gave no tx bitrate for {interface}")
    return float(match.group(1))


def parse_termux_wifi(text: str) -> dict[str, Any]:
    """Link speed and RSSI from ``termux-wifi-connectioninfo`` JSON (absent when not connected)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SensorUnavailable("termux-wifi-connectioninfo gave no JSON") from exc
    if not isinstance(data, dict):
        raise SensorUnavailable("termux-wifi-connectioninfo gave no JSON object")
    values: dict[str, Any] = {}
    if data.get("supplicant_state", "COMPLETED") != "COMPLETED":
        return values
    speed, rssi = data.get("link_speed_mbps"), data.get("rssi")
    if isinstance(speed, (int, float)) and speed > 0:
        values["wifi_link_mbps"] = float(speed)
    if isinstance(rssi, (int, float)) and _NO_RSSI < rssi < 0:
        values["wifi_signal_dbm"] = float(rssi)
    return values


class WifiCollector:
    """Signal strength and link speed of the Wi-Fi interface."""

    keys: ClassVar[tuple[str, ...]] = KEYS

    def __init__(self, context: CollectorContext) -> None:
        self._host = context.host
        self._commands: CommandRunner = context.commands
        self._termux = context.platform == "termux"
        self.may_wait = True
        self._interfaces = WirelessInterfaces(self._host)

    def read(self) -> Reading:
        reading = Reading()
        with reading.guard(*KEYS):
            if self._termux:
                self._read_termux(reading)
            else:
                self._read_linux(reading)
        return reading

    def _read_linux(self, reading: Reading) -> None:
        interfaces = self._interfaces.current()
        if not interfaces:
            raise SensorUnavailable("no wireless interface")
        interface = interfaces[0]
        with reading.guard("wifi_signal_dbm"):
            reading.values["wifi_signal_dbm"] = self._signal_from_proc(interface)
        with reading.guard("wifi_link_mbps"):
            result = self._commands.run(("iw", "dev", interface, "link"))
            if not result.ok:
                detail = (result.stderr or result.stdout).strip()[:80]
                raise SensorUnavailable(f"iw dev {interface} link failed: {detail}")
            reading.values["wifi_link_mbps"] = parse_iw_link(interface, result.stdout)

    def _read_termux(self, reading: Reading) -> None:
        try:
            interfaces = list(parse_wireless(self._host.read_text(WIRELESS)))
            if not interfaces:
                raise SensorUnavailable(f"no interface in {WIRELESS}")
            reading.values["wifi_signal_dbm"] = self._signal_from_proc(interfaces[0])
            proc_reason = ""
        except SensorUnavailable as exc:
            proc_reason = f"{exc.reason}; "
        try:
            info = self._termux_info()
            helper_reason = "Wi-Fi is not connected"
        except SensorUnavailable as exc:
            info, helper_reason = {}, exc.reason
        if "wifi_signal_dbm" not in reading.values:
            if "wifi_signal_dbm" in info:
                reading.values["wifi_signal_dbm"] = info["wifi_signal_dbm"]
            else:
                reading.mark_unavailable(("wifi_signal_dbm",), proc_reason + helper_reason)
        if "wifi_link_mbps" in info:
            reading.values["wifi_link_mbps"] = info["wifi_link_mbps"]
        else:
            reading.mark_unavailable(("wifi_link_mbps",), helper_reason)

    def _termux_info(self) -> dict[str, Any]:
        result = self._commands.run(TERMUX_WIFI)
        if not result.ok:
            raise SensorUnavailable(f"termux-wifi-connectioninfo failed (exit {result.returncode})")
        return parse_termux_wifi(result.stdout)

    def _signal_from_proc(self, interface: str) -> float:
        levels = parse_wireless(self._host.read_text(WIRELESS))
        if interface not in levels:
            raise SensorUnavailable(f"{interface} not in {WIRELESS}")
        return level_to_dbm(interface, levels[interface])

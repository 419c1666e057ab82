"""Whether the device is awake (its display on) or in standby, from the kernel's DRM connectors.

Each display output has a ``/sys/class/drm/<card>-<connector>/`` folder (``card0-HDMI-A-1``
on a Pi 4, ``card1-HDMI-A-1`` on a Pi 5) whose ``dpms`` file says the power state the
display was put in: ``On``, ``Standby``, ``Suspend`` or ``Off``. A desktop's screen blanking
(X's DPMS, a Wayland compositor's idle) and ``vcgencmd``/``wlr-randr`` switch it, so it tells
"awake or standby" as the IPTV heartbeat's ``awakeState`` means it. The files are
world-readable: no privilege, no process.

Only connectors whose ``status`` says ``connected`` count: an unplugged second HDMI port
reads ``Off`` too, and connectors that cannot sense a display (a Pi 5's writeback, a
composite output) say ``unknown``. The device is awake when any connected display is ``On``. With no
display connected, or none known, ``awake`` is unavailable with the reason (a headless
Pi has no standby to tell). Android does not let apps read ``/sys/class/drm`` and keeps
the screen state behind ``dumpsys power`` (DUMP permission) or root, so on Termux it is
unavailable and says so.
"""

from __future__ import annotations

from typing import ClassVar, Optional

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable

DRM_DIR = "/sys/class/drm"
DPMS_STATES = {"On": True, "Standby": False, "Suspend": False, "Off": False}
MAX_CONNECTORS = 32  # a GPU has a handful; a tree with thousands is not a display
ANDROID_REASON = (
    "Android does not let apps read the display state (no readable /sys/class/drm/*/dpms; "
    "dumpsys power needs the DUMP permission)"
)


def read_awake(host: HostPaths) -> bool:
    """True when a connected display is on, False when every connected one is in standby or off."""
    connectors = [entry for entry in host.list_dir(DRM_DIR, "card*-*") if host.exists(f"{entry}/dpms")]
    if not connectors:
        raise SensorUnavailable(f"no display connector in {DRM_DIR}")
    states: list[bool] = []
    for connector in connectors[:MAX_CONNECTORS]:
        if _optional(host, f"{connector}/status") != "connected":
            continue
        value = host.read_line(f"{connector}/dpms")
        if value not in DPMS_STATES:
            raise SensorUnavailable(f"malformed {connector}/dpms: {value[:40]!r}")
        states.append(DPMS_STATES[value])
    if not states:
        names = ", ".join(connector.rsplit("/", 1)[-1] for connector in connectors[:4])
        raise SensorUnavailable(f"no display connected ({names})")
    return any(states)


def _optional(host: HostPaths, device_path: str) -> Optional[str]:
    try:
        return host.read_line(device_path)
    except SensorUnavailable:
        return None


class DisplayCollector:
    """Awake or standby, from the display's DPMS state."""

    keys: ClassVar[tuple[str, ...]] = ("awake",)

    def __init__(self, context: CollectorContext) -> None:
        self._host = context.host
        self._android = context.platform == "termux"
        self.may_wait = False

    def read(self) -> Reading:
        reading = Reading()
        try:
            reading.values["awake"] = read_awake(self._host)
        except SensorUnavailable as exc:
            reason = exc.reason
            if self._android and ("no display connector" in reason or "permission denied" in reason):
                reason = ANDROID_REASON
            reading.mark_unavailable(self.keys, reason)
        return reading

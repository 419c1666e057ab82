"""Seconds since boot, from the first field of ``/proc/uptime``."""

from __future__ import annotations

from typing import ClassVar

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable

UPTIME = "/proc/uptime"


def read_uptime(host: HostPaths) -> float:
    """Seconds since boot (the kernel gives two decimals)."""
    line = host.read_line(UPTIME)
    try:
        return float(line.split()[0])
    except (ValueError, IndexError) as exc:
        raise SensorUnavailable(f"malformed {UPTIME}: {line[:40]!r}") from exc


class UptimeCollector:
    """How long the host has been up."""

    keys: ClassVar[tuple[str, ...]] = ("uptime_s",)

    def __init__(self, context: CollectorContext) -> None:
        self._host = context.host
        self.may_wait = False

    def read(self) -> Reading:
        reading = Reading()
        with reading.guard("uptime_s"):
            reading.values["uptime_s"] = read_uptime(self._host)
        return reading

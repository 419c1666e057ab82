"""Memory from ``/proc/meminfo``: total, available, and the free share the IPTV heartbeat wants.

"Available" is the kernel's own estimate (``MemAvailable``, Linux 3.14+) of what can be
handed to programs without swapping. Older kernels lack it; there the classic
``MemFree + Buffers + Cached`` stands in, which is what ``free`` printed before 3.14.
"""

from __future__ import annotations

import re
from typing import ClassVar

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.errors import SensorUnavailable

MEMINFO = "/proc/meminfo"

KEYS = ("memory_total_bytes", "memory_available_bytes", "memory_free_percent")


_FIELD = re.compile(r"^(MemTotal|MemFree|MemAvailable|Buffers|Cached):\s+(\d+)( kB)?", re.MULTILINE)


def parse_meminfo(text: str) -> dict[str, int]:
    """The fields this collector uses, in bytes (the file counts in kB, meaning KiB)."""
    return {name: int(value) * (1024 if unit else 1) for name, value, unit in _FIELD.findall(text)}


def memory_figures(fields: dict[str, int]) -> dict[str, object]:
    """Total, available and free percent (one decimal) from parsed meminfo fields."""
    total = fields.get("MemTotal")
    if not total:
        raise SensorUnavailable(f"malformed {MEMINFO}: no MemTotal")
    available = fields.get("MemAvailable")
    if available is None:
        try:
            available = fields["MemFree"] + fields.get("Buffers", 0) + fields.get("Cached", 0)
        except KeyError as exc:
            raise SensorUnavailable(f"malformed {MEMINFO}: neither MemAvailable nor MemFree") from exc
    available = min(available, total)
    return {
        "memory_total_bytes": total,
        "memory_available_bytes": available,
        "memory_free_percent": round(100.0 * available / total, 1),
    }


class MemoryCollector:
    """Total and available memory, and the free share in percent."""

    keys: ClassVar[tuple[str, ...]] = KEYS

    def __init__(self, context: CollectorContext) -> None:
        self._host = context.host
        self.may_wait = False

    def read(self) -> Reading:
        reading = Reading()
        with reading.guard(*KEYS):
            reading.values.update(memory_figures(parse_meminfo(self._host.read_text(MEMINFO))))
        return reading

"""CPU usage from the deltas of ``/proc/stat``, and the load averages from ``/proc/loadavg``.

Usage is the share of non-idle ticks between two reads of the aggregate ``cpu`` line.
The collector keeps the previous read, so a long-lived agent measures each interval.
Three cases need care, and each is answered honestly rather than with a made-up figure:

* The first read of a fresh process has nothing to compare with. When the process read
  ``/proc/stat`` as it started (``edge_agent.startup_cpu``, handed in as
  ``CollectorContext.cpu_start``, only for the live host), the first figure is the
  delta over the start-up, with the process's own CPU time in it counted as idle (as
  during a sleep), if at least ``MIN_TICKS`` ticks passed; otherwise it takes a
  second, short sample (``FRESH_SAMPLE_SECONDS`` later, through the injected ``sleep``).
* Counters that go backwards (a CPU hot-unplugged, a counter wrap, a restored VM) would
  give a negative or >100 % figure: the read becomes the new baseline and a fresh short
  sample is taken. "Backwards" is judged on the busy, idle and total sums, not on single
  fields, because the kernel documents that ``iowait`` alone may dip on tickless CPUs.
* Fewer than ``MIN_TICKS`` ticks elapsed since the previous read (cycles a few
  milliseconds apart): a figure from one or two ticks is 0 or 100 by chance, so the last
  figure is repeated and the older baseline kept until enough ticks have passed.

On Android 8+ SELinux denies ``/proc/stat`` to apps: ``cpu_percent`` is then unavailable
with that reason; the load averages are read independently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar, Optional

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable

STAT = "/proc/stat"
LOADAVG = "/proc/loadavg"
FRESH_SAMPLE_SECONDS = 0.2
MIN_TICKS = 10  # /proc/stat counts in 1/100 s per CPU whatever the kernel's HZ
TICKS_PER_SECOND = 100  # USER_HZ, the unit of /proc/stat

# user nice system idle iowait irq softirq steal; guest and guest_nice are already in user/nice.
_COUNTED_FIELDS = 8
_IDLE, _IOWAIT = 3, 4


@dataclass(frozen=True)
class CpuTimes:
    """The aggregate CPU counters of one ``/proc/stat`` read, in ticks."""

    busy: int
    idle: int

    @property
    def total(self) -> int:
        return self.busy + self.idle

    def is_behind(self, earlier: CpuTimes) -> bool:
        """True when any sum went down since ``earlier``: the pair cannot give a usage."""
        return self.busy < earlier.busy or self.idle < earlier.idle


def parse_cpu_times(text: str) -> CpuTimes:
    """The aggregate ``cpu`` line of a ``/proc/stat`` text."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            try:
                ticks = [int(value) for value in fields[1 : 1 + _COUNTED_FIELDS]]
            except ValueError as exc:
                raise SensorUnavailable(f"malformed {STAT}: {line[:60]!r}") from exc
            if len(ticks) < 4:
                raise SensorUnavailable(f"malformed {STAT}: too few fields on the cpu line")
            idle = ticks[_IDLE] + (ticks[_IOWAIT] if len(ticks) > _IOWAIT else 0)
            return CpuTimes(busy=sum(ticks) - idle, idle=idle)
    raise SensorUnavailable(f"malformed {STAT}: no aggregate cpu line")


def usage_percent(earlier: CpuTimes, later: CpuTimes, min_ticks: int = 1) -> Optional[float]:
    """Busy share of the ticks between two reads, 0-100 with one decimal.

    None when the counters went backwards or fewer than ``min_ticks`` ticks passed.
    """
    if later.is_behind(earlier):
        return None
    elapsed = later.total - earlier.total
    if elapsed < max(1, min_ticks):
        return None
    return round(min(100.0, max(0.0, 100.0 * (later.busy - earlier.busy) / elapsed)), 1)


def read_load_averages(host: HostPaths) -> dict[str, float]:
    """The 1, 5 and 15 minute load averages."""
    line = host.read_line(LOADAVG)
    try:
        one, five, fifteen = (float(value) for value in line.split()[:3])
    except ValueError as exc:
        raise SensorUnavailable(f"malformed {LOADAVG}: {line[:40]!r}") from exc
    return {"load_1m": one, "load_5m": five, "load_15m": fifteen}


def _own_cpu_seconds() -> float:
    """This process's user + system CPU time (an exec keeps counting it)."""
    times = os.times()
    return times.user + times.system


def _start_times(read: Optional[tuple[str, float]]) -> Optional[tuple[CpuTimes, float]]:
    """The counters of the read taken as the process started and its own CPU seconds then, or None."""
    if read is None:
        return None
    try:
        return parse_cpu_times(read[0]), read[1]
    except SensorUnavailable:
        return None


class CpuCollector:
    """CPU usage since the previous cycle, and the load averages."""

    keys: ClassVar[tuple[str, ...]] = ("cpu_percent", "load_1m", "load_5m", "load_15m")

    def __init__(self, context: CollectorContext) -> None:
        self._host = context.host
        self._sleep = context.sleep
        self._baseline: Optional[CpuTimes] = None
        self._last_percent: Optional[float] = None
        self._start = _start_times(context.cpu_start) if self._host.is_live else None
        self._own_cpu = _own_cpu_seconds
        # The fresh sample sleeps a fifth of a second; not worth a thread of its own.
        self.may_wait = False

    def read(self) -> Reading:
        reading = Reading()
        with reading.guard("cpu_percent"):
            reading.values["cpu_percent"] = self._cpu_percent()
        with reading.guard("load_1m", "load_5m", "load_15m"):
            reading.values.update(read_load_averages(self._host))
        return reading

    def _read_times(self) -> CpuTimes:
        return parse_cpu_times(self._host.read_text(STAT))

    def _cpu_percent(self) -> float:
        current = self._read_times()
        baseline = self._baseline
        if baseline is None and self._start is not None:
            start, self._start = self._start, None  # the process's own start: used once
            percent = self._since_start(start, current)
            if percent is not None:
                self._baseline = current
                self._last_percent = percent
                return percent
        if baseline is None or current.is_behind(baseline):
            return self._fresh_sample(current)
        percent = usage_percent(baseline, current, MIN_TICKS)
        if percent is None:
            if self._last_percent is None:
                return self._fresh_sample(current)
            return self._last_percent
        self._baseline = current
        self._last_percent = percent
        return percent

    def _since_start(self, start: tuple[CpuTimes, float], current: CpuTimes) -> Optional[float]:
        """Usage since the process started, its own CPU time counted as idle; None: too few ticks."""
        times, own_then = start
        if current.is_behind(times) or current.total - times.total < MIN_TICKS:
            return None
        busy = current.busy - times.busy
        own = min(busy, max(0, round((self._own_cpu() - own_then) * TICKS_PER_SECOND)))
        return round(min(100.0, max(0.0, 100.0 * (busy - own) / (current.total - times.total))), 1)

    def _fresh_sample(self, start: CpuTimes) -> float:
        """Take ``start`` as the baseline and measure a short interval from it."""
        self._baseline = start
        self._sleep(FRESH_SAMPLE_SECONDS)
        end = self._read_times()
        percent = usage_percent(start, end)
        if percent is None:
            if end.is_behind(start):
                self._baseline = end
                raise SensorUnavailable(f"{STAT} counters went backwards during the sample")
            raise SensorUnavailable(f"{STAT} did not advance during a {FRESH_SAMPLE_SECONDS} s sample")
        self._baseline = end
        self._last_percent = percent
        return percent

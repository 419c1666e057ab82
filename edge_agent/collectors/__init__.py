"""Hardware metric collectors: one module per metric family, listed in :data:`COLLECTORS`.

Use :class:`MetricsCollector`, built once and kept (it holds the CPU counters and the
helper-program cache)::

    collector = MetricsCollector.from_config(config)
    snapshot = collector.collect()      # an edge_agent.model.Snapshot; never raises for a sensor

A metric the device lacks, or that the platform denies, is ``None`` in the snapshot with
its reason in ``snapshot.unavailable``. Collectors read only under ``[metrics] host_root``
(a :class:`HostPaths`), and start processes only through :class:`CommandRunner`.
A new family is one new module plus one line in :data:`COLLECTORS`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Optional

from edge_agent.collectors.apps import AppsCollector
from edge_agent.collectors.base import Collector, CollectorContext, CollectorFactory, Reading
from edge_agent.collectors.battery import BatteryCollector
from edge_agent.collectors.commands import CommandRunner
from edge_agent.collectors.cpu import CpuCollector
from edge_agent.collectors.display import DisplayCollector
from edge_agent.collectors.host import HostPaths, detect_platform
from edge_agent.collectors.memory import MemoryCollector
from edge_agent.collectors.network import NetworkCollector
from edge_agent.collectors.rtt import RttCollector
from edge_agent.collectors.thermal import ThermalCollector
from edge_agent.collectors.uptime import UptimeCollector
from edge_agent.collectors.wifi import WifiCollector
from edge_agent.errors import SensorUnavailable
from edge_agent.model import Clock, Snapshot, SystemClock

if TYPE_CHECKING:
    from edge_agent.config import Config, MetricsConfig

__all__ = [
    "COLLECTORS",
    "Collector",
    "CollectorContext",
    "CommandRunner",
    "HostPaths",
    "MetricsCollector",
    "Reading",
]

log = logging.getLogger(__name__)

# family name -> collector class. Explicit, read-only by convention: nothing is discovered.
COLLECTORS: Mapping[str, CollectorFactory] = {
    "cpu": CpuCollector,
    "memory": MemoryCollector,
    "thermal": ThermalCollector,
    "battery": BatteryCollector,
    "wifi": WifiCollector,
    "uptime": UptimeCollector,
    "network": NetworkCollector,
    "rtt": RttCollector,
    "display": DisplayCollector,
    "apps": AppsCollector,
}


class MetricsCollector:
    """Builds one :class:`Snapshot` per ``collect()`` from every registered collector.

    Long-lived on purpose: CPU usage needs the previous counters, and helper programs'
    answers are cached between cycles. ``collect()`` is synchronous; the families that
    may wait (helper programs, network probes) run in parallel threads, so a cycle lasts
    about ``command_timeout`` or the RTT bound, whichever is longer, even if a helper hangs.
    """

    def __init__(
        self,
        metrics_config: MetricsConfig,
        clock: Optional[Clock] = None,
        apps: Iterable[str] = (),
        *,
        environ: Optional[Mapping[str, str]] = None,
        sleep: Callable[[float], None] = time.sleep,
        registry: Mapping[str, CollectorFactory] = COLLECTORS,
        cpu_start: Optional[tuple[str, float]] = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.host = HostPaths(metrics_config.host_root)
        self.platform = detect_platform(metrics_config.platform, self.host, environ)
        wanted = list(dict.fromkeys([*metrics_config.apps, *apps]))
        self.commands = CommandRunner(
            timeout=metrics_config.command_timeout,
            cache_seconds=metrics_config.command_cache,
            clock=self.clock,
            environ=environ,
        )
        context = CollectorContext(
            host=self.host,
            config=metrics_config,
            clock=self.clock,
            platform=self.platform,
            commands=self.commands,
            sleep=sleep,
            apps=tuple(wanted),
            cpu_start=cpu_start,
        )
        self._collectors: dict[str, Collector] = {name: make(context) for name, make in registry.items()}
        # CPU usage is a delta against the previous cycle: two overlapping cycles would
        # each see half an interval, so cycles run one at a time.
        self._cycle_lock = threading.Lock()

    @classmethod
    def from_config(
        cls, config: Config, clock: Optional[Clock] = None, *, cpu_start: Optional[tuple[str, float]] = None
    ) -> MetricsCollector:
        """A collector for ``[metrics]``, also looking up the apps each heartbeat endpoint reports.

        ``cpu_start``: the process's own read of ``/proc/stat`` at its start, which its first
        CPU figure is measured from (``edge_agent.startup_cpu``, see ``CollectorContext``).
        """
        extra = [app for hb in config.heartbeats.values() for app in hb.watched_apps()]
        return cls(config.metrics, clock=clock, apps=extra, cpu_start=cpu_start)

    def collect(self) -> Snapshot:
        """One reading of every family; a missing or denied sensor is an ``unavailable`` entry."""
        with self._cycle_lock:
            return self._collect_once()

    def _collect_once(self) -> Snapshot:
        timestamp = self.clock.now()
        waiting = [name for name, collector in self._collectors.items() if collector.may_wait]
        readings: dict[str, Reading] = {}
        if len(waiting) > 1:
            with ThreadPoolExecutor(max_workers=len(waiting), thread_name_prefix="collect") as pool:
                futures = {name: pool.submit(self._read_one, name) for name in waiting}
                for name in self._collectors:
                    if name not in futures:
                        readings[name] = self._read_one(name)
                for name, future in futures.items():
                    readings[name] = future.result()
        else:
            readings = {name: self._read_one(name) for name in self._collectors}
        values: dict[str, Any] = {}
        unavailable: dict[str, str] = {}
        for name in self._collectors:  # registry order, so the snapshot does not depend on timing
            values.update(readings[name].values)
            unavailable.update(readings[name].unavailable)
        return Snapshot(timestamp=timestamp, unavailable=unavailable, **values)

    def _read_one(self, name: str) -> Reading:
        collector = self._collectors[name]
        try:
            return collector.read()
        except SensorUnavailable as exc:
            reading = Reading()
            reading.mark_unavailable(collector.keys, exc.reason)
            return reading
        except (OSError, ValueError, LookupError, TypeError) as exc:
            # Content from /proc, /sys and helper programs is foreign input: a shape no
            # parser foresaw must cost this family, never the whole snapshot.
            log.warning("collector %s failed on unexpected input", name, exc_info=True)
            reading = Reading()
            reading.mark_unavailable(collector.keys, f"unexpected input: {exc}")
            return reading

"""What every collector shares: the context it is built with, and the reading it returns.

A collector is a class built once from a :class:`CollectorContext` (it may keep state,
such as the previous CPU counters) whose ``read()`` returns a :class:`Reading`: values
under the Snapshot's JSON keys, and for each key it could not fill, the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional, Protocol

from edge_agent.collectors.commands import CommandRunner
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable
from edge_agent.model import Clock

if TYPE_CHECKING:
    from edge_agent.config import MetricsConfig


@dataclass(frozen=True)
class CollectorContext:
    """Everything a collector may use; built once per :class:`MetricsCollector`."""

    host: HostPaths
    config: MetricsConfig
    clock: Clock
    platform: str
    commands: CommandRunner
    sleep: Callable[[float], None]
    apps: tuple[str, ...] = ()
    cpu_start: Optional[tuple[str, float]] = None
    """The aggregate ``cpu`` line of ``/proc/stat`` read when the process started, and the
    process's own CPU seconds then (``edge_agent.startup_cpu``): the CPU collector's
    first baseline, when it has one."""


@dataclass
class Reading:
    """The values one collector found, and why it could not find the others."""

    values: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    @contextmanager
    def guard(self, *keys: str) -> Iterator[None]:
        """Run a block; if it raises SensorUnavailable, mark ``keys`` unavailable with its reason."""
        try:
            yield
        except SensorUnavailable as exc:
            self.mark_unavailable(keys, exc.reason)

    def mark_unavailable(self, keys: tuple[str, ...], reason: str) -> None:
        for key in keys:
            self.values.pop(key, None)
            self.unavailable[key] = reason


class Collector(Protocol):
    """One metric family. ``keys`` are the Snapshot JSON keys it fills.

    ``may_wait`` is true when ``read()`` can block for long (a helper program, a network
    probe); the MetricsCollector runs those in parallel so one cycle stays bounded.
    """

    keys: ClassVar[tuple[str, ...]]
    may_wait: bool

    def read(self) -> Reading: ...


CollectorFactory = Callable[[CollectorContext], Collector]

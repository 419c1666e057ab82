"""The agent: one asyncio loop that ties the collectors, the MQTT mirror and the services together.

Every ``[metrics] interval`` seconds it takes a snapshot (in an executor: collectors may
block on /proc, helper programs and probes) and hands it to the mirror. Other parts plug
in as *services*, anything with ``async run(stop)`` and ``async shutdown()`` (the vendor
heartbeat engine is one), and talk back through three public methods:
:meth:`Agent.publish_event`, :meth:`Agent.set_heartbeat_outcome` and the command handler
(:meth:`Agent.set_command_handler`). When ``stop`` is set (SIGTERM, SIGINT) the services
stop, the mirror says ``offline`` and disconnects, the embedded broker stops and the store
is closed, within a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random as _random
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from edge_agent import __version__
from edge_agent.broker import EmbeddedBroker
from edge_agent.commands import Command
from edge_agent.errors import EdgeAgentError
from edge_agent.mirror import CommandHandler, MqttMirror
from edge_agent.model import Clock, Event, Snapshot, SystemClock, format_utc
from edge_agent.sdnotify import SystemdNotifier
from edge_agent.store import Store
from edge_agent.topics import Topics

if TYPE_CHECKING:
    from edge_agent.config import Config

log = logging.getLogger(__name__)

SERVICE_STOP_TIMEOUT = 5.0
STATUS_NAMESPACE = "agent"
"""Store namespace of what ``edge-agent status`` reads: start, pid, stop, heartbeat outcomes."""
OUTCOME_VOLATILE = ("time", "latency_ms", "next_in_s")
"""Keys of a heartbeat outcome that change on every beat; the rest say what happened."""
OUTCOME_REFRESH_S = 600.0
"""An outcome that says what the stored one says is written again only after this long.

Each write is a commit (a WAL frame and an fsync) on an SD card that wears out; the stored
outcome is for ``edge-agent status`` and need not survive a power cut, so a beat that
changes only its time, latency and next beat waits (the MQTT outcome is sent every beat)."""


class Service(Protocol):
    """A long-running part of the agent: runs until ``stop`` is set, then shuts down."""

    async def run(self, stop: asyncio.Event) -> None: ...

    async def shutdown(self) -> None: ...


class SnapshotSource(Protocol):
    """Where snapshots come from (``edge_agent.collectors.MetricsCollector``); may block."""

    def collect(self) -> Snapshot: ...


class Agent:
    """The running agent. Build it with :meth:`from_config` inside the event loop."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store,
        collector: SnapshotSource,
        clock: Clock,
        random: Callable[[], float] = _random.random,
        notifier: Optional[SystemdNotifier] = None,
    ) -> None:
        self.config = config
        self.store = store
        self.collector = collector
        self.clock = clock
        self.started = clock.now()
        self.notifier = notifier or SystemdNotifier()
        self.mirror: Optional[MqttMirror] = None
        self.broker: Optional[EmbeddedBroker] = None
        if config.mqtt is not None:
            self.mirror = MqttMirror(
                config.mqtt,
                device=config.device,
                store=store,
                clock=clock,
                version=__version__,
                started=self.started,
                random=random,
            )
            if config.mqtt.embedded_broker:
                self.broker = EmbeddedBroker(host=config.mqtt.host, port=config.mqtt.port)
        self._services: list[Service] = []
        self._outcomes_written: dict[str, tuple[dict[str, Any], float]] = {}
        self._outcomes_unwritten: dict[str, dict[str, Any]] = {}
        self._latest: Optional[Snapshot] = None
        self._first_snapshot: Optional[asyncio.Event] = None

    @classmethod
    def from_config(cls, config: Config, *, clock: Optional[Clock] = None) -> Agent:
        """The agent ``edge-agent run`` starts: real collectors, the store at ``[storage] path``."""
        from edge_agent.collectors import MetricsCollector

        clock = clock or SystemClock()
        store = Store(config.storage.path, outbox_max=config.storage.outbox_max)
        return cls(config, store=store, collector=MetricsCollector.from_config(config, clock), clock=clock)

    # -- how other parts plug in ----------------------------------------------------------

    def add_service(self, service: Service) -> None:
        """Run ``service`` with the agent (e.g. the heartbeat engine); call before :meth:`run`."""
        self._services.append(service)

    def set_command_handler(self, handler: Optional[CommandHandler]) -> None:
        """Who runs valid commands from ``<prefix>/<id>/cmd`` (the actions runner)."""
        if self.mirror is not None:
            self.mirror.set_command_handler(handler)

    def publish_event(self, event: Event) -> None:
        """Owe ``event`` to ``<prefix>/<id>/events``; durable when this returns (loop thread only)."""
        if self.mirror is not None:
            self.mirror.publish_event(event)
        else:
            log.info("event %s %s (no [mqtt]: not sent)", event.type, event.to_json())

    def emit(self, event_type: str, data: dict[str, Any]) -> Event:
        """Make an event now and owe it; returns it."""
        event = Event.new(event_type, data, self.clock)
        self.publish_event(event)
        return event

    def set_heartbeat_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        """The last outcome of heartbeat endpoint ``name``, mirrored to its topic and the state.

        Also kept in the store, where ``edge-agent status`` reads it without a broker: at
        once when it says something new, else at most every :data:`OUTCOME_REFRESH_S` and
        when the agent stops (see :data:`OUTCOME_REFRESH_S` for why).
        """
        stable = {key: value for key, value in outcome.items() if key not in OUTCOME_VOLATILE}
        written = self._outcomes_written.get(name)
        now = self.clock.monotonic()
        if written is None or written[0] != stable or now - written[1] >= OUTCOME_REFRESH_S:
            self.store.set_state(STATUS_NAMESPACE, f"heartbeat:{name}", outcome)
            self._outcomes_written[name] = (stable, now)
            self._outcomes_unwritten.pop(name, None)
        else:
            self._outcomes_unwritten[name] = outcome
        if self.mirror is not None:
            self.mirror.set_heartbeat_outcome(name, outcome)

    def publish_owed(self, topic: str, payload: bytes) -> None:
        """Owe ``payload`` on ``topic`` through the durable outbox (QoS 1, not retained)."""
        if self.mirror is not None:
            self.mirror.publish_owed(topic, payload)

    def set_retained(self, topic: str, payload: bytes) -> None:
        """Mirror ``payload`` as the retained value of ``topic`` (only the latest is kept)."""
        if self.mirror is not None:
            self.mirror.set_retained(topic, payload)

    @property
    def topics(self) -> Topics:
        prefix = self.config.mqtt.topic_prefix if self.config.mqtt is not None else "edge"
        return Topics(prefix, self.config.device.id)

    async def wait_for_first_snapshot(self, timeout: float) -> Optional[Snapshot]:
        """The first snapshot of this run, waiting up to ``timeout`` seconds for it (call in :meth:`run`)."""
        if self._latest is None and self._first_snapshot is not None:
            try:
                await asyncio.wait_for(self._first_snapshot.wait(), timeout)
            except asyncio.TimeoutError:
                log.warning("no snapshot after %.0f s; going on without one", timeout)
        return self._latest

    def respond(self, command: Command, body: dict[str, Any]) -> None:
        """Answer ``command`` on its MQTT 5 response topic, if it gave one."""
        if self.mirror is not None:
            self.mirror.respond(command, body)

    @property
    def latest_snapshot(self) -> Optional[Snapshot]:
        return self._latest

    # -- running --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; a service that crashes first stops the agent and re-raises."""
        self._first_snapshot = asyncio.Event()
        self.store.update_state(
            STATUS_NAMESPACE,
            {
                "version": __version__,
                "started": format_utc(self.started),
                "pid": os.getpid(),
                "stopped": None,
            },
        )
        try:
            if self.broker is not None:
                await self.broker.start()
            services: list[Service] = [*self._services]
            tasks = [asyncio.ensure_future(service.run(stop)) for service in services]
            if self.mirror is not None:
                tasks.append(asyncio.ensure_future(self.mirror.run(stop)))
            tasks.append(asyncio.ensure_future(self._take_snapshots(stop)))
            tasks.append(asyncio.ensure_future(self._keep_watchdog(stop)))
            self.emit("agent.started", {"version": __version__})
            self.notifier.ready(f"edge-agent {__version__} running")
            try:
                await self._until_stop_or_crash(stop, tasks)
            finally:
                self.notifier.stopping()
                stop.set()
                await self._stop(services, tasks)
        finally:
            if self.broker is not None:
                await self.broker.stop()
            last = {f"heartbeat:{name}": outcome for name, outcome in self._outcomes_unwritten.items()}
            self._outcomes_unwritten.clear()
            self.store.update_state(STATUS_NAMESPACE, {**last, "stopped": format_utc(self.clock.now())})
            self.store.close()

    async def _until_stop_or_crash(self, stop: asyncio.Event, tasks: list[asyncio.Future[None]]) -> None:
        """Wait for ``stop``; a task that fails before it is an error of the whole agent."""
        stopping = asyncio.ensure_future(stop.wait())
        pending: set[asyncio.Future[Any]] = {stopping, *tasks}
        try:
            while not stopping.done():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stopping and not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
        finally:
            stopping.cancel()

    async def _stop(self, services: list[Service], tasks: list[asyncio.Future[None]]) -> None:
        _, late = await asyncio.wait(tasks, timeout=SERVICE_STOP_TIMEOUT)
        for task in late:
            task.cancel()
        for service in reversed(services):
            try:
                await asyncio.wait_for(service.shutdown(), SERVICE_STOP_TIMEOUT)
            except (EdgeAgentError, asyncio.TimeoutError) as exc:
                log.warning("service %s did not shut down cleanly: %s", type(service).__name__, exc)
        if self.mirror is not None:
            await self.mirror.shutdown()

    async def _take_snapshots(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.metrics.interval
        due = self.clock.monotonic()
        while not stop.is_set():
            try:
                snapshot = await loop.run_in_executor(None, self.collector.collect)
            except EdgeAgentError as exc:
                log.warning("no snapshot this cycle: %s", exc)
            else:
                self._latest = snapshot
                if self._first_snapshot is not None:
                    self._first_snapshot.set()
                if self.mirror is not None:
                    self.mirror.set_snapshot(snapshot)
            due += interval
            now = self.clock.monotonic()
            if due < now:  # a slow cycle: skip the missed ticks rather than burst
                due = now
            await _sleep_unless(stop, due - now)

    async def _keep_watchdog(self, stop: asyncio.Event) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        while not stop.is_set():
            self.notifier.watchdog()
            await _sleep_unless(stop, interval)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))
    except asyncio.TimeoutError:
        return

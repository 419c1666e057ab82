"""The agent: one asyncio loop that ties the collectors, the publisher and the services together.

Every ``[metrics] interval`` seconds it takes a snapshot (on a thread of its own, never
on the loop: collectors may block on /proc, helper programs and probes) and hands it to
its publisher (the MQTT mirror, or a null one without ``[mqtt]``). Other parts plug in
as *services*, anything with ``async run(stop)`` and ``async shutdown()`` (the vendor
heartbeat engine is one), and talk back through :meth:`Agent.publish_event` and
:meth:`Agent.set_heartbeat_outcome`.
*Facilities* (the embedded broker) are started before anything runs and stopped after
everything stopped. The agent builds none of these: ``edge_agent.assembly`` does, from the
config, and hands them in. When ``stop`` is set (SIGTERM, SIGINT) the services stop, the
publisher says ``offline`` and disconnects, the facilities stop and the store is closed,
within a few seconds.

Failures are survived, not fatal: a snapshot that raises anything is one lost cycle (a
``loop.error`` event); a store that cannot be written (a full disk) turns the agent
*degraded* (live publishing goes on, a ``store.degraded`` event is sent live, a
``store.recovered`` one when writes work again); a store moved aside at start-up is told
with a ``store.reset`` event, owed through the fresh store. Every loop beats
:attr:`Agent.liveness`; the systemd watchdog is fed only while none of them is overdue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional, Protocol

from edge_agent import __version__
from edge_agent.errors import EdgeAgentError, StoreError
from edge_agent.loops import FailureStreak, Liveness, Ticker, report, stopped_within
from edge_agent.model import Clock, Event, Snapshot, format_utc
from edge_agent.mqtt.publisher import Publisher
from edge_agent.mqtt.topics import Topics
from edge_agent.sdnotify import SystemdNotifier
from edge_agent.store import RESET_KEY, Store

if TYPE_CHECKING:
    from edge_agent.config import Config

log = logging.getLogger(__name__)

SERVICE_STOP_TIMEOUT = 5.0
STATUS_NAMESPACE = "agent"
"""Store namespace of what ``edge-agent status`` reads: start, pid, stop, heartbeat outcomes."""
SNAPSHOT_LOOP = "snapshot"
STORE_PROBE_EVERY = 5.0
"""While the store is degraded, how often a small write checks whether it works again."""
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


class Facility(Protocol):
    """A part the publisher and the services stand on (the embedded broker they connect to):
    started before any of them runs, stopped only after all of them have stopped."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SnapshotSource(Protocol):
    """Where snapshots come from (``edge_agent.collectors.MetricsCollector``); may block."""

    def collect(self) -> Snapshot: ...


class Agent:
    """The running agent, built by ``edge_agent.assembly.build_agent`` inside the event loop.

    ``liveness`` and ``started`` are given when the publisher, built before the agent,
    shares them (its loops beat the same liveness; the state it mirrors says when this run
    started); left out, the agent makes its own.
    """

    def __init__(
        self,
        config: Config,
        *,
        store: Store,
        collector: SnapshotSource,
        clock: Clock,
        publisher: Publisher,
        facilities: Sequence[Facility] = (),
        notifier: Optional[SystemdNotifier] = None,
        liveness: Optional[Liveness] = None,
        started: Optional[datetime] = None,
    ) -> None:
        self.config = config
        self.store = store
        self.collector = collector
        self.clock = clock
        self.publisher = publisher
        self.facilities = list(facilities)
        self.started = clock.now() if started is None else started
        self.notifier = notifier or SystemdNotifier()
        if liveness is None:
            liveness = Liveness(clock.monotonic, slack=self.notifier.watchdog_seconds or 0.0)
        self.liveness = liveness
        self._services: list[Service] = []
        self._outcomes_written: dict[str, tuple[dict[str, Any], float]] = {}
        self._outcomes_unwritten: dict[str, dict[str, Any]] = {}
        self._latest: Optional[Snapshot] = None
        self._first_snapshot: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._store_degraded: Optional[asyncio.Event] = None
        store.set_health_listener(self._on_store_health)

    # -- how other parts plug in ----------------------------------------------------------

    def add_service(self, service: Service) -> None:
        """Run ``service`` with the agent (e.g. the heartbeat engine); call before :meth:`run`."""
        self._services.append(service)

    def publish_event(self, event: Event) -> None:
        """Owe ``event`` to ``<prefix>/<id>/events``; durable when this returns (loop thread only)."""
        self.publisher.publish_event(event)

    def emit(self, event_type: str, data: dict[str, Any]) -> Event:
        """Make an event now and owe it; returns it."""
        event = Event.new(event_type, data, self.clock)
        self.publish_event(event)
        return event

    def set_heartbeat_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        """The last outcome of heartbeat endpoint ``name``, mirrored to its topic and the state.

        Also kept in the store, where ``edge-agent status`` reads it without a broker: at
        once when it says something new, else at most every :data:`OUTCOME_REFRESH_S` and
        when the agent stops (see :data:`OUTCOME_REFRESH_S` for why); not while the store
        cannot be written (the live mirror still gets it).
        """
        self.publisher.set_heartbeat_outcome(name, outcome)
        self._keep_outcome(name, outcome)

    def _keep_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        """Commit ``outcome`` for ``status`` only when it says something new (or is old)."""
        stable = {key: value for key, value in outcome.items() if key not in OUTCOME_VOLATILE}
        written = self._outcomes_written.get(name)
        now = self.clock.monotonic()
        if written is not None and written[0] == stable and now - written[1] < OUTCOME_REFRESH_S:
            self._outcomes_unwritten[name] = outcome
            return
        try:
            self.store.state.set(STATUS_NAMESPACE, f"heartbeat:{name}", outcome)
        except StoreError as exc:
            log.debug("heartbeat %s outcome not kept for status: %s", name, exc)
            self._outcomes_unwritten[name] = outcome
            return
        self._outcomes_written[name] = (stable, now)
        self._outcomes_unwritten.pop(name, None)

    def report_loop_error(self, loop: str, error: BaseException, failures: int, retry_in_s: float) -> None:
        """A loop failed and goes on: a ``loop.error`` event (only at the first failure of a streak)."""
        if failures != 1:
            return
        data = {
            "loop": loop,
            "kind": type(error).__name__,
            "error": str(error)[:500],
            "retry_in_s": round(retry_in_s, 3),
        }
        self.emit("loop.error", data)

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

    @property
    def latest_snapshot(self) -> Optional[Snapshot]:
        return self._latest

    # -- running --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; a service that crashes first stops the agent and re-raises."""
        self._first_snapshot = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._store_degraded = asyncio.Event()
        if self.store.health is not None:
            self._store_degraded.set()
        try:
            self.store.state.update(
                STATUS_NAMESPACE,
                {
                    "version": __version__,
                    "started": format_utc(self.started),
                    "pid": os.getpid(),
                    "stopped": None,
                },
            )
        except StoreError as exc:  # a full disk: run on, degraded
            log.warning("the start of this run is not recorded for status: %s", exc)
        standing: list[Facility] = []
        try:
            for facility in self.facilities:
                await facility.start()
                standing.append(facility)
            services: list[Service] = [*self._services]
            tasks = [asyncio.ensure_future(service.run(stop)) for service in services]
            tasks.append(asyncio.ensure_future(self.publisher.run(stop)))
            tasks.append(asyncio.ensure_future(self._take_snapshots(stop)))
            tasks.append(asyncio.ensure_future(self._keep_watchdog(stop)))
            tasks.append(asyncio.ensure_future(self._watch_store(stop)))
            self.emit("agent.started", {"version": __version__})
            self._tell_store_reset()
            self.notifier.ready(f"edge-agent {__version__} running")
            try:
                await self._until_stop_or_crash(stop, tasks)
            finally:
                self.notifier.stopping()
                stop.set()
                await self._stop(services, tasks)
        finally:
            for facility in reversed(standing):
                await facility.stop()
            last = {f"heartbeat:{name}": outcome for name, outcome in self._outcomes_unwritten.items()}
            try:
                self.store.state.update(STATUS_NAMESPACE, {**last, "stopped": format_utc(self.clock.now())})
            except StoreError as exc:
                log.warning("the stop of this run is not recorded for status: %s", exc)
            else:
                self._outcomes_unwritten.clear()
            self.store.close()

    # -- the store's health -----------------------------------------------------------------

    def _tell_store_reset(self) -> None:
        """A store moved aside (now, or at a start that could not tell): one ``store.reset`` event."""
        try:
            reset = self.store.state.get(STATUS_NAMESPACE, RESET_KEY)
            if not isinstance(reset, dict) or reset.get("reported"):
                return
            data = {key: reset.get(key) for key in ("time", "reason", "file")}
            data["store"] = str(self.store.path)
            with self.store.atomic():  # owed and marked told together: exactly one event
                self.emit("store.reset", data)
                self.store.state.set(STATUS_NAMESPACE, RESET_KEY, {**reset, "reported": True})
        except StoreError as exc:
            log.warning("the store reset is not told yet (%s); it will be at the next start", exc)

    def _on_store_health(self, change: str, info: dict[str, Any]) -> None:
        """The store's listener (any thread): hop to the loop, then tell MQTT."""
        if self._loop is None or self._loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._tell_store_health, change, info)

    def _tell_store_health(self, change: str, info: dict[str, Any]) -> None:
        event = Event.new(f"store.{change}", dict(info), self.clock)
        if change == "degraded":
            if self._store_degraded is not None:
                self._store_degraded.set()
            # live: the outbox is what cannot be written
            self.publisher.publish_live(self.topics.events, json.dumps(event.to_json()).encode("utf-8"))
            return
        if self._store_degraded is not None:
            self._store_degraded.clear()
        self.publish_event(event)

    async def _watch_store(self, stop: asyncio.Event) -> None:
        """While the store is degraded, probe it with a small write now and then: it recovers unasked."""
        assert self._store_degraded is not None
        while not stop.is_set():
            await _wait_either(stop, self._store_degraded)
            while not stop.is_set() and self.store.health is not None:
                self.liveness.beat("store-probe", STORE_PROBE_EVERY * 2)
                with contextlib.suppress(StoreError):  # still failing: the store counted it
                    self.store.state.set(STATUS_NAMESPACE, "store_probe", format_utc(self.clock.now()))
                await stopped_within(stop, STORE_PROBE_EVERY)
            self.liveness.retire("store-probe")
            if self.store.health is None:
                self._store_degraded.clear()

    async def _until_stop_or_crash(self, stop: asyncio.Event, tasks: Sequence[asyncio.Future[None]]) -> None:
        """Wait for ``stop``; a task that fails before it is an error of the whole agent."""
        stopping = asyncio.ensure_future(stop.wait())
        pending: set[asyncio.Future[Any]] = {stopping, *tasks}
        try:
            while not stopping.done():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = None if task is stopping or task.cancelled() else task.exception()
                    if error is not None:
                        raise error
        finally:
            stopping.cancel()

    async def _stop(self, services: list[Service], tasks: Sequence[asyncio.Future[None]]) -> None:
        _, late = await asyncio.wait(tasks, timeout=SERVICE_STOP_TIMEOUT)
        for task in late:
            task.cancel()
        for service in reversed(services):
            try:
                await asyncio.wait_for(service.shutdown(), SERVICE_STOP_TIMEOUT)
            except (EdgeAgentError, asyncio.TimeoutError) as exc:
                log.warning("service %s did not shut down cleanly: %s", type(service).__name__, exc)
        await self.publisher.shutdown()

    async def _take_snapshots(self, stop: asyncio.Event) -> None:
        """The snapshot loop: anything a collector raises costs one cycle, never the loop.

        The collection runs on a thread of its own (:class:`~edge_agent.loops.Ticker`),
        never on the event loop: a wedged read stalls that thread only, and this loop's
        liveness, beaten at each snapshot, shows it. Each outcome is handled here, on the
        loop, in order: mirrored, or counted as a failure with its backoff.
        """
        interval = self.config.metrics.interval
        budget = self._snapshot_budget()
        streak = FailureStreak(SNAPSHOT_LOOP, initial=interval, cap=max(interval, 60.0))
        ticker: Ticker[Snapshot] = Ticker(
            self.collector.collect, interval, monotonic=self.clock.monotonic, name="snapshot"
        )

        ended_here = asyncio.Event()  # this loop has returned: nobody is left to mirror a late outcome

        def took(snapshot: Optional[Snapshot], error: Optional[Exception], due: float) -> None:
            if ended_here.is_set():
                return
            pause = 0.0
            try:
                if error is not None:
                    raise error
                assert snapshot is not None
                self._latest = snapshot
                if self._first_snapshot is not None:
                    self._first_snapshot.set()
                self.publisher.set_snapshot(snapshot)
                streak.succeeded()
            except EdgeAgentError as exc:
                log.warning("no snapshot this cycle: %s", exc)
            except Exception as exc:
                pause = streak.failed(exc)  # a collector's bug costs one cycle
                report(self.report_loop_error, SNAPSHOT_LOOP, exc, streak.failures, pause)
            if pause > interval:
                ticker.postpone(due + pause)
            self.liveness.beat(SNAPSHOT_LOOP, ticker.due - self.clock.monotonic() + budget)

        self.liveness.beat(SNAPSHOT_LOOP, budget)
        ended = ticker.start(asyncio.get_running_loop(), took)
        try:
            await stop.wait()
            ticker.stop()
            await ended  # a collection under way finishes and is mirrored (the agent's stop bounds the wait)
        finally:
            ticker.stop()
            ended_here.set()

    def _snapshot_budget(self) -> float:
        """How long one collection may take before the loop counts as hung (probes, helpers time out)."""
        metrics = self.config.metrics
        probes = metrics.rtt_timeout * metrics.rtt_probes * len(metrics.rtt_targets)
        return 10.0 + 2 * metrics.command_timeout + probes

    async def _keep_watchdog(self, stop: asyncio.Event) -> None:
        """Feed systemd's watchdog only while every loop beat in time: a dead or hung one restarts us."""
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        starved: set[str] = set()
        while not stop.is_set():
            overdue = self.liveness.overdue()
            if set(overdue) - starved:
                late = ", ".join(f"{name} ({late:.0f} s late)" for name, late in sorted(overdue.items()))
                log.error("loop(s) not alive: %s; the systemd watchdog is no longer fed", late)
                self.notifier.status(f"loop(s) not alive: {', '.join(sorted(overdue))}")
            elif starved and not overdue:
                log.warning("every loop is alive again; feeding the systemd watchdog")
            starved = set(overdue)
            if not overdue:
                self.notifier.watchdog()
            await stopped_within(stop, interval)


async def _wait_either(stop: asyncio.Event, other: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

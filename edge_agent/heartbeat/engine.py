"""The heartbeat engine: every enabled ``[heartbeats.<name>]`` endpoint on its own schedule.

Each endpoint is one asyncio task with its own HTTP client, interval and retry state,
so a vendor that hangs only ever delays itself: the others, the metrics and the MQTT
mirror keep their pace. After every beat the endpoint decides when to go again:

* success: the configured interval, or the one the vendor's reply asked for;
* network error, timeout, 5xx, unusable reply: exponential backoff with jitter from
  ``backoff_initial`` up to ``backoff_max``;
* "you are not allowed" (Telecom X 403, Xyte 401/403 after re-registering failed):
  ``forbidden_backoff``, a ``heartbeat.forbidden`` event and one clear log line;
* the request itself refused (400, a bad URL): the endpoint stops until the config
  changes, since sending the same again cannot help.

Every beat's outcome goes to ``on_outcome`` (the agent mirrors it, retained, on
``<prefix>/<id>/heartbeat/<name>``); failures also become ``heartbeat.error`` events.

No exception ends an endpoint's loop (only a stop, or a request the vendor rejects): a
store that cannot be written, a reply that blows the stack, a bug in an adapter, or a
failure to report the outcome itself are each one failed beat, retried with backoff,
mirrored ``ok: false`` and logged once per streak. Each loop beats the agent's
:class:`~edge_agent.loops.Liveness` before every beat and every pause, so the systemd
watchdog stops being fed if one hangs.

Time, randomness and sleeping are passed in, so tests run the schedule without waiting.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from edge_agent.actions.intake import ActionIntake
from edge_agent.errors import (
    ConfigError,
    StoreError,
    VendorAuthError,
    VendorError,
    VendorRejectedError,
)
from edge_agent.heartbeat.context import StoreContext
from edge_agent.heartbeat.transport import HttpTransport
from edge_agent.loops import FailureStreak, Liveness, capped_exponential
from edge_agent.model import Clock, Event, Snapshot, format_utc
from edge_agent.store import Store
from edge_agent.vendors import adapter_class
from edge_agent.vendors.types import Reply, VendorAdapter

if TYPE_CHECKING:
    from edge_agent.config import Config, HeartbeatBase

log = logging.getLogger(__name__)

FINAL_TIMEOUT_S = 3.0  # the goodbye beat must not hold up a shutdown
Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class BeatResult:
    """One beat: the reply when it worked, the error when it did not, and how long it took."""

    endpoint: str
    vendor: str
    reply: Optional[Reply]
    error: Optional[Exception]
    latency_ms: float
    time: str

    @property
    def ok(self) -> bool:
        return self.error is None

    def outcome(self, next_in_s: Optional[float]) -> dict[str, Any]:
        """The JSON mirrored on ``<prefix>/<id>/heartbeat/<name>``."""
        status = self.reply.status if self.reply is not None else getattr(self.error, "status", None)
        return {
            "endpoint": self.endpoint,
            "vendor": self.vendor,
            "ok": self.ok,
            "status": status,
            "latency_ms": round(self.latency_ms, 1),
            "time": self.time,
            "error": str(self.error) if self.error is not None else None,
            "actions": len(self.reply.actions) if self.reply is not None else 0,
            "next_in_s": round(next_in_s, 3) if next_in_s is not None else None,
        }


class Endpoint:
    """One configured endpoint: its adapter, its HTTP client, and one beat at a time."""

    def __init__(self, name: str, config: HeartbeatBase, adapter: VendorAdapter, clock: Clock) -> None:
        self.name = name
        self.config = config
        self.vendor = adapter.vendor
        self.adapter = adapter
        self.transport = HttpTransport(config)
        self._clock = clock

    async def beat(self, snapshot: Optional[Snapshot], *, final: bool = False) -> BeatResult:
        """Send one heartbeat; every failure the vendor or the network can cause is in the result."""
        send = self.transport.send
        if final:
            send = functools.partial(self.transport.send, timeout=min(self.config.timeout, FINAL_TIMEOUT_S))
        started = self._clock.monotonic()
        when = format_utc(self._clock.now())
        reply: Optional[Reply] = None
        error: Optional[Exception] = None
        try:
            reply = await self.adapter.beat(snapshot, send, final=final)
        except (VendorError, StoreError) as exc:
            error = exc
        except Exception as exc:
            error = exc
        latency = (self._clock.monotonic() - started) * 1000.0
        return BeatResult(self.name, self.vendor, reply, error, latency, when)


def beat_budget(config: HeartbeatBase) -> float:
    """How long one beat may take at most (a few requests, each with its timeout) before it counts as hung."""
    return 4 * (config.timeout + float(getattr(config, "response_timeout", 0.0))) + 30.0


def backoff_delay(config: HeartbeatBase, failures: int, rng: random.Random) -> float:
    """Exponential backoff with jitter: between half and all of initial * 2^(failures-1), capped."""
    ceiling = capped_exponential(config.backoff_initial, config.backoff_max, failures)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class HeartbeatEngine:
    """Runs every enabled endpoint; the agent calls :meth:`run`, then :meth:`shutdown`."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        snapshot: Callable[[], Optional[Snapshot]],
        on_outcome: Callable[[str, dict[str, Any]], None],
        on_event: Callable[[Event], None],
        rng: Optional[random.Random] = None,
        *,
        sleep: Optional[Sleep] = None,
        liveness: Optional[Liveness] = None,
        intake: Optional[ActionIntake] = None,
    ) -> None:
        """``intake``: the action runner's (it wakes the runner); without it each endpoint has its own."""
        self._clock = clock
        self._liveness = liveness
        self._snapshot = snapshot
        self._on_outcome = on_outcome
        self._on_event = on_event
        self._rng = rng if rng is not None else random.Random()
        self._sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self.endpoints: dict[str, Endpoint] = {}
        self.skipped: dict[str, str] = {}
        self._failing: dict[str, str] = {}  # endpoint -> why its last beat failed
        for name, endpoint_config in config.heartbeats.items():
            if not endpoint_config.enabled:
                continue
            try:
                cls = adapter_class(endpoint_config.vendor)
            except ConfigError as exc:
                self.skipped[name] = str(exc)
                log.warning("heartbeat %s is not started: %s", name, exc)
                continue
            context = StoreContext(
                store,
                name,
                clock,
                on_event,
                device_id=config.device.id,
                actions=config.actions,
                host_root=config.metrics.host_root,
                intake=intake,
                failing_peers=functools.partial(self._failing_except, name),
            )
            self.endpoints[name] = Endpoint(name, endpoint_config, cls(name, endpoint_config, context), clock)

    async def run(self, stop: asyncio.Event) -> None:
        """Beat every endpoint on its own schedule until ``stop`` is set."""
        tasks = [
            asyncio.ensure_future(self._keep_beating(endpoint, stop)) for endpoint in self.endpoints.values()
        ]
        for task in tasks:
            task.add_done_callback(_report_crash)
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def beat_once(self, name: str) -> BeatResult:
        """One beat of endpoint ``name`` now, outside the schedule (``edge-agent heartbeat``)."""
        endpoint = self.endpoints[name]
        result = await endpoint.beat(self._snapshot())
        self._publish(endpoint, result, None)
        return result

    async def shutdown(self) -> None:
        """The goodbye beats (Telecom X ``turnedOff``, Xyte ``offline``): short timeout, no retry."""
        finals = [endpoint for endpoint in self.endpoints.values() if endpoint.adapter.sends_final]
        snapshot = self._snapshot() if finals else None
        results = await asyncio.gather(*(endpoint.beat(snapshot, final=True) for endpoint in finals))
        for endpoint, result in zip(finals, results):
            if not result.ok:
                log.warning("heartbeat %s: the final beat failed: %s", endpoint.name, result.error)
            self._on_outcome(endpoint.name, result.outcome(None))
        await self.aclose()

    async def aclose(self) -> None:
        """Close every endpoint's connections."""
        for endpoint in self.endpoints.values():
            await endpoint.transport.aclose()

    async def _keep_beating(self, endpoint: Endpoint, stop: asyncio.Event) -> None:
        failures = 0
        forbidden_streak = False
        streak = FailureStreak(f"heartbeat {endpoint.name}")
        marker = f"heartbeat:{endpoint.name}"
        while not stop.is_set():
            self._beat_liveness(marker, beat_budget(endpoint.config))
            delay: Optional[float]
            try:
                result = await endpoint.beat(self._snapshot())
                error = result.error
                if error is None:
                    failures, forbidden_streak = 0, False
                    streak.succeeded()
                    assert result.reply is not None
                    delay = result.reply.next_interval or endpoint.config.interval
                elif isinstance(error, VendorRejectedError):
                    delay = None
                elif isinstance(error, VendorAuthError):
                    failures += 1
                    delay = endpoint.config.forbidden_backoff
                    if not forbidden_streak:
                        log.error(
                            "heartbeat %s: %s refused us (%s); next try in %d s. Check the credentials "
                            "and that the device is enabled on the vendor's side.",
                            endpoint.name,
                            endpoint.vendor,
                            error,
                            delay,
                        )
                    forbidden_streak = True
                else:
                    failures += 1
                    delay = backoff_delay(endpoint.config, failures, self._rng)
                    if isinstance(error, VendorError):
                        level = logging.WARNING if failures == 1 else logging.INFO
                        log.log(
                            level, "heartbeat %s failed (%s); retry in %.1f s", endpoint.name, error, delay
                        )
                    else:  # not the vendor: the store, a bug, a reply that blew the stack
                        streak.failed(error)
                self._publish(endpoint, result, delay)
            except Exception as exc:
                failures += 1
                delay = backoff_delay(endpoint.config, failures, self._rng)
                streak.failed(exc)
                self._publish_failure(endpoint, exc, delay)
            if delay is None:
                log.error(
                    "heartbeat %s: %s refused the request (%s); stopped until the config changes",
                    endpoint.name,
                    endpoint.vendor,
                    error,
                )
                if self._liveness is not None:
                    self._liveness.retire(marker)
                return
            self._beat_liveness(marker, delay + beat_budget(endpoint.config))
            await self._pause(delay, stop)

    def _beat_liveness(self, marker: str, within: float) -> None:
        if self._liveness is not None:
            self._liveness.beat(marker, within)

    def _publish_failure(self, endpoint: Endpoint, exc: Exception, delay: float) -> None:
        """A failure outside the beat (reporting its outcome failed): say so, if saying so works."""
        result = BeatResult(endpoint.name, endpoint.vendor, None, exc, 0.0, format_utc(self._clock.now()))
        try:
            self._publish(endpoint, result, delay)
        except Exception as again:
            log.debug("heartbeat %s: cannot report the failure either: %r", endpoint.name, again)

    def _failing_except(self, name: str) -> dict[str, str]:
        """The endpoints other than ``name`` whose last beat failed (a vendor that reports the
        device's health, as Xyte does, says the device is degraded while one is failing)."""
        return {other: why for other, why in self._failing.items() if other != name}

    def _publish(self, endpoint: Endpoint, result: BeatResult, delay: Optional[float]) -> None:
        if result.error is None:
            self._failing.pop(endpoint.name, None)
        else:
            self._failing[endpoint.name] = str(result.error)[:200]
        outcome = result.outcome(delay)
        try:
            self._on_outcome(endpoint.name, outcome)
        except Exception:
            if result.error is None:
                raise
            log.debug("heartbeat %s: outcome not mirrored", endpoint.name, exc_info=True)
        if result.error is None:
            return
        data = {
            "endpoint": endpoint.name,
            "vendor": endpoint.vendor,
            "status": outcome["status"],
            "error": outcome["error"],
            "kind": type(result.error).__name__,
            "retry_in_s": outcome["next_in_s"],
        }
        kind = "heartbeat.forbidden" if isinstance(result.error, VendorAuthError) else "heartbeat.error"
        self._on_event(Event.new(kind, data, self._clock))

    async def _pause(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep ``seconds`` (through the injected sleep), or less if ``stop`` is set meanwhile."""
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()


def _report_crash(task: asyncio.Future[None]) -> None:
    """A bug in one endpoint's loop is logged loudly at once, and costs only that endpoint."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("heartbeat loop crashed: %r", exc, exc_info=exc)

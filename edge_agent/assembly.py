"""Building the whole agent from a config: the store, the publisher, the embedded broker, the
loop, the vendor heartbeats, the action runner and the vendors' side services, wired to each other.

The parts do not know each other; this module is the one place that builds and connects them:

* the agent gets its store, its collectors and its publisher: the MQTT mirror when
  ``[mqtt]`` is set, else a :class:`~edge_agent.mqtt.publisher.NullPublisher` (then the
  mirror, its bridge and paho are never imported); with ``embedded_broker = true`` also the
  embedded broker, as a facility the agent starts before the mirror and stops after it
  (amqtt is imported only when it starts);
* the heartbeat engine reads the agent's latest snapshot and reports outcomes and events
  to the agent (which mirrors them to MQTT and keeps them for ``edge-agent status``);
* every action, a vendor reply's or an operator's command from ``<prefix>/<id>/cmd``,
  enters through the runner's one intake (which journals it and wakes the runner); the
  raw command and its MQTT 5 response topic go there as they arrived;
* a vendor's side services (its registry hooks: the PBX report listener, the retained
  AI-box strategy) get a :class:`EndpointHookContext` and see their endpoint's events;
* every loop beats the agent's liveness (the systemd watchdog's judge), and the services
  whose loops live elsewhere (the action runner, each vendor side service) run supervised:
  a failure is a ``loop.error`` event and a restart after a capped backoff, never the end.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional

from edge_agent import __version__
from edge_agent.actions import ActionRunner
from edge_agent.agent import Agent, Facility, Service
from edge_agent.loops import ErrorReport, Liveness, Supervised
from edge_agent.model import Clock, Event, SystemClock
from edge_agent.mqtt.publisher import NullPublisher, Publisher
from edge_agent.sdnotify import SystemdNotifier
from edge_agent.store import Store
from edge_agent.vendors.registry import VENDORS

if TYPE_CHECKING:
    from edge_agent.config import Config

log = logging.getLogger(__name__)


def build_agent(config: Config, *, clock: Optional[Clock] = None) -> Agent:
    """The agent ``edge-agent run`` runs: everything the config names, connected."""
    from edge_agent import startup_cpu
    from edge_agent.collectors import MetricsCollector

    clock = clock or SystemClock()
    storage = config.storage
    store = Store(storage.path, outbox_max=storage.outbox_max, open_wait=storage.open_wait)
    notifier = SystemdNotifier()
    liveness = Liveness(clock.monotonic, slack=notifier.watchdog_seconds or 0.0)  # shared with the mirror
    started = clock.now()
    agent: Optional[Agent] = None

    def report_loop_error(loop: str, error: BaseException, failures: int, retry_in_s: float) -> None:
        """The mirror's loops fail like the agent's: a ``loop.error`` event (it is built before the agent)."""
        if agent is not None:
            agent.report_loop_error(loop, error, failures, retry_in_s)

    publisher = _publisher(config, store, clock, started, liveness, report_loop_error)
    agent = Agent(
        config,
        store=store,
        collector=MetricsCollector.from_config(config, clock, cpu_start=startup_cpu.consume()),
        clock=clock,
        publisher=publisher,
        facilities=_facilities(config),
        notifier=notifier,
        liveness=liveness,
        started=started,
    )
    runner = ActionRunner(
        config.actions,
        agent.store,
        agent.clock,
        agent.publish_event,
        device_id=config.device.id,
        platform=None if config.metrics.platform == "auto" else config.metrics.platform,
        token_for=_action_tokens(config).get,
        host_root=config.metrics.host_root,
    )
    agent.add_service(_supervised(agent, "action-runner", runner))

    publisher.set_command_handler(
        lambda payload, retained, reply: runner.intake.take_command(payload, retained=retained, reply=reply)
    )

    hooks = _hooks(agent, config)

    def on_vendor_event(event: Event) -> None:
        agent.publish_event(event)
        hooked = hooks.get(str(event.data.get("endpoint")))
        if hooked is not None:
            hooked[0].on_event(hooked[1], config.heartbeats[hooked[1].name], event)

    if not config.heartbeats:
        return agent  # no HTTP client, no vendor code loaded: nothing would beat

    def make_engine() -> Service:
        # imported only when made: an agent without heartbeats never loads the HTTP transport
        # (h11) and the vendors, and one with them sends its first state before loading them
        from edge_agent.heartbeat import HeartbeatEngine

        return HeartbeatEngine(
            config,
            agent.store,
            agent.clock,
            snapshot=lambda: agent.latest_snapshot,
            on_outcome=agent.set_heartbeat_outcome,
            on_event=on_vendor_event,
            liveness=agent.liveness,
            intake=runner.intake,  # a vendor's action enters where an operator's does, and wakes the runner
        )

    agent.add_service(AfterFirstSnapshot(agent, make_engine, config.metrics.interval))
    for name, (hook, context) in hooks.items():
        endpoint = config.heartbeats[name]
        hook.on_start(context, endpoint)
        for kind, service in hook.services(context, endpoint):
            agent.add_service(_supervised(agent, f"{kind}:{name}", service))
    return agent


def _publisher(
    config: Config,
    store: Store,
    clock: Clock,
    started: datetime,
    liveness: Liveness,
    on_loop_error: ErrorReport,
) -> Publisher:
    """The MQTT mirror for ``[mqtt]``; without it a null publisher (and paho is never imported)."""
    if config.mqtt is None:
        return NullPublisher()
    from edge_agent.mqtt.mirror import MqttMirror

    return MqttMirror(
        config.mqtt,
        device=config.device,
        store=store,
        clock=clock,
        version=__version__,
        started=started,
        liveness=liveness,
        on_loop_error=on_loop_error,
    )


def _facilities(config: Config) -> list[Facility]:
    """What must listen before the mirror connects: the embedded broker, when ``[mqtt]`` asks for it."""
    if config.mqtt is None or not config.mqtt.embedded_broker:
        return []
    from edge_agent.mqtt.broker import EmbeddedBroker

    return [EmbeddedBroker(host=config.mqtt.host, port=config.mqtt.port)]


def _hooks(agent: Agent, config: Config) -> dict[str, tuple[Any, EndpointHookContext]]:
    """endpoint name -> (its vendor's hooks, their context), for enabled endpoints that have hooks."""
    hooks = {}
    for name, endpoint in config.heartbeats.items():
        hook = VENDORS[endpoint.vendor].hooks_object() if endpoint.enabled else None
        if hook is not None:
            hooks[name] = (hook, EndpointHookContext(agent, name))
    return hooks


@dataclass
class EndpointHookContext:
    """What a vendor hook may use of the agent, for one endpoint (see ``vendors/hooks.py``)."""

    agent: Agent
    name: str

    @property
    def clock(self) -> Clock:
        return self.agent.clock

    def topic(self, *parts: str) -> str:
        return self.agent.topics.below(*parts)

    def publish_owed(self, topic: str, payload: bytes) -> None:
        self.agent.publisher.publish_owed(topic, payload)

    def set_retained(self, topic: str, payload: bytes) -> None:
        self.agent.publisher.set_retained(topic, payload)

    def emit(self, event_type: str, data: dict[str, Any]) -> Event:
        return self.agent.emit(event_type, data)

    def get_state(self, key: str) -> Any:
        from edge_agent.heartbeat.context import state_namespace  # only where a vendor has hooks

        return self.agent.store.state.get(state_namespace(self.name), key)


def _supervised(agent: Agent, name: str, service: Any) -> Supervised:
    return Supervised(name, service, liveness=agent.liveness, on_error=agent.report_loop_error)


class AfterFirstSnapshot:
    """Makes and runs a service once the first snapshot exists, so the first heartbeats carry metrics.

    The service is made (its code imported) only then, after the first state has been
    handed to the publisher: the HTTP transport and the vendors are about a fifth of a
    start's imports, and a restart's first retained state need not wait for them (issue 15).
    A stop before then still makes it for its ``shutdown`` (the goodbye beats), as before.
    """

    def __init__(self, agent: Agent, make: Callable[[], Service], wait_at_most: float) -> None:
        self._agent = agent
        self._make = make
        self._service: Optional[Service] = None
        self._wait = min(wait_at_most, 30.0)

    async def run(self, stop: asyncio.Event) -> None:
        await self._agent.wait_for_first_snapshot(self._wait)
        if stop.is_set():
            return
        await asyncio.sleep(0)  # the first state's write, queued with the snapshot, goes first
        await self.service().run(stop)

    async def shutdown(self) -> None:
        await self.service().shutdown()

    def service(self) -> Service:
        """The service, made now if it was not yet."""
        if self._service is None:
            self._service = self._make()
        return self._service


def _action_tokens(config: Config) -> dict[str, str]:
    """The session token of each endpoint that has one, for an action's ``includeToken``."""
    tokens = {f"heartbeat:{name}": endpoint.action_token() for name, endpoint in config.heartbeats.items()}
    return {source: token for source, token in tokens.items() if token is not None}

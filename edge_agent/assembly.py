"""Building the whole agent from a config: the loop, the vendor heartbeats, the action runner
and the PBX report listeners, wired to each other.

The parts do not know each other; this module is the one place that connects them:

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
from typing import TYPE_CHECKING, Any, Optional

from edge_agent.actions import ActionRunner
from edge_agent.agent import Agent
from edge_agent.loops import Supervised
from edge_agent.model import Clock, Event
from edge_agent.vendors.registry import VENDORS

if TYPE_CHECKING:
    from edge_agent.config import Config

log = logging.getLogger(__name__)


def build_agent(config: Config, *, clock: Optional[Clock] = None) -> Agent:
    """The agent ``edge-agent run`` runs: everything the config names, connected."""
    agent = Agent.from_config(config, clock=clock)
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

    agent.set_command_handler(
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
    # imported here, so that an agent without heartbeats never loads httpx and the vendors
    from edge_agent.heartbeat import HeartbeatEngine

    if not config.heartbeats:
        return agent  # no HTTP client, no vendor code loaded: nothing would beat
    # imported here, so that an agent without heartbeats never loads httpx and the vendors

    engine = HeartbeatEngine(
        config,
        agent.store,
        agent.clock,
        snapshot=lambda: agent.latest_snapshot,
        on_outcome=agent.set_heartbeat_outcome,
        on_event=on_vendor_event,
        liveness=agent.liveness,
        intake=runner.intake,  # a vendor's action enters where an operator's does, and wakes the runner
    )
    agent.add_service(AfterFirstSnapshot(agent, engine, config.metrics.interval))
    for name, (hook, context) in hooks.items():
        endpoint = config.heartbeats[name]
        hook.on_start(context, endpoint)
        for kind, service in hook.services(context, endpoint):
            agent.add_service(_supervised(agent, f"{kind}:{name}", service))
    return agent


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
        self.agent.publish_owed(topic, payload)

    def set_retained(self, topic: str, payload: bytes) -> None:
        self.agent.set_retained(topic, payload)

    def emit(self, event_type: str, data: dict[str, Any]) -> Event:
        return self.agent.emit(event_type, data)

    def get_state(self, key: str) -> Any:
        from edge_agent.heartbeat.context import state_namespace  # only where a vendor has hooks

        return self.agent.store.state.get(state_namespace(self.name), key)


def _supervised(agent: Agent, name: str, service: Any) -> Supervised:
    return Supervised(name, service, liveness=agent.liveness, on_error=agent.report_loop_error)


class AfterFirstSnapshot:
    """Runs a service once the first snapshot exists, so the first heartbeats carry metrics."""

    def __init__(self, agent: Agent, service: Any, wait_at_most: float) -> None:
        self._agent = agent
        self._service = service
        self._wait = min(wait_at_most, 30.0)

    async def run(self, stop: asyncio.Event) -> None:
        await self._agent.wait_for_first_snapshot(self._wait)
        if not stop.is_set():
            await self._service.run(stop)

    async def shutdown(self) -> None:
        await self._service.shutdown()


def _action_tokens(config: Config) -> dict[str, str]:
    """The session token of each endpoint that has one, for an action's ``includeToken``."""
    tokens = {f"heartbeat:{name}": endpoint.action_token() for name, endpoint in config.heartbeats.items()}
    return {source: token for source, token in tokens.items() if token is not None}

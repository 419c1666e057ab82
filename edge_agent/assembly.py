"""Building the whole agent from a config: the loop, the vendor heartbeats, the action runner
and the PBX report listeners, wired to each other.

The parts do not know each other; this module is the one place that connects them:

* the heartbeat engine reads the agent's latest snapshot and reports outcomes and events
  to the agent (which mirrors them to MQTT and keeps them for ``edge-agent status``);
* an action a vendor reply queues in the journal wakes the action runner at once;
* operator commands from ``<prefix>/<id>/cmd`` go to the runner, and its states back
  to the MQTT 5 response topic;
* an AI-box strategy is mirrored retained; a PBX report is owed to ``<prefix>/<id>/pbx/<name>``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from edge_agent.actions import ActionRunner
from edge_agent.agent import Agent
from edge_agent.commands import Command
from edge_agent.jsonsafe import dumps_checked
from edge_agent.model import Clock, Event

if TYPE_CHECKING:
    from edge_agent.config import Config, YeastarConfig
    from edge_agent.report_listener import ReportListener

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
        token_for=_telecomx_tokens(config).get,
        host_root=config.metrics.host_root,
    )
    agent.add_service(runner)

    async def on_command(command: Command) -> None:
        runner.submit(
            command.body,
            "mqtt",
            signed_required=config.actions.mqtt_secret is not None,
            reply=lambda body: agent.respond(command, body),
        )

    agent.set_command_handler(on_command)

    def on_vendor_event(event: Event) -> None:
        agent.publish_event(event)
        if event.type == "action.received":
            runner.notify()
        elif event.type == "aibox.strategy":
            _mirror_strategy(agent, str(event.data.get("endpoint")), event.data.get("strategy"))

    if not config.heartbeats:
        return agent  # no HTTP client, no vendor code loaded: nothing would beat
    # imported here, so that an agent without heartbeats never loads httpx and the vendors
    from edge_agent.heartbeat import HeartbeatEngine
    from edge_agent.heartbeat.context import state_namespace

    engine = HeartbeatEngine(
        config,
        agent.store,
        agent.clock,
        snapshot=lambda: agent.latest_snapshot,
        on_outcome=agent.set_heartbeat_outcome,
        on_event=on_vendor_event,
    )
    agent.add_service(AfterFirstSnapshot(agent, engine, config.metrics.interval))
    for name, endpoint in config.heartbeats.items():
        if endpoint.enabled and endpoint.vendor == "aibox":
            _mirror_strategy(agent, name, agent.store.get_state(state_namespace(name), "strategy"))
        if endpoint.enabled and endpoint.vendor == "yeastar":
            agent.add_service(_report_listener(agent, name, endpoint))
    return agent


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


def _telecomx_tokens(config: Config) -> dict[str, str]:
    """The session token of each Telecom X endpoint, for START_APP's ``includeToken``."""
    return {
        f"heartbeat:{name}": endpoint.token.get_secret_value()
        for name, endpoint in config.heartbeats.items()
        if endpoint.vendor == "telecomx"
    }


def _mirror_strategy(agent: Agent, endpoint: str, strategy: Any) -> None:
    if not isinstance(strategy, dict):
        return
    try:
        payload = dumps_checked(strategy)  # retained: a too-deep one would be handed to every subscriber
    except ValueError as exc:
        log.warning("%s: strategy not mirrored: %s", endpoint, exc)
        return
    agent.set_retained(agent.topics.aibox_strategy(endpoint), payload.encode("utf-8"))


def _report_listener(agent: Agent, name: str, endpoint: YeastarConfig) -> ReportListener:
    from edge_agent.report_listener import ReportListener  # only with a PBX endpoint

    def on_report(endpoint_name: str, report: dict[str, Any]) -> None:
        # Both writes are durable before the listener answers 200; a StoreError makes it
        # answer 503 so the PBX sends the report again. A report nested too deep to be
        # re-published is a ValueError here (400): checked before anything is owed.
        payload = dumps_checked(report).encode("utf-8")
        agent.publish_owed(agent.topics.pbx_reports(endpoint_name), payload)
        agent.emit("pbx.report", {"endpoint": endpoint_name, "report": report})

    return ReportListener(
        endpoint.report_bind or endpoint.report_ip,
        endpoint.report_port,
        on_report,
        name,
        agent.clock,
        allow=endpoint.report_allow,
        pbx_host=urlsplit(endpoint.url).hostname,
        max_per_source=endpoint.report_max_per_source,
    )

"""The MQTT mirror: keeps the broker's picture of this device current, across every outage.

It owns the connection's life: connect, and after any loss reconnect with capped,
jittered backoff; on every connect re-subscribe, re-publish the latest retained state,
metrics and heartbeat outcomes, say ``online``, and drain the durable outbox. While
offline, retained topics keep only their latest value in memory (nothing stale is
queued), and events wait in the store. Commands arriving on ``<prefix>/<id>/cmd`` are
checked, answered with an event (and, with MQTT 5, on their response topic), and handed
to the command handler the actions issue plugs in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random as _random
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from edge_agent.commands import Command, RejectedCommand, parse_command
from edge_agent.errors import EdgeAgentError, MqttConnectError, MqttError, MqttPublishError
from edge_agent.model import Clock, Event, Snapshot, format_utc
from edge_agent.mqtt_bridge import MqttBridge
from edge_agent.mqtt_options import IncomingMessage, TlsSettings, WillMessage
from edge_agent.outbox_drain import OutboxDrain
from edge_agent.reconnect import ReconnectBackoff
from edge_agent.store import Store
from edge_agent.topics import Topics

if TYPE_CHECKING:
    from edge_agent.config import DeviceConfig, MqttConfig

log = logging.getLogger(__name__)

CommandHandler = Callable[[Command], Awaitable[None]]
"""What the actions issue plugs in: called once per well-formed command, in its own task."""

EVENTS_QOS = 1
SHUTDOWN_TIMEOUT = 3.0
DROP_REPORT_INTERVAL = 60.0
STORE_NAMESPACE = "agent/mqtt"  # "/" cannot be in a heartbeat endpoint name, so no clash


def bridge_from_config(config: MqttConfig, device_id: str, topics: Topics) -> MqttBridge:
    """The paho client for ``[mqtt]``, with ``offline`` as its retained last will."""
    tls = None
    if config.uses_tls:
        tls = TlsSettings(config.ca_file, config.cert_file, config.key_file, config.tls_insecure)
    return MqttBridge(
        host=config.host,
        port=config.port,
        client_id=config.client_id or f"edge-agent-{device_id}",
        keepalive=config.keepalive,
        protocol=config.protocol,
        username=config.username,
        password=config.password.get_secret_value() if config.password is not None else None,
        tls=tls,
        will=WillMessage(topics.status, b"offline", qos=config.qos, retain=True),
    )


def plain_value(value: Any) -> bytes:
    """A scalar metric as one plain value (``12.5``, ``true``); None as the empty payload."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode("utf-8")


class MqttMirror:
    """One device's MQTT side; a service of the agent (``run(stop)`` then ``shutdown()``)."""

    def __init__(
        self,
        config: MqttConfig,
        *,
        device: DeviceConfig,
        store: Store,
        clock: Clock,
        version: str,
        started: datetime,
        random: Callable[[], float] = _random.random,
        bridge: Optional[MqttBridge] = None,
    ) -> None:
        self.config = config
        self.topics = Topics(config.topic_prefix, device.id, config.discovery_prefix)
        self.device_name = device.name or device.id
        self.store = store
        self.clock = clock
        self.version = version
        self.started = started
        self.bridge = bridge or bridge_from_config(config, device.id, self.topics)
        self.drain = OutboxDrain(store)
        self._random = random
        self._retained: dict[str, bytes] = {}
        self._snapshot: Optional[dict[str, Any]] = None
        self._metric_values: dict[str, Any] = {}
        self._heartbeats: dict[str, dict[str, Any]] = {}
        self._announced: set[str] = set()
        self._command_handler: Optional[CommandHandler] = None
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._drop_logged = False
        self._last_drop_report = float("-inf")

    @property
    def connected(self) -> bool:
        return self.bridge.connected

    def set_command_handler(self, handler: Optional[CommandHandler]) -> None:
        self._command_handler = handler

    # -- what the agent feeds in ----------------------------------------------------------

    def publish_event(self, event: Event) -> None:
        """Owe ``event`` to the events topic: durable in the store when this returns."""
        _, dropped = self.store.outbox_add(self.topics.events, self._event_payload(event), EVENTS_QOS)
        if dropped:
            if not self._drop_logged:
                log.warning(
                    "the outbox is full (%d events): dropping the oldest; an outbox.dropped event "
                    "will say how many",
                    self.store.outbox_max,
                )
                self._drop_logged = True
            if self.connected and self.clock.monotonic() - self._last_drop_report >= DROP_REPORT_INTERVAL:
                self._report_drops()
        self.drain.wake()

    def publish_owed(self, topic: str, payload: bytes) -> None:
        """Owe ``payload`` on ``topic`` (QoS 1, not retained): durable in the store when this returns."""
        self.store.outbox_add(topic, payload, EVENTS_QOS)
        self.drain.wake()

    def set_retained(self, topic: str, payload: bytes) -> None:
        """Keep ``payload`` as the latest retained value of ``topic``, re-sent on every reconnect."""
        self._set_retained(topic, payload)

    def set_snapshot(self, snapshot: Snapshot) -> None:
        """Mirror a new snapshot: retained state and one retained value per scalar metric."""
        self._snapshot = snapshot.to_json()
        self._set_retained(self.topics.state, self._state_payload())
        for key, value in snapshot.scalar_metrics().items():
            topic = self.topics.metric(key)
            if value is None and self._retained.get(topic) == b"":
                continue  # already cleared; do not repeat the empty retained message
            self._metric_values[key] = value
            self._set_retained(topic, plain_value(value))
        if self.config.home_assistant and self.connected:
            self._announce(key for key, value in self._metric_values.items() if value is not None)

    def set_heartbeat_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        """Mirror the last outcome of heartbeat endpoint ``name`` (its topic and the state)."""
        self._heartbeats[name] = dict(outcome)
        self._set_retained(self.topics.heartbeat(name), json.dumps(outcome, default=str).encode("utf-8"))
        if self._snapshot is not None:
            self._set_retained(self.topics.state, self._state_payload())

    def respond(self, command: Union[Command, RejectedCommand], body: dict[str, Any]) -> None:
        """With MQTT 5, answer on the command's response topic with its correlation data."""
        if self.config.protocol != "5" or not command.response_topic or not self.connected:
            return
        try:
            self.bridge.publish(
                command.response_topic,
                json.dumps(body).encode("utf-8"),
                qos=self.config.qos,
                message_expiry=self.config.command_expiry,
                correlation_data=command.correlation_data,
            )
        except MqttPublishError as exc:
            log.warning("cannot answer on the response topic %r: %s", command.response_topic, exc)

    # -- the connection's life ------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set, reconnecting after every loss."""
        backoff = ReconnectBackoff(self.config.reconnect_min, self.config.reconnect_max, self._random)
        intake = asyncio.ensure_future(self._take_messages())
        try:
            while not stop.is_set():
                try:
                    await self.bridge.connect()
                except MqttConnectError as exc:
                    delay = backoff.next_delay()
                    log.warning("%s; retrying in %.1f s", exc, delay)
                else:
                    log.info("connected to the broker %s", self.bridge.where)
                    since = self.clock.monotonic()
                    reason = await self._serve(stop)
                    if stop.is_set():
                        break
                    if self.clock.monotonic() - since >= self.config.reconnect_max:
                        backoff.reset()  # a connection that held: the next outage starts with short waits
                    delay = backoff.next_delay()
                    log.warning(
                        "lost the broker %s (%s); reconnecting in %.1f s", self.bridge.where, reason, delay
                    )
                await _wait(stop, delay)
        finally:
            intake.cancel()

    async def shutdown(self) -> None:
        """Say ``offline`` (retained) and wait until it is sent, then DISCONNECT cleanly."""
        for task in list(self._handler_tasks):
            task.cancel()
        if not self.connected:
            return
        try:
            offline = self.bridge.publish(self.topics.status, b"offline", qos=self.config.qos, retain=True)
            await asyncio.wait_for(offline, SHUTDOWN_TIMEOUT)
        except (MqttPublishError, asyncio.TimeoutError) as exc:
            log.warning("could not say offline before leaving (%s); the last will says it", exc)
        await self.bridge.disconnect()

    async def _serve(self, stop: asyncio.Event) -> str:
        """Set up a fresh connection and drain the outbox until it drops or ``stop``."""
        try:
            await self._on_connected()
        except MqttPublishError:
            return await self.bridge.wait_disconnected()
        drain = asyncio.ensure_future(self.drain.run(self.bridge))
        lost = asyncio.ensure_future(self.bridge.wait_disconnected())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({lost, stopping, drain}, return_when=asyncio.FIRST_COMPLETED)
            if drain.done() and drain.exception() is not None:
                raise drain.exception()  # type: ignore[misc]  # the store failed: let the agent stop
            if stopping.done() and not lost.done():
                self.drain.close()  # let what is in flight be acknowledged, so a restart does not resend it
                await asyncio.wait(
                    {drain, lost}, timeout=SHUTDOWN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
                )
                return "stopping"
            return await lost
        finally:
            for task in (drain, lost, stopping):
                task.cancel()

    async def _on_connected(self) -> None:
        """Every (re)connect: subscribe, latest retained values, ``online``, discovery."""
        subscriptions = [(self.topics.commands, self.config.qos)]
        if self.config.home_assistant:
            subscriptions.append((self.topics.home_assistant_status, self.config.qos))
        try:
            await self.bridge.subscribe(subscriptions)
        except MqttPublishError:
            raise
        except MqttError as exc:
            log.error("%s: commands will not be received on %s", exc, self.topics.commands)
        for topic, payload in list(self._retained.items()):
            self._send(topic, payload)
        self._send(self.topics.status, b"online")
        if self.config.home_assistant:
            self._announced.clear()
            self._announce(key for key, value in self._metric_values.items() if value is not None)
        self._report_drops()

    # -- helpers --------------------------------------------------------------------------

    def _state_payload(self) -> bytes:
        state = dict(self._snapshot or {})
        state["agent"] = {"version": self.version, "started": format_utc(self.started)}
        state["heartbeats"] = dict(self._heartbeats)
        return json.dumps(state, ensure_ascii=False, default=str).encode("utf-8")

    def _set_retained(self, topic: str, payload: bytes) -> None:
        """Keep only the latest value of a retained topic; send it now if connected and changed."""
        if self._retained.get(topic) == payload:
            return  # the broker already holds it; on a reconnect every kept value is sent again
        self._retained[topic] = payload
        if self.connected:
            self._send(topic, payload)

    def _send(self, topic: str, payload: bytes) -> None:
        try:
            self.bridge.publish(topic, payload, qos=self.config.qos, retain=True)
        except MqttPublishError as exc:
            log.debug("not sent now (%s); the latest value is sent on reconnect", exc)

    def _announce(self, keys: Iterable[str], *, again: bool = False) -> None:
        fresh = [key for key in keys if again or key not in self._announced]
        if not fresh:
            return
        from edge_agent.ha_discovery import discovery_messages  # only with home_assistant = true

        for topic, payload in discovery_messages(
            self.topics, fresh, device_name=self.device_name, version=self.version
        ):
            self._send(topic, payload)
        self._announced.update(fresh)

    def _report_drops(self) -> None:
        """Tell the broker how many events the full outbox dropped since the last report.

        Sent straight to the events topic rather than through the outbox, where it would
        push out one more real event; the count lives in the store and is marked reported
        only when the broker acknowledges the warning, so it survives outages and restarts.
        """
        total = self.store.outbox_dropped()
        reported = int(self.store.get_state(STORE_NAMESPACE, "outbox_dropped_reported", 0))
        if total <= reported or not self.connected:
            return
        self._last_drop_report = self.clock.monotonic()
        self._drop_logged = False
        data = {"level": "warning", "dropped": total - reported, "dropped_total": total}
        data["outbox_max"] = self.store.outbox_max
        event = Event.new("outbox.dropped", data, self.clock)
        try:
            sent = self.bridge.publish(self.topics.events, self._event_payload(event), qos=EVENTS_QOS)
        except MqttPublishError:
            return

        def mark_reported(future: asyncio.Future[Optional[str]]) -> None:
            if not future.cancelled() and future.exception() is None:
                self.store.set_state(STORE_NAMESPACE, "outbox_dropped_reported", total)

        sent.add_done_callback(mark_reported)

    @staticmethod
    def _event_payload(event: Event) -> bytes:
        return json.dumps(event.to_json(), ensure_ascii=False).encode("utf-8")

    async def _take_messages(self) -> None:
        while True:
            message = await self.bridge.messages.get()
            if message.topic == self.topics.commands:
                self._take_command(message)
            elif message.topic == self.topics.home_assistant_status and message.payload.strip() == b"online":
                self._announce(self._announced, again=True)

    def _take_command(self, message: IncomingMessage) -> None:
        parsed = parse_command(
            message.payload,
            retained=message.retain,
            response_topic=message.response_topic,
            correlation_data=message.correlation_data,
        )
        if isinstance(parsed, RejectedCommand):
            log.warning("rejected a command: %s", parsed.reason)
            data = {"command_id": parsed.command_id, "reason": parsed.reason, "source": "mqtt"}
            self.publish_event(Event.new("command.rejected", data, self.clock))
            self.respond(parsed, {"id": parsed.command_id, "status": "rejected", "reason": parsed.reason})
            return
        data = {"command_id": parsed.id, "command_type": parsed.type, "source": "mqtt"}
        self.publish_event(Event.new("command.received", data, self.clock))
        self.respond(parsed, {"id": parsed.id, "status": "received"})
        if self._command_handler is not None:
            task = asyncio.ensure_future(self._command_handler(parsed))
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._handler_tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, EdgeAgentError):
            log.error("the command handler failed: %s", error)
        elif error is not None:
            log.error("the command handler crashed", exc_info=error)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        return

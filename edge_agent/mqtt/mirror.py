"""The MQTT mirror: keeps the broker's picture of this device current, across every outage.

It owns the connection's life: connect, and after any loss reconnect with capped,
jittered backoff; on every connect re-subscribe, re-publish the latest retained state,
metrics and heartbeat outcomes, say ``online``, and drain the durable outbox. While
offline, retained topics keep only their latest value in memory (nothing stale is
queued), and events wait in the store. Commands arriving on ``<prefix>/<id>/cmd`` are
checked, answered with an event (and, with MQTT 5, on their response topic), and handed
to the command handler the actions issue plugs in.

When the store cannot be written (a full disk), an event that cannot be owed durably is
sent live instead (QoS 1 straight to the broker, or kept in a bounded memory backlog until
the next connect): the store counts what it could not keep, and the agent says so with
``store.degraded``. The command intake survives any exception per message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random as _random
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional

from edge_agent.actions.intake import EnvelopeIntake
from edge_agent.errors import MqttConnectError, MqttError, MqttPublishError, StoreError
from edge_agent.loops import (
    IDLE_BEAT,
    ErrorReport,
    FailureStreak,
    Liveness,
    ReconnectBackoff,
    keep_connected,
    report,
)
from edge_agent.model import Clock, Event, Snapshot, format_utc
from edge_agent.mqtt.bridge import MqttBridge
from edge_agent.mqtt.options import IncomingMessage, TlsSettings, WillMessage
from edge_agent.mqtt.outbox_drain import OutboxDrain
from edge_agent.mqtt.publisher import CommandHandler, Reply
from edge_agent.mqtt.topics import Topics, topic_levels
from edge_agent.store import Store

if TYPE_CHECKING:
    from edge_agent.config import DeviceConfig, MqttConfig

log = logging.getLogger(__name__)

EVENTS_QOS = 1
SHUTDOWN_TIMEOUT = 3.0
OFFLINE_ECHO_TIMEOUT = 2.0
DROP_REPORT_INTERVAL = 60.0
STORE_NAMESPACE = "agent/mqtt"  # "/" cannot be in a heartbeat endpoint name, so no clash
LIVE_BACKLOG_MAX = 1000  # events kept in memory while neither the store nor the broker takes them
INTAKE_LOOP = "command-intake"
SERIES_MEMBERS_MAX = 64  # per family: more zones than any board has; bounds topics and memory
SERIES_REMEMBERED_MAX = 256  # member levels remembered across restarts, to clear the ones gone
_STATE_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
"""The state's encoder, made once: ``json.dumps`` with options builds a new one per call."""


def bridge_from_config(config: MqttConfig, device_id: str, topics: Topics) -> MqttBridge:
    """The paho client for ``[mqtt]``, with ``offline`` as its retained last will."""
    tls = None
    if config.uses_tls:
        tls = TlsSettings(
            config.ca_file, config.cert_file, config.key_file, config.tls_insecure, config.tls_strict
        )
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
    """One device's MQTT side: the agent's publisher (``mqtt/publisher.py``) when ``[mqtt]`` is set."""

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
        liveness: Optional[Liveness] = None,
        on_loop_error: Optional[ErrorReport] = None,
    ) -> None:
        self.config = config
        self.topics = Topics(config.topic_prefix, device.id, config.discovery_prefix)
        self.device_name = device.name or device.id
        self.store = store
        self.clock = clock
        self.version = version
        self.started = started
        self._started_text = format_utc(started)
        self.bridge = bridge or bridge_from_config(config, device.id, self.topics)
        self.drain = OutboxDrain(store, liveness=liveness, on_error=on_loop_error)
        self._liveness = liveness
        self._on_loop_error = on_loop_error
        self._live_backlog: deque[tuple[str, bytes]] = deque(maxlen=LIVE_BACKLOG_MAX)
        self._random = random
        self._retained: dict[str, bytes] = {}
        self._snapshot: Optional[dict[str, Any]] = None
        self._metric_values: dict[str, Any] = {}
        self._heartbeats: dict[str, dict[str, Any]] = {}
        self._announced: set[str] = set()
        self._series_known: dict[str, list[str]] = {}  # family -> member levels ever published
        self._labels: dict[str, str] = {}  # member key -> the name the kernel gave it
        self._command_handler: CommandHandler = EnvelopeIntake(self.publish_event, clock)
        self._drop_logged = False
        self._last_drop_report = float("-inf")

    @property
    def connected(self) -> bool:
        return self.bridge.connected

    def set_command_handler(self, handler: Optional[CommandHandler]) -> None:
        """Plug in the action intake; None: commands are only announced (:class:`EnvelopeIntake`)."""
        self._command_handler = (
            handler if handler is not None else EnvelopeIntake(self.publish_event, self.clock)
        )

    # -- what the agent feeds in ----------------------------------------------------------

    def publish_event(self, event: Event) -> None:
        """Owe ``event`` to the events topic: durable in the store when this returns.

        If the store cannot be written (outside a transaction), the event goes live instead.
        """
        payload = self._event_payload(event)
        try:
            _, dropped = self.store.outbox.add(self.topics.events, payload, EVENTS_QOS)
        except StoreError:
            if self.store.in_transaction:
                raise  # part of an atomic unit: the whole unit fails, its caller decides
            self.publish_live(self.topics.events, payload)
            return
        if dropped:
            if not self._drop_logged:
                log.warning(
                    "the outbox is full (%d events): dropping the oldest; an outbox.dropped event "
                    "will say how many",
                    self.store.outbox.max,
                )
                self._drop_logged = True
            if self.connected and self.clock.monotonic() - self._last_drop_report >= DROP_REPORT_INTERVAL:
                self._report_drops()
        self.drain.wake()

    def publish_owed(self, topic: str, payload: bytes) -> None:
        """Owe ``payload`` on ``topic`` (QoS 1, not retained): durable in the store when this returns."""
        self.store.outbox.add(topic, payload, EVENTS_QOS)
        self.drain.wake()

    def publish_live(self, topic: str, payload: bytes) -> None:
        """Send now, not durably (QoS 1, not retained); while offline, keep it in a bounded memory backlog."""
        self._live_backlog.append((topic, payload))
        if self.connected:
            self._flush_live()

    def _flush_live(self) -> None:
        while self._live_backlog and self.connected:
            topic, payload = self._live_backlog[0]
            try:
                self.bridge.publish(topic, payload, qos=EVENTS_QOS)
            except MqttPublishError as exc:
                log.debug("live message not sent now (%s); kept for the next connect", exc)
                return
            self._live_backlog.popleft()

    def set_retained(self, topic: str, payload: bytes) -> None:
        """Keep ``payload`` as the latest retained value of ``topic``, re-sent on every reconnect."""
        self._set_retained(topic, payload)

    def set_snapshot(self, snapshot: Snapshot) -> None:
        """Mirror a new snapshot: retained state and one retained value per scalar metric."""
        body = snapshot.to_json()
        self._snapshot = body
        self._set_retained(self.topics.state, self._state_payload())
        for key, value in snapshot.scalar_metrics(body).items():
            topic = self.topics.metric(key)
            if value is None and self._retained.get(topic) == b"":
                continue  # already cleared; do not repeat the empty retained message
            self._metric_values[key] = value
            self._set_retained(topic, plain_value(value))
        for family, members in snapshot.metric_series(body).items():
            self._set_series(family, members)
        if self.config.home_assistant and self.connected:
            self._announce(key for key, value in self._metric_values.items() if value is not None)

    def _set_series(self, family: str, members: dict[str, float]) -> None:
        """One retained value per member (``metrics/temperature/<zone>``); a member gone is cleared.

        The levels ever published are kept in the store, so a zone that disappeared while
        the agent was down is cleared at the next start instead of staying retained for ever.
        """
        if len(members) > SERIES_MEMBERS_MAX:
            log.debug("%s: %d members, mirroring the first %d", family, len(members), SERIES_MEMBERS_MAX)
            members = dict(list(members.items())[:SERIES_MEMBERS_MAX])
        known = self._series_known.get(family)
        if known is None:
            stored = self.store.state.get(STORE_NAMESPACE, f"series/{family}", [])
            known = [level for level in stored if isinstance(level, str)] if isinstance(stored, list) else []
        levels = topic_levels(members)
        current: set[str] = set()
        for name, value in members.items():
            key = f"{family}/{levels[name]}"
            current.add(levels[name])
            self._labels[key] = name
            self._metric_values[key] = value
            self._set_retained(self.topics.metric(key), plain_value(value))
        for level in known:
            if level not in current:
                key = f"{family}/{level}"
                self._metric_values[key] = None
                self._set_retained(self.topics.metric(key), b"")  # an empty retained payload clears it
        merged = [*known, *(level for level in levels.values() if level not in known)]
        merged = merged[-SERIES_REMEMBERED_MAX:]
        if merged != known:
            self.store.state.set(STORE_NAMESPACE, f"series/{family}", merged)
        self._series_known[family] = merged

    def set_heartbeat_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        """Mirror the last outcome of heartbeat endpoint ``name`` (its topic and the state)."""
        self._heartbeats[name] = dict(outcome)
        self._set_retained(self.topics.heartbeat(name), json.dumps(outcome, default=str).encode("utf-8"))
        if self._snapshot is not None:
            self._set_retained(self.topics.state, self._state_payload())

    def reply_to(self, response_topic: Optional[str], correlation_data: Optional[bytes]) -> Optional[Reply]:
        """With MQTT 5, a way to answer on a command's response topic with its correlation data."""
        if self.config.protocol != "5" or not response_topic:
            return None

        def reply(body: dict[str, Any]) -> None:
            if not self.connected:
                return
            try:
                self.bridge.publish(
                    response_topic,
                    json.dumps(body).encode("utf-8"),
                    qos=self.config.qos,
                    message_expiry=self.config.command_expiry,
                    correlation_data=correlation_data,
                )
            except MqttPublishError as exc:
                log.warning("cannot answer on the response topic %r: %s", response_topic, exc)

        return reply

    # -- the connection's life ------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until ``stop`` is set, reconnecting after every loss."""
        backoff = ReconnectBackoff(self.config.reconnect_min, self.config.reconnect_max, self._random)
        intake = asyncio.ensure_future(self._take_messages())
        try:
            await keep_connected(
                stop,
                self.bridge.connect,
                lambda: self._serve(stop),
                backoff,
                failures=(MqttConnectError,),
                where=self.bridge.where,
                logger=log,
                monotonic=self.clock.monotonic,
                held=self.config.reconnect_max,
            )
        finally:
            intake.cancel()

    async def shutdown(self) -> None:
        """Say ``offline`` (retained), wait until the broker has passed it on, then DISCONNECT."""
        if not self.connected:
            return
        echo = await self._listen_to_own_status()
        try:
            offline = self.bridge.publish(self.topics.status, b"offline", qos=self.config.qos, retain=True)
            await asyncio.wait_for(offline, SHUTDOWN_TIMEOUT)
        except (MqttPublishError, asyncio.TimeoutError) as exc:
            log.warning("could not say offline before leaving (%s); the last will says it", exc)
        else:
            if echo:
                await self._hear_offline()
        await self.bridge.disconnect()

    async def _listen_to_own_status(self) -> bool:
        """Subscribe to our own status topic, to hear our ``offline`` come back (False: refused).

        A PUBACK only says the broker has the message. amqtt (the embedded broker)
        acknowledges first and forwards later, and drops what it has not forwarded when
        the publisher disconnects at once (on Python 3.13 nearly every time): hearing our
        own ``offline`` proves it was forwarded. Where an ACL refuses the subscription,
        the PUBACK has to do.
        """
        try:
            await asyncio.wait_for(
                self.bridge.subscribe([(self.topics.status, self.config.qos)]), SHUTDOWN_TIMEOUT
            )
        except (MqttError, asyncio.TimeoutError) as exc:
            log.debug("not listening for our own offline (%s)", exc)
            return False
        return True

    async def _hear_offline(self) -> None:
        """Wait (bounded) until our ``offline`` comes back; anything else arriving now is dropped."""

        async def heard() -> None:
            while True:
                message = await self.bridge.messages.get()
                if message.topic == self.topics.status and message.payload == b"offline":
                    return

        try:
            await asyncio.wait_for(heard(), OFFLINE_ECHO_TIMEOUT)
        except asyncio.TimeoutError:
            log.debug(
                "the broker acknowledged offline but did not echo it within %.1f s", OFFLINE_ECHO_TIMEOUT
            )

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
        self._flush_live()
        self._report_drops()

    # -- helpers --------------------------------------------------------------------------

    def _state_payload(self) -> bytes:
        state = dict(self._snapshot or {})
        state["agent"] = {"version": self.version, "started": self._started_text}
        state["heartbeats"] = dict(self._heartbeats)
        return _STATE_ENCODER.encode(state).encode("utf-8")

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
        from edge_agent.mqtt.discovery import discovery_messages  # only with home_assistant = true

        for topic, payload in discovery_messages(
            self.topics, fresh, device_name=self.device_name, version=self.version, labels=self._labels
        ):
            self._send(topic, payload)
        self._announced.update(fresh)

    def _report_drops(self) -> None:
        """Tell the broker how many events the full outbox dropped since the last report.

        Sent straight to the events topic rather than through the outbox, where it would
        push out one more real event; the count lives in the store and is marked reported
        only when the broker acknowledges the warning, so it survives outages and restarts.
        """
        total = self.store.outbox.dropped()
        reported = int(self.store.state.get(STORE_NAMESPACE, "outbox_dropped_reported", 0))
        if total <= reported or not self.connected:
            return
        self._last_drop_report = self.clock.monotonic()
        self._drop_logged = False
        data = {"level": "warning", "dropped": total - reported, "dropped_total": total}
        data["outbox_max"] = self.store.outbox.max
        event = Event.new("outbox.dropped", data, self.clock)
        try:
            sent = self.bridge.publish(self.topics.events, self._event_payload(event), qos=EVENTS_QOS)
        except MqttPublishError:
            return

        def mark_reported(future: asyncio.Future[Optional[str]]) -> None:
            if not future.cancelled() and future.exception() is None:
                self.store.state.set(STORE_NAMESPACE, "outbox_dropped_reported", total)

        sent.add_done_callback(mark_reported)

    @staticmethod
    def _event_payload(event: Event) -> bytes:
        return json.dumps(event.to_json(), ensure_ascii=False).encode("utf-8")

    async def _take_messages(self) -> None:
        """The command intake: one bad message (or a store that fails under it) never ends it."""
        streak = FailureStreak(INTAKE_LOOP, initial=0.1, cap=5.0)
        while True:
            self._beat_intake()
            try:
                message = await asyncio.wait_for(self.bridge.messages.get(), IDLE_BEAT)
            except asyncio.TimeoutError:
                continue
            try:
                if message.topic == self.topics.commands:
                    self._take_command(message)
                elif (
                    message.topic == self.topics.home_assistant_status
                    and message.payload.strip() == b"online"
                ):
                    self._announce(self._announced, again=True)
            except Exception as exc:
                delay = streak.failed(exc)
                report(self._on_loop_error, INTAKE_LOOP, exc, streak.failures, delay)
                self._beat_intake(delay)
                await asyncio.sleep(delay)
            else:
                streak.succeeded()

    def _beat_intake(self, extra: float = 0.0) -> None:
        if self._liveness is not None:
            self._liveness.beat(INTAKE_LOOP, IDLE_BEAT + extra)

    def _take_command(self, message: IncomingMessage) -> None:
        """Hand the message to the action intake, which owns everything from here to the journal."""
        reply = self.reply_to(message.response_topic, message.correlation_data)
        self._command_handler(message.payload, message.retain, reply)

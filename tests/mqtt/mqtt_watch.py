"""What a plain MQTT subscriber (mosquitto_sub, Home Assistant, Node-RED) sees: the tests' eyes.

A paho client in its own thread, outside the agent; it reconnects and re-subscribes by
itself after a broker restart, like the fleet's subscribers do.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

T = TypeVar("T")
WAIT = 30.0


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool
    correlation_data: Optional[bytes] = None
    message_expiry: Optional[int] = None
    response_topic: Optional[str] = None

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """Subscribes to ``topics`` on 127.0.0.1:``port`` and records every message in order."""

    def __init__(
        self,
        port: int,
        topics: list[str],
        *,
        protocol: str = "3.1.1",
        ca_file: Optional[Path] = None,
        username: Optional[str] = None,
        password: Optional[str] = None,
    ) -> None:
        self.topics = topics
        self.seen: list[Seen] = []
        self.subscribed = 0
        self._cond = threading.Condition()
        v5 = protocol == "5"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"watch-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        )
        if ca_file is not None:
            self.client.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        self.wait_subscribed(1)

    # -- paho side ------------------------------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(topic, 1) for topic in self.topics])

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, reasons: Any, properties: Any) -> None:
        with self._cond:
            self.subscribed += 1
            self._cond.notify_all()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        props = message.properties
        seen = Seen(
            message.topic,
            bytes(message.payload),
            bool(message.retain),
            getattr(props, "CorrelationData", None),
            getattr(props, "MessageExpiryInterval", None),
            getattr(props, "ResponseTopic", None),
        )
        with self._cond:
            self.seen.append(seen)
            self._cond.notify_all()

    # -- test side ------------------------------------------------------------------------

    def wait_for(self, what: str, predicate: Callable[[list[Seen]], T], timeout: float = WAIT) -> T:
        """Block until ``predicate(seen)`` is truthy and return it; fail the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate(list(self.seen))
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(f"  {m.topic} {m.payload[:120]!r}" for m in self.seen[-15:])
                    raise AssertionError(f"timed out waiting for {what}; last messages:\n{tail}")
                self._cond.wait(min(left, 0.5))

    def wait_subscribed(self, count: int, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.subscribed < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the watcher did not subscribe ({self.subscribed} < {count})")
                self._cond.wait(min(left, 0.5))

    def last(self, topic: str) -> Optional[Seen]:
        with self._cond:
            matching = [m for m in self.seen if m.topic == topic]
        return matching[-1] if matching else None

    def wait_retained(self, topic: str, timeout: float = WAIT) -> Seen:
        """Wait for a retained copy on ``topic``: what a subscriber arriving late must find.

        Not simply the latest message: the agent may publish a live one just after the
        retained copy was delivered, and that one rightly carries no retain flag.
        """

        def retained(seen: list[Seen]) -> Optional[Seen]:
            return next((m for m in seen if m.topic == topic and m.retain), None)

        return self.wait_for(f"a retained message on {topic}", retained, timeout)

    def wait_last(self, topic: str, payload: bytes, timeout: float = WAIT) -> Seen:
        """Wait until the latest message on ``topic`` is ``payload``."""

        def latest_is(seen: list[Seen]) -> Optional[Seen]:
            matching = [m for m in seen if m.topic == topic]
            return matching[-1] if matching and matching[-1].payload == payload else None

        return self.wait_for(f"{payload!r} on {topic}", latest_is, timeout)

    def events(self, topic: str, event_type: Optional[str] = None) -> list[dict[str, Any]]:
        with self._cond:
            bodies = [m.json() for m in self.seen if m.topic == topic]
        return [b for b in bodies if event_type is None or b.get("type") == event_type]

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        response_topic: Optional[str] = None,
        correlation_data: Optional[bytes] = None,
    ) -> None:
        properties = None
        if response_topic is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = response_topic
            if correlation_data is not None:
                properties.CorrelationData = correlation_data
        info = self.client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        info.wait_for_publish(timeout=WAIT)

    def close(self) -> None:
        self.client.disconnect()  # first, so the network thread stops at once
        self.client.loop_stop()

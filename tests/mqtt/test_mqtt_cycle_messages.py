"""Exactly what one metrics cycle puts on the broker: topics, payloads, QoS and retain flags, in order.

The per-cycle path is tuned for CPU (issue 15); this pins what it publishes, so a cheaper
path cannot change it. The mirror runs in this process against a real mosquitto and is
fed fixed snapshots; a plain MQTT 5 subscriber with *retain as published* at QoS 2 sees
each message with the QoS and the retain flag it was published with.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.subscribeoptions import SubscribeOptions
from support.waiting import wait_until

from edge_agent.config import DeviceConfig, MqttConfig
from edge_agent.model import Snapshot, SystemClock
from edge_agent.mqtt.mirror import MqttMirror
from edge_agent.store import Store

BASE = "edge/dev-c"
STARTED = datetime(2026, 12, 6, 5, 0, 0, tzinfo=timezone.utc)
Message = tuple[str, bytes, int, bool]


class Recorder:
    """Every message on ``topic_filter`` as (topic, payload, qos, retain), in arrival order."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="cycle-recorder", protocol=MQTTProtocolVersion.MQTTv5
        )
        options = SubscribeOptions(qos=2, retainAsPublished=True)
        self.client.on_connect = lambda client, *_: client.subscribe([(topic_filter, options)])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(30), "the recorder could not subscribe"

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), message.qos, bool(message.retain)))

    def taken(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def snapshot(second: int, cpu: float, load: float, zone: Optional[float]) -> Snapshot:
    return Snapshot(
        timestamp=datetime(2026, 12, 6, 5, 0, second, 250000, tzinfo=timezone.utc),
        cpu_percent=cpu,
        load_1m=load,
        load_5m=0.5,
        load_15m=0.25,
        memory_total_bytes=1000,
        memory_available_bytes=400,
        memory_free_percent=40.0,
        temperatures={"cpu-thermal": zone} if zone is not None else {},
        cpu_temperature=zone,
        uptime_s=100.0 + second,
        ip="192.0.2.7",
        mac="02:00:00:00:00:01",
        unavailable={"battery_percent": "no battery", "charging": "no battery"},
    )


def state(when: str, cpu: float, load: float, zone: Optional[float], uptime: float) -> bytes:
    temperatures = f'{{"cpu-thermal": {zone}}}' if zone is not None else "{}"
    cpu_temperature = "null" if zone is None else str(zone)
    return (
        f'{{"timestamp": "{when}", "cpu_percent": {cpu}, "load_1m": {load}, "load_5m": 0.5, '
        f'"load_15m": 0.25, "memory_total_bytes": 1000, "memory_available_bytes": 400, '
        f'"memory_free_percent": 40.0, "temperatures": {temperatures}, "cpu_temperature": {cpu_temperature}, '
        f'"battery_percent": null, "charging": null, "wifi_signal_dbm": null, "wifi_link_mbps": null, '
        f'"uptime_s": {uptime}, "ip": "192.0.2.7", "mac": "02:00:00:00:00:01", "rtt_ms": null, '
        f'"packet_loss_percent": null, "awake": null, "apps": {{}}, '
        f'"unavailable": {{"battery_percent": "no battery", "charging": "no battery"}}, '
        f'"agent": {{"version": "test", "started": "2026-12-06T05:00:00.000Z"}}, "heartbeats": {{}}}}'
    ).encode()


def metric(name: str, payload: bytes) -> Message:
    return (f"{BASE}/metrics/{name}", payload, 1, True)


FIRST_CYCLE: list[Message] = [
    (f"{BASE}/state", state("2026-12-06T05:00:01.250Z", 12.5, 0.75, 41.5, 101.0), 1, True),
    metric("cpu_percent", b"12.5"),
    metric("load_1m", b"0.75"),
    metric("load_5m", b"0.5"),
    metric("load_15m", b"0.25"),
    metric("memory_total_bytes", b"1000"),
    metric("memory_available_bytes", b"400"),
    metric("memory_free_percent", b"40.0"),
    metric("cpu_temperature", b"41.5"),
    metric("battery_percent", b""),
    metric("charging", b""),
    metric("wifi_signal_dbm", b""),
    metric("wifi_link_mbps", b""),
    metric("uptime_s", b"101.0"),
    metric("ip", b"192.0.2.7"),
    metric("mac", b"02:00:00:00:00:01"),
    metric("rtt_ms", b""),
    metric("packet_loss_percent", b""),
    metric("awake", b""),
    metric("temperature/cpu-thermal", b"41.5"),
]
"""The first snapshot after connecting: the state and every scalar metric (an unknown one
as the empty retained payload), then each temperature zone."""

SECOND_CYCLE: list[Message] = [
    (f"{BASE}/state", state("2026-12-06T05:00:02.250Z", 30.0, 0.75, None, 102.0), 1, True),
    metric("cpu_percent", b"30.0"),
    metric("cpu_temperature", b""),
    metric("uptime_s", b"102.0"),
    metric("temperature/cpu-thermal", b""),
]
"""The next: only what changed (the load did not); a zone gone is cleared."""

THIRD_CYCLE: list[Message] = [
    (f"{BASE}/state", state("2026-12-06T05:00:03.250Z", 30.0, 0.75, None, 103.0), 1, True),
    metric("uptime_s", b"103.0"),
]
"""And one where almost nothing changed: a metric already cleared is not cleared again."""


def test_each_cycle_publishes_the_same_topics_payloads_qos_and_retain_flags_in_order(
    mosquitto_only, tmp_path: Path
) -> None:
    broker = mosquitto_only()
    recorder = Recorder(broker.port, f"{BASE}/#")
    store = Store(tmp_path / "agent.db")
    config = MqttConfig(
        host="127.0.0.1", port=broker.port, keepalive=5, reconnect_min=0.05, reconnect_max=0.3
    )
    mirror = MqttMirror(
        config,
        device=DeviceConfig(id="dev-c"),
        store=store,
        clock=SystemClock(),
        version="test",
        started=STARTED,
    )
    status = (f"{BASE}/status", b"online", 1, True)
    cycles = [
        (snapshot(1, 12.5, 0.75, 41.5), FIRST_CYCLE),
        (snapshot(2, 30.0, 0.75, None), SECOND_CYCLE),
        (snapshot(3, 30.0, 0.75, None), THIRD_CYCLE),
    ]
    seen: list[list[Message]] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(mirror.run(stop))
        try:
            await asyncio.to_thread(wait_until, "online", lambda: status in recorder.taken())
            for taken, expected in cycles:
                before = len(recorder.taken())
                until = before + len(expected)
                mirror.set_snapshot(taken)
                await asyncio.to_thread(
                    wait_until,
                    "the cycle's messages",
                    lambda n=until: len(recorder.taken()) >= n,
                )
                seen.append(recorder.taken()[before:])
        finally:
            stop.set()
            await runner
            await mirror.shutdown()

    try:
        asyncio.run(scenario())
    finally:
        recorder.close()
        store.close()
    assert seen[0] == FIRST_CYCLE
    assert seen[1] == SECOND_CYCLE
    assert seen[2][: len(THIRD_CYCLE)] == THIRD_CYCLE
    # nothing else came with the third cycle but the mirror's own offline at shutdown
    assert recorder.taken()[-1] == (f"{BASE}/status", b"offline", 1, True)

"""No more QoS 1 and 2 messages await their acknowledgement than the broker takes.

mosquitto holds a client's unreleased QoS 2 messages to 20 (``max_inflight_messages``). On
MQTT 3.1.1 it answers the 21st PUBLISH with a PUBREC all the same and drops the message: the
publisher is told nothing. A reconnect sends every retained metric, the state and ``online``
in one burst of about forty, so under load (when the first snapshot was ready before the
connection) a device configured with ``qos = 2`` never showed ``online``. On MQTT 5 the
broker says so in the PUBREC instead, and the message is lost as well.

Forty-five QoS 2 publishes made in one turn of the loop, to a real mosquitto with its
default limits: every one must reach a plain subscriber, in order, and be acknowledged.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mqtt_watch import Watcher

from edge_agent.mqtt.bridge import MQTT311_WINDOW, MqttBridge

BURST = 45


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_a_burst_of_qos_2_publishes_past_the_brokers_quota_all_arrive_in_order(
    mosquitto_only, tmp_path: Path, watch, protocol: str
) -> None:
    broker = mosquitto_only()
    watcher: Watcher = watch(broker.port, ["window/#"])

    async def scenario() -> tuple[int, list[object]]:
        bridge = MqttBridge(
            host="127.0.0.1",
            port=broker.port,
            client_id=f"window-{protocol}",
            keepalive=10,
            protocol=protocol,
        )
        await bridge.connect()
        try:
            sent = [bridge.publish(f"window/{n:02d}", str(n).encode(), qos=2) for n in range(BURST)]
            return bridge.receive_maximum, list(await asyncio.wait_for(asyncio.gather(*sent), 60))
        finally:
            await bridge.disconnect()

    window, outcomes = asyncio.run(scenario())

    assert outcomes == [None] * BURST  # each acknowledged, none refused
    seen = watcher.wait_for("every message of the burst", lambda seen: len(seen) >= BURST and seen)
    assert [message.topic for message in seen] == [f"window/{n:02d}" for n in range(BURST)]
    assert window == 20  # 3.1.1: ours; 5: what mosquitto announced in its CONNACK
    assert MQTT311_WINDOW == 20


def test_the_outbox_drain_and_the_mirror_share_the_window_on_mqtt_3_1_1() -> None:
    """Before any connection: the window the outbox drain reads is the 3.1.1 one, not 100."""
    bridge = MqttBridge(host="127.0.0.1", port=1, client_id="window-default")
    assert bridge.receive_maximum == MQTT311_WINDOW
    v5 = MqttBridge(host="127.0.0.1", port=1, client_id="window-v5", protocol="5")
    assert v5.receive_maximum == v5.max_inflight  # until the CONNACK says otherwise

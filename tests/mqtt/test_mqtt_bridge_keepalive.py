"""The keep-alive task wakes when paho has a ping to send or to give up on, not on a fixed tick.

A fixed tick (a tenth of the keepalive) woke an idle agent every 6 s for nothing (issue
15). What must hold: an idle connection is still pinged (mosquitto answers, so it stays
up across several keepalives), a broker that stops answering is still noticed, and the
sleep between two ``loop_misc()`` calls is as long as paho's own clocks allow.
"""

from __future__ import annotations

import asyncio
from typing import Any

import paho.mqtt.client as paho
from net_gate import NetGate

from edge_agent.mqtt.bridge import KEEPALIVE_SLACK, KEEPALIVE_TICK, MqttBridge
from edge_agent.mqtt.paho_client import PahoClient


def test_the_due_time_follows_pahos_clocks() -> None:
    client = PahoClient(paho.CallbackAPIVersion.VERSION2, client_id="due", protocol=paho.MQTTv311)
    client._keepalive = 60
    now = paho.time_func()
    client._last_msg_out, client._last_bytes_received, client._ping_t = now - 10, now - 20, 0
    assert 39 <= (client.keepalive_due_in() or 0) <= 40  # the quieter side decides
    client._ping_t = now - 55  # a ping unanswered for 55 s: give up in 5 s
    client._last_msg_out = client._last_bytes_received = now - 1
    assert 4 <= (client.keepalive_due_in() or 0) <= 5
    client._keepalive = 0
    assert client.keepalive_due_in() is None


def test_the_sleep_is_until_the_due_time_within_bounds() -> None:
    bridge = MqttBridge(host="127.0.0.1", port=1, client_id="sleep", keepalive=60)
    client: Any = bridge._client
    now = paho.time_func()
    client._keepalive = 60
    client._last_msg_out = client._last_bytes_received = now
    assert 59 <= bridge._until_keepalive_due() <= 60  # not every 6 s
    client._last_msg_out = now - 120  # past due and loop_misc did nothing: one tick, no spin
    assert bridge._until_keepalive_due() == KEEPALIVE_TICK
    client._last_msg_out = now - 59.5
    assert 0.4 <= bridge._until_keepalive_due() <= 0.5 + KEEPALIVE_SLACK


def test_an_idle_connection_is_pinged_and_stays_up(mosquitto_only) -> None:
    broker = mosquitto_only()

    async def scenario() -> list[str]:
        bridge = MqttBridge(host="127.0.0.1", port=broker.port, client_id="pinged", keepalive=1)
        await bridge.connect()
        answers: list[str] = []
        three = asyncio.get_running_loop().create_future()

        def on_log(client: Any, userdata: Any, level: int, text: str) -> None:
            if text.startswith("Received PINGRESP"):
                answers.append(text)
                if len(answers) == 3 and not three.done():
                    three.set_result(None)

        bridge._client.on_log = on_log
        try:
            await asyncio.wait_for(three, 30)
            assert bridge.connected
        finally:
            await bridge.disconnect()
        return answers

    assert len(asyncio.run(scenario())) >= 3


def test_a_broker_that_stops_answering_is_noticed(mosquitto_only, gate) -> None:
    broker = mosquitto_only()
    network: NetGate = gate(broker.port)

    async def scenario() -> str:
        bridge = MqttBridge(host="127.0.0.1", port=network.port, client_id="silent", keepalive=1)
        await bridge.connect()
        network.drop_upstream()  # the ping never arrives, so no PINGRESP comes back
        try:
            return await asyncio.wait_for(bridge.wait_disconnected(), 30)
        finally:
            await bridge.disconnect()

    assert asyncio.run(scenario())

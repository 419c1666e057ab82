"""The bridge writes a turn's publishes at once and waits for the socket only when it is full.

Publishes are written at the loop's next turn without asking the selector first (issue 15:
two ``epoll_ctl`` calls and a loop turn per cycle). When the socket takes less than all
(a payload far larger than its buffer), the rest must still go out, whole and in order,
behind the selector; a plain subscriber on a real mosquitto checks both.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from mqtt_watch import Watcher

from edge_agent.mqtt.bridge import MqttBridge

BIG = bytes(range(256)) * (16 * 1024)  # 4 MiB


def test_a_payload_larger_than_the_socket_takes_goes_out_whole_and_in_order(
    mosquitto_only, tmp_path: Path, watch
) -> None:
    broker = mosquitto_only()
    watcher: Watcher = watch(broker.port, ["writes/#"])

    async def scenario() -> list[object]:
        bridge = MqttBridge(host="127.0.0.1", port=broker.port, client_id="writes-test", keepalive=10)
        await bridge.connect()
        # a small send buffer: the socket surely takes less than the big payload at once
        bridge._client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        try:
            sent = [
                bridge.publish("writes/small-1", b"first", qos=1),
                bridge.publish("writes/big", BIG, qos=1),
                bridge.publish("writes/small-2", b"last", qos=1),
            ]
            return list(await asyncio.wait_for(asyncio.gather(*sent), 60))
        finally:
            await bridge.disconnect()

    assert asyncio.run(scenario()) == [None, None, None]  # each acknowledged, none refused
    seen = watcher.wait_for("the three messages", lambda seen: len(seen) >= 3 and seen)
    assert [message.topic for message in seen] == ["writes/small-1", "writes/big", "writes/small-2"]
    assert seen[1].payload == BIG

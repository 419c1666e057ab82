"""The latency probe of bench/fleet.py, in a process of its own: a plain paho client.

    python bench/fleet_probe.py --port PORT

Subscribes (QoS 1) to ``bench/probe/#``, and with a second client (QoS 0) counts every
message the devices publish under ``fleet/#``. Every 0.2 s it publishes its own send time
on ``bench/probe/self`` (QoS 1): the time until it comes back is the broker's round trip.
The fleet process publishes its send time on ``bench/probe/fleet`` from the same asyncio
loop as the devices, so that delay also holds the time the loop took to get to it. Each
line read on stdin is answered with one JSON line (percentiles since the previous line,
the count of fleet messages so far); it exits when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

INTERVAL = 0.2


def percentiles(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2)

    return {"n": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


class Probe:
    def __init__(self, port: int) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.delays: dict[str, list[float]] = {"self": [], "fleet": []}
        self.fleet_messages = 0
        self.client = self._client("bench-fleet-probe", "bench/probe/#", 1, self._on_message)
        self.counter = self._client("bench-fleet-counter", "fleet/#", 0, self._count)

    def _client(self, client_id: str, topic: str, qos: int, on_message: Any) -> paho.Client:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos)
        client.on_message = on_message
        client.connect("127.0.0.1", self.port, keepalive=30)
        client.loop_start()
        return client

    def _count(self, client: Any, userdata: Any, message: Any) -> None:
        self.fleet_messages += 1  # only this client's network thread writes it

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.time()
        source = message.topic.rsplit("/", 1)[-1]
        with self.lock:
            self.delays.setdefault(source, []).append(now - float(message.payload))

    def ping_forever(self) -> None:
        while True:
            self.client.publish("bench/probe/self", repr(time.time()).encode(), qos=1)
            time.sleep(INTERVAL)

    def report(self) -> dict[str, Any]:
        with self.lock:
            delays, self.delays = self.delays, {"self": [], "fleet": []}
        return {
            "broker_rtt": percentiles(delays["self"]),
            "fleet_to_subscriber": percentiles(delays["fleet"]),
            "fleet_messages": self.fleet_messages,
        }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    probe = Probe(args.port)
    threading.Thread(target=probe.ping_forever, daemon=True).start()
    print("ready", flush=True)
    for _ in sys.stdin:
        print(json.dumps(probe.report()), flush=True)
    for client in (probe.client, probe.counter):
        client.disconnect()
        client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The bare-reads floor: the least a metrics-to-MQTT agent can cost, for goal 3 of ``agent_bench.py``.

Every ``--interval`` seconds it opens and reads the same ``/proc`` and ``/sys`` files the
collectors read (``collect.FILE_PATTERNS``, globs resolved once at start), puts their
text into one dict, ``json.dumps`` it and publishes it with paho at QoS 1, retained, to
``--topic`` on 127.0.0.1:``--port`` (paho's network thread, ``loop_start``). No parsing,
no config, no store, no per-metric topics: whatever edge-agent spends beyond this is
its own cost. ``agent_bench.py`` starts it beside the agent and the peers, at each
measured interval.

Usage: ``.venv/bin/python bench/floor.py --port 1883 --interval 10 [--topic floor/state]``
"""

from __future__ import annotations

import argparse
import glob
import json
import signal
import threading
import time

import paho.mqtt.client as paho
from collect import FILE_PATTERNS
from paho.mqtt.enums import CallbackAPIVersion


def read_all(paths: list[str]) -> dict[str, str]:
    """Each readable file's text; a file that cannot be read is left out."""
    texts = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                texts[path] = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--topic", default="floor/state")
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    paths = sorted({p for pattern in FILE_PATTERNS for p in glob.glob("/" + pattern)})
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"floor-{args.topic}")
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    due = time.monotonic()
    try:
        while not stop.is_set():
            payload = json.dumps({"timestamp": time.time(), "files": read_all(paths)})
            client.publish(args.topic, payload, qos=1, retain=True)
            due += args.interval
            stop.wait(max(0.0, due - time.monotonic()))
    finally:
        client.disconnect()
        client.loop_stop()


if __name__ == "__main__":
    main()

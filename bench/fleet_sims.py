"""The vendor simulators for bench/fleet.py, in a process of their own (not on the fleet's loop).

    python bench/fleet_sims.py --telecomx-devices N

Starts the Telecom X simulator with N tablets (tokens ``fleet-token-<i>``) and the PubNub
Presence simulator with one signing keyset, both on 127.0.0.1 and free ports, and prints
one JSON line: their URLs and the PubNub keys. Then it answers each line read on stdin
with a JSON line of how many requests each simulator has answered (the bench asks at the
start and the end of its measuring window), and exits when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from edge_agent.simulators.base import SimApp, SimRequest, SimResponse, SimulatorServer
from edge_agent.vendors.pubnub import simulator as pubnub
from edge_agent.vendors.telecomx import simulator as telecomx


def telecomx_token(index: int) -> str:
    return f"fleet-token-{index}"


class CountingApp:
    """A simulator, counting the requests it answers (with a lock: the server is threaded)."""

    def __init__(self, app: SimApp) -> None:
        self.app = app
        self.answered = 0
        self.failed = 0
        self._lock = threading.Lock()

    def handle(self, request: SimRequest) -> SimResponse:
        response = self.app.handle(request)
        with self._lock:
            self.answered += 1
            if response.status >= 400:
                self.failed += 1
        return response


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--telecomx-devices", type=int, required=True)
    args = parser.parse_args(argv)

    tx_app = telecomx.create()
    for index in range(args.telecomx_devices):
        tx_app.add_device(telecomx_token(index))
    pn_app = pubnub.create()
    keys = pubnub.seed_demo(pn_app)
    counted = {"telecomx": CountingApp(tx_app), "pubnub": CountingApp(pn_app)}
    servers = {name: SimulatorServer(app, record_limit=100).start() for name, app in counted.items()}
    for server in servers.values():
        server._httpd.socket.listen(4096)  # thousands of devices connect at once: not 5 at a time
    hello: dict[str, Any] = {"urls": {name: server.url for name, server in servers.items()}, "pubnub": keys}
    print(json.dumps(hello), flush=True)
    for _ in sys.stdin:
        counts = {name: {"answered": app.answered, "failed": app.failed} for name, app in counted.items()}
        print(json.dumps(counts), flush=True)
    for server in servers.values():
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

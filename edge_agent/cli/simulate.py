"""``edge-agent simulate <vendor>``: run one vendor's server simulator on loopback.

For integrators: point a device (or a config's heartbeat URL) at the printed address
and watch it talk to a server that enforces the vendor's documented rules, with demo
credentials already provisioned. It listens on loopback only: the simulators have no
real authentication and must never face a network.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Optional

from edge_agent.simulators import SIMULATORS

# Enough recent requests to debug with, bounded so a run left going for days stays small.
RECORD_LIMIT = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("vendor", choices=sorted(SIMULATORS), help="which vendor's server to simulate")
    parser.add_argument(
        "--port", type=_port, default=0, help="TCP port to listen on (default: 0, any free port)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default: 127.0.0.1)"
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-65535")
    return port


def run(args: argparse.Namespace) -> int:
    from edge_agent.simulators import load
    from edge_agent.simulators.base import LOOPBACK_HOSTS, SimulatorServer

    if args.host not in LOOPBACK_HOSTS:
        print(
            f"error: --host {args.host} is not a loopback address; simulators listen only on "
            f"{', '.join(LOOPBACK_HOSTS)}",
            file=sys.stderr,
        )
        return 2

    module = load(args.vendor)
    app = module.create()
    credentials = module.seed_demo(app)
    try:
        server = SimulatorServer(app, port=args.port, host=args.host, record_limit=RECORD_LIMIT)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    _stop_on_signals(stop)
    with server:
        print(f"{args.vendor} simulator listening on {server.url}")
        print(module.describe(server.url))
        for name, value in credentials.items():
            print(f"  demo {name}: {value}")
        print("Ctrl-C or SIGTERM stops it.", flush=True)
        stop.wait()
    print(f"{args.vendor} simulator stopped", flush=True)
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM end the run cleanly (exit 0), rather than with a traceback."""

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)

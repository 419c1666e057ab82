"""``edge-agent demo [--duration N] [--broker HOST:PORT]``: the agent against every vendor simulator.

Needs nothing but edge-agent: the agent runs its embedded broker on a free loopback port
(or uses ``--broker``, e.g. on Python 3.9 where the embedded one, amqtt, is unavailable),
the simulators serve on 127.0.0.1, and actions run a stand-in that only says what it
would do. It leaves nothing running: see ``edge_agent.demo.session``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Optional


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=_positive_seconds,
        metavar="N",
        help="stop after N seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--broker",
        metavar="HOST:PORT",
        help="use this MQTT broker instead of starting the embedded one (no login, no TLS)",
    )


def run(args: argparse.Namespace) -> int:
    from edge_agent.demo.world import BrokerAddress, parse_broker

    broker: Optional[BrokerAddress] = None
    if args.broker:
        try:
            broker = parse_broker(args.broker)
        except ValueError as exc:
            print(f"error: --broker: {exc}", file=sys.stderr)
            return 2
    elif importlib.util.find_spec("amqtt") is None:
        # Only a lookup: amqtt itself is imported by edge_agent.broker alone.
        print(
            "error: the demo's embedded MQTT broker needs amqtt, which is not installed "
            "(pip install 'edge-agent[broker]'; it needs Python 3.10 or newer).\n"
            "Or point the demo at a broker you already run: edge-agent demo --broker 127.0.0.1:1883",
            file=sys.stderr,
        )
        return 1

    from edge_agent.demo.session import DemoOptions, run_demo
    from edge_agent.demo.view import Terminal

    terminal = Terminal(sys.stdout, tty=sys.stdout.isatty())
    return run_demo(DemoOptions(duration=args.duration, broker=broker), terminal)


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds <= 7 * 86400:
        raise argparse.ArgumentTypeError("give a number of seconds above 0 (at most a week)")
    return seconds

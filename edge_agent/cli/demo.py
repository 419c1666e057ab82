"""``edge-agent demo [--duration N] [--broker HOST:PORT]``: the agent against every vendor simulator.

Needs nothing but edge-agent: the agent runs its embedded broker on a free loopback port
(or uses ``--broker``, e.g. on Python 3.9 where the embedded one, amqtt, is unavailable),
the simulators serve on 127.0.0.1, and actions run a stand-in that only says what it
would do. It leaves nothing running: see ``edge_agent.demo.session``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

BROKER_HINT = (
    "Run the demo against an MQTT broker you already run instead (no login, no TLS):\n"
    "  edge-agent demo --broker 127.0.0.1:1883\n"
    "On Raspberry Pi OS or Debian, one is: sudo apt install mosquitto"
)


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
    else:
        from edge_agent.mqtt.broker import amqtt_missing_reason

        missing = amqtt_missing_reason()
        if missing is not None:
            print(f"error: {missing}.\n{BROKER_HINT}", file=sys.stderr)
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

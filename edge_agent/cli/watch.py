"""``edge-agent watch``: the operator's live table of every device under a prefix, on any broker.

It subscribes to ``<prefix>/+/status``, ``<prefix>/+/state``, ``<prefix>/+/heartbeat/+``
and ``<prefix>/+/events`` and keeps one row per device (:mod:`edge_agent.fleet.view`). The
retained status, state and heartbeat outcomes fill the table at once; events bring the
last action. What is drawn, and how, is in :mod:`edge_agent.fleet.table`:

* a terminal: a table redrawn every ``--refresh`` seconds, only its changed lines;
* not a terminal: the rows that changed each period, and the whole table at exit;
* ``--json``: one JSON object per changed row per period (NDJSON);
* ``--once``: listen ``--timeout`` seconds, print the table (a JSON array with ``--json``)
  and exit 0. Scripts and the tests use this.

``--share GROUP`` subscribes as ``$share/GROUP/<filter>`` (MQTT 5 shared subscriptions,
so MQTT 5 is used): the broker hands each message to one watcher of the group, and
several watchers or exporters split a fleet's traffic. The MQTT specification says a
broker does not send retained messages to a shared subscription, so a shared watcher
starts empty and learns each device from its next message.

Exit codes: 0 after Ctrl-C, SIGTERM or ``--once``; 1 when the broker cannot be reached
or refuses the subscription (or is lost during ``--once``); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import sys
import uuid
from typing import TYPE_CHECKING, Optional, Union

from edge_agent.cli.broker_options import BrokerOptions, add_broker_arguments, broker_options
from edge_agent.errors import MqttError
from edge_agent.fleet.table import ChangeLog, JsonLines, MessageRate, TerminalTable, table_lines
from edge_agent.fleet.view import FleetView
from edge_agent.loops import ReconnectBackoff, keep_connected, stopped_within
from edge_agent.model import SystemClock

if TYPE_CHECKING:
    from edge_agent.mqtt.bridge import MqttBridge
    from edge_agent.mqtt.options import IncomingMessage

log = logging.getLogger(__name__)

TOPIC_SUFFIXES = ("+/status", "+/state", "+/heartbeat/+", "+/events")
SUBSCRIBE_QOS = 1
RECONNECT_MIN = 0.5
RECONNECT_MAX = 30.0

Renderer = Union[TerminalTable, ChangeLog, JsonLines]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_broker_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per changed device row (NDJSON)")
    parser.add_argument(
        "--share",
        metavar="GROUP",
        help="subscribe as the MQTT 5 shared subscription $share/GROUP/...: watchers of one group "
        "split the fleet's messages (a shared subscription gets no retained messages)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="listen for --timeout seconds, print the table (a JSON array with --json) and exit",
    )
    parser.add_argument(
        "--timeout", type=float, default=3.0, metavar="S", help="how long --once listens (default: 3)"
    )
    parser.add_argument(
        "--refresh",
        type=float,
        default=0.5,
        metavar="S",
        help="seconds between redraws of the live view (default: 0.5, at least 0.1)",
    )


def subscriptions(prefix: str, share: Optional[str]) -> list[str]:
    """The topic filters of a fleet under ``prefix``, shared when ``share`` names a group."""
    filters = [f"{prefix}/{suffix}" for suffix in TOPIC_SUFFIXES]
    return [f"$share/{share}/{topic}" for topic in filters] if share else filters


def run(args: argparse.Namespace) -> int:
    options = broker_options(args)
    if options is None:
        return 2
    if args.share is not None and (not args.share or any(ch in args.share for ch in "/+#")):
        print("error: --share GROUP must be a non-empty name without '/', '+' or '#'", file=sys.stderr)
        return 2
    if args.timeout <= 0 or args.refresh <= 0:
        print("error: --timeout and --refresh must be positive", file=sys.stderr)
        return 2
    return asyncio.run(_watch(args, options))


async def _watch(args: argparse.Namespace, options: BrokerOptions) -> int:
    protocol = "5" if args.share or options.protocol == "5" else "3.1.1"
    bridge = options.bridge(f"edge-agent-watch-{uuid.uuid4().hex[:12]}", protocol)
    topics = [(topic, SUBSCRIBE_QOS) for topic in subscriptions(options.prefix, args.share)]
    view = FleetView(options.prefix, SystemClock())
    stop = _stop_on_signals()
    try:
        await bridge.connect()
        await bridge.subscribe(topics)
    except MqttError as exc:
        print(f"error: {exc}", file=sys.stderr)
        await bridge.disconnect()
        return 1
    log.info("watching %s on %s", " ".join(topic for topic, _ in topics), bridge.where)
    intake = asyncio.ensure_future(_feed(bridge.messages, view))
    try:
        if args.once:
            return await _once(args, bridge, view, stop)
        await _live(args, bridge, topics, view, stop)
        return 0
    finally:
        intake.cancel()
        await bridge.disconnect()


async def _feed(queue: asyncio.Queue[IncomingMessage], view: FleetView) -> None:
    while True:
        message = await queue.get()
        view.feed(message.topic, message.payload, message.retain)


async def _once(args: argparse.Namespace, bridge: MqttBridge, view: FleetView, stop: asyncio.Event) -> int:
    lost = asyncio.ensure_future(bridge.wait_disconnected())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({lost, stopping}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not lost.done():
            lost.cancel()
    await asyncio.sleep(0)  # let the intake take what is already queued
    if args.json:
        print(json.dumps([row.to_json() for row in view.rows()], ensure_ascii=False))
    else:
        print("\n".join(table_lines(view.rows(), SystemClock().now())))
    if lost.done() and not lost.cancelled():
        print(f"error: lost the broker while listening: {lost.result()}", file=sys.stderr)
        return 1
    return 0


async def _live(
    args: argparse.Namespace,
    bridge: MqttBridge,
    topics: list[tuple[str, int]],
    view: FleetView,
    stop: asyncio.Event,
) -> None:
    clock = SystemClock()
    renderer = _renderer(args.json)
    rate = MessageRate()
    keeper = asyncio.ensure_future(_stay_connected(bridge, topics, stop))
    try:
        while True:
            renderer.draw(view, rate.update(view.messages, clock.monotonic()), clock.now())
            if await stopped_within(stop, max(0.1, args.refresh)):
                return
    finally:
        keeper.cancel()
        renderer.close(view, clock.now())


def _renderer(as_json: bool) -> Renderer:
    if as_json:
        return JsonLines(sys.stdout)
    if sys.stdout.isatty():
        return TerminalTable(sys.stdout, _terminal_size)
    return ChangeLog(sys.stdout)


def _terminal_size() -> tuple[int, int]:
    size = shutil.get_terminal_size()
    return size.columns, size.lines


async def _stay_connected(bridge: MqttBridge, topics: list[tuple[str, int]], stop: asyncio.Event) -> None:
    """After a lost connection, connect and subscribe again (with backoff) until stopped."""

    async def reconnect() -> None:
        await bridge.connect()
        await bridge.subscribe(topics)

    await keep_connected(
        stop,
        reconnect,
        bridge.wait_disconnected,
        ReconnectBackoff(RECONNECT_MIN, RECONNECT_MAX),
        failures=(MqttError,),
        where=bridge.where,
        logger=log,
        connected=True,  # main() connected and subscribed; its failure there ends the watch
    )


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM, so both end the watch cleanly (disconnect, last picture)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop

"""``edge-agent heartbeat <name> -c FILE [--dry-run]``: one heartbeat to one endpoint, or its preview.

``--dry-run`` prints, as JSON, the exact request the endpoint's next beat would send
(method, URL, headers with secrets masked, body) and sends nothing; it reads the store
when one exists (a registered Xyte device previews its telemetry, an unregistered one
its registration) but never creates or writes it. Without ``--dry-run`` it sends one
heartbeat with the real store, so tokens, ids and queued actions persist exactly as they
would in the agent, and prints the outcome and the parsed reply. Events the beat raises
are printed too and, when ``[mqtt]`` is configured, owed to the broker through the outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Optional

from edge_agent.cli.common import add_config_argument, load_or_report
from edge_agent.config import Config
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.model import Event, Snapshot, SystemClock

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the endpoint: <name> of a [heartbeats.<name>] table")
    add_config_argument(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the request as JSON (secrets masked) and send nothing",
    )


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return EXIT_USAGE
    endpoint = config.heartbeats.get(args.name)
    if endpoint is None:
        known = ", ".join(sorted(config.heartbeats)) or "none"
        print(f"error: no [heartbeats.{args.name}] in the config (endpoints: {known})", file=sys.stderr)
        return EXIT_USAGE
    from edge_agent.vendors import adapter_class

    try:
        adapter_class(endpoint.vendor)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    snapshot = _collect(config)
    if args.dry_run:
        return _preview(config, args.name, snapshot)
    return _send(config, args.name, snapshot)


def _collect(config: Config) -> Optional[Snapshot]:
    from edge_agent.collectors import MetricsCollector

    return MetricsCollector.from_config(config, SystemClock()).collect()


def _preview(config: Config, name: str, snapshot: Optional[Snapshot]) -> int:
    from edge_agent.heartbeat import MemoryContext, default_headers, state_namespace
    from edge_agent.store import Store
    from edge_agent.vendors import adapter_class

    endpoint = config.heartbeats[name]
    state: dict[str, Any] = {}
    if config.storage.path.exists():
        try:
            store = Store(config.storage.path)
        except EdgeAgentError as exc:
            print(f"warning: cannot read the store ({exc}); previewing without it", file=sys.stderr)
        else:
            state = store.state.items(state_namespace(name))
            store.close()
    context = MemoryContext(name, SystemClock(), state, device_id=config.device.id)
    adapter = adapter_class(endpoint.vendor)(name, endpoint, context)
    request, note = adapter.preview(snapshot)
    shown: dict[str, Any] = {"endpoint": name, "vendor": endpoint.vendor}
    shown.update(request.to_display(default_headers()))
    if note:
        shown["note"] = note
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return EXIT_OK


def _send(config: Config, name: str, snapshot: Optional[Snapshot]) -> int:
    from edge_agent.heartbeat import HeartbeatEngine
    from edge_agent.store import Store

    try:
        store = Store(config.storage.path, outbox_max=config.storage.outbox_max)
    except EdgeAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    events: list[Event] = []
    outcomes: list[dict[str, Any]] = []
    engine = HeartbeatEngine(
        config, store, SystemClock(), lambda: snapshot, lambda _name, o: outcomes.append(o), events.append
    )

    async def once() -> Any:
        try:
            return await engine.beat_once(name)
        finally:
            await engine.aclose()

    try:
        result = asyncio.run(once())
        _owe_events(config, store, events)
    finally:
        store.close()
    printed = {
        "outcome": outcomes[-1],
        "reply": result.reply.summary if result.reply is not None else None,
        "skipped": list(result.reply.skipped) if result.reply is not None else [],
        "events": [event.to_json() for event in events],
    }
    print(json.dumps(printed, indent=2, ensure_ascii=False, default=str))
    return EXIT_OK if result.ok else EXIT_FAILED


def _owe_events(config: Config, store: Any, events: list[Event]) -> None:
    """Hand the beat's events to the outbox, so the agent publishes them with its next connection."""
    if config.mqtt is None or not events:
        return
    from edge_agent.mqtt.topics import Topics

    topic = Topics(config.mqtt.topic_prefix, config.device.id).events
    for event in events:
        store.outbox.add(topic, json.dumps(event.to_json()).encode("utf-8"), qos=1)

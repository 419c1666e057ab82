"""``edge-agent status -c FILE [--json]``: what the local agent is doing, read from its store.

The store is the agent's durable memory, so this works whether or not the agent is
running, without a broker: the last outcome of each heartbeat endpoint, what is owed to
the broker, vendor backlogs, the pending and recent actions, and the last time a corrupt
store was moved aside (``store_reset``: when, why, the moved file). SQLite's WAL lets it
read while the agent writes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import Any, Optional

from edge_agent.cli.common import add_config_argument, load_or_report

RECENT_ACTIONS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return 2
    path = config.storage.path
    if not path.exists():
        print(f"no store at {path}: the agent has not run with this config yet", file=sys.stderr)
        return 1
    from edge_agent.errors import StoreError
    from edge_agent.store import Store

    try:
        # Never the one to move a store aside: that is the agent's call, and it tells MQTT.
        store = Store(path, outbox_max=config.storage.outbox_max, open_wait=5.0, move_corrupt_aside=False)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        report = gather(store, config)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=False))
    else:
        print(render(report))
    return 0


def gather(store: Any, config: Any) -> dict[str, Any]:
    """Everything ``status`` shows, as JSON-able data."""
    agent = store.state.items("agent")
    pid = agent.get("pid")
    heartbeats = {name: agent.get(f"heartbeat:{name}") for name in config.heartbeats}
    return {
        "store": str(store.path),
        "store_schema": store.schema_version,
        "device": config.device.id,
        "agent": {
            "version": agent.get("version"),
            "started": agent.get("started"),
            "stopped": agent.get("stopped"),
            "pid": pid,
            "running": bool(pid) and agent.get("stopped") is None and _alive(int(pid)),
        },
        "outbox": {"depth": store.outbox.depth(), "dropped": store.outbox.dropped()},
        "store_reset": _store_reset(agent.get("store_reset")),
        "heartbeats": heartbeats,
        "backlogs": {name: store.queues.length(f"heartbeat:{name}") for name in config.heartbeats},
        "actions": {
            "pending": [_action(entry) for entry in store.journal.in_state("received", "running")],
            "recent": [_action(entry) for entry in store.journal.recent(RECENT_ACTIONS)],
        },
    }


def _store_reset(reset: Any) -> Optional[dict[str, Any]]:
    """The last time a corrupt store was moved aside: when, why, and the moved file's name."""
    if not isinstance(reset, dict):
        return None
    return {key: reset.get(key) for key in ("time", "reason", "file", "reported")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user (the edge-agent service user)
        return True
    return True


def _action(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.action_id,
        "type": entry.type,
        "source": entry.source,
        "state": entry.state,
        "received": _iso(entry.received),
        "updated": _iso(entry.updated),
        **{key: entry.detail[key] for key in ("exit_code", "duration_s", "reason") if key in entry.detail},
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def render(report: dict[str, Any]) -> str:
    """The report for a person: one line per fact."""
    agent = report["agent"]
    lines = [f"device {report['device']}  (store {report['store']})"]
    if agent["started"]:
        stopped = agent["stopped"] or "unexpectedly"
        state = "running" if agent["running"] else f"not running (stopped {stopped})"
        lines.append(f"agent {agent['version']} started {agent['started']}, pid {agent['pid']}: {state}")
    else:
        lines.append("agent: has not started with this store")
    reset = report.get("store_reset")
    if reset:
        told = "told on MQTT" if reset.get("reported") else "not yet told on MQTT"
        lines.append(
            f"store reset at {reset['time']}: {reset['reason']}; the old file is {reset['file']} ({told})"
        )
    outbox = report["outbox"]
    lines.append(f"outbox: {outbox['depth']} event(s) owed to the broker, {outbox['dropped']} dropped (full)")
    lines.append("heartbeats:" if report["heartbeats"] else "heartbeats: none configured")
    for name, outcome in report["heartbeats"].items():
        backlog = report["backlogs"].get(name, 0)
        extra = f", {backlog} unacknowledged event(s)" if backlog else ""
        lines.append(f"  {name}: {_outcome_text(outcome)}{extra}")
    actions = report["actions"]
    lines.append(f"actions pending: {len(actions['pending'])}")
    for action in actions["pending"]:
        lines.append(f"  {action['id']} {action['type']} from {action['source']}: {action['state']}")
    lines.append("recent actions:" if actions["recent"] else "recent actions: none")
    for action in actions["recent"]:
        detail = f" (exit {action['exit_code']})" if "exit_code" in action else ""
        reason = f": {action['reason']}" if action.get("reason") else ""
        what = f"{action['type']} {action['id']} {action['state']}"
        lines.append(f"  {action['updated']} {what}{detail}{reason}")
    return "\n".join(lines)


def _outcome_text(outcome: Any) -> str:
    if not isinstance(outcome, dict):
        return "no heartbeat yet"
    vendor = outcome.get("vendor", "?")
    when = outcome.get("time", "?")
    if outcome.get("ok"):
        return f"{vendor} ok (HTTP {outcome.get('status')}, {outcome.get('latency_ms')} ms) at {when}"
    return f"{vendor} error at {when}: {outcome.get('error')}"

"""Watch benchmark: how many fleet messages per second ``edge-agent watch`` keeps up with, and its memory.

Feeds synthetic devices' messages (shaped exactly as agents publish them: a full state
snapshot of about 1 KB, status, two heartbeat outcomes, action events) through
:class:`~edge_agent.fleet.FleetView` and each renderer writing to a ``StringIO``, with no
broker, so the figures are the watcher's own cost. For each fleet size it prints:

* the start-up burst (every device's retained status, state and heartbeats), messages/s;
* steady traffic (each device: a new state, a heartbeat outcome, and one in ten an action
  event), messages/s through the view alone and with each renderer drawing every
  ``--batch`` messages (as the live view draws once per refresh period);
* memory per device (tracemalloc: the rows, their cells and the sorted id list).

Usage: ``.venv/bin/python bench/watch_bench.py [--devices 2000 10000] [--rounds 3] [--batch 2000]``
"""

from __future__ import annotations

import argparse
import io
import json
import time
import tracemalloc
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Callable

from edge_agent.fleet.table import ChangeLog, JsonLines, TerminalTable
from edge_agent.fleet.view import FleetView
from edge_agent.model import Snapshot, format_utc

START = datetime(2030, 1, 1, tzinfo=timezone.utc)
Message = tuple[str, bytes, bool]


class SteppingClock:
    """Wall-clock time that moves a millisecond per reading: cheap and deterministic."""

    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current


def device_id(n: int) -> str:
    return f"site-{n % 37:02d}-device-{n:06d}"


def state_payload(n: int, round_no: int) -> bytes:
    snapshot = Snapshot(
        timestamp=START + timedelta(seconds=30 * round_no),
        cpu_percent=float((n * 7 + round_no * 13) % 100),
        load_1m=0.42,
        load_5m=0.38,
        load_15m=0.30,
        memory_total_bytes=4_000_000_000,
        memory_available_bytes=1_500_000_000 + n,
        memory_free_percent=37.5,
        temperatures={"cpu-thermal": 40.0 + (n + round_no) % 30, "gpu": 45.5},
        battery_percent=float(n % 100),
        charging=n % 2 == 0,
        wifi_signal_dbm=-40.0 - n % 50,
        wifi_link_mbps=72.2,
        uptime_s=3600.0 * 24,
        ip="10.0.0.1",
        mac="02:00:00:00:00:01",
    )
    body = snapshot.to_json()
    body["agent"] = {"version": "1.4.0", "started": format_utc(START)}
    body["heartbeats"] = {name: outcome(n, round_no, name) for name in ("iptv", "hub")}
    return json.dumps(body).encode()


def outcome(n: int, round_no: int, name: str) -> dict[str, object]:
    ok = (n + round_no) % 20 != 0
    return {
        "endpoint": name,
        "vendor": "telecomx" if name == "iptv" else "xyte",
        "ok": ok,
        "status": 200 if ok else 503,
        "latency_ms": 12.3,
        "time": format_utc(START + timedelta(seconds=30 * round_no)),
        "error": None if ok else "HTTP 503",
        "actions": 0,
        "next_in_s": 30.0,
    }


def startup_messages(devices: int) -> list[Message]:
    messages: list[Message] = []
    for n in range(devices):
        base = f"edge/{device_id(n)}"
        messages.append((f"{base}/status", b"offline" if n % 25 == 0 else b"online", True))
        messages.append((f"{base}/state", state_payload(n, 0), True))
        for name in ("iptv", "hub"):
            messages.append((f"{base}/heartbeat/{name}", json.dumps(outcome(n, 0, name)).encode(), True))
    return messages


def steady_messages(devices: int, rounds: int) -> list[Message]:
    messages: list[Message] = []
    for round_no in range(1, rounds + 1):
        for n in range(devices):
            base = f"edge/{device_id(n)}"
            messages.append((f"{base}/state", state_payload(n, round_no), False))
            messages.append(
                (f"{base}/heartbeat/iptv", json.dumps(outcome(n, round_no, "iptv")).encode(), False)
            )
            if n % 10 == round_no % 10:
                action = {"id": f"e{n}-{round_no}", "time": format_utc(START), "type": "action.succeeded"}
                action.update(
                    action_id=f"a{n}-{round_no}", action_type="MESSAGE", state="succeeded", exit_code=0
                )
                messages.append((f"{base}/events", json.dumps(action).encode(), False))
    return messages


def feed(view: FleetView, messages: Iterable[Message], draw: Callable[[], None], batch: int) -> float:
    """Seconds to feed every message, drawing every ``batch`` messages and once at the end."""
    started = time.perf_counter()
    for count, (topic, payload, retain) in enumerate(messages, 1):
        view.feed(topic, payload, retain)
        if count % batch == 0:
            draw()
    draw()
    return time.perf_counter() - started


def renderers() -> dict[str, Callable[[io.StringIO], object]]:
    return {
        "view only": lambda out: None,
        "terminal (200x50)": lambda out: TerminalTable(out, lambda: (200, 50)),
        "change log (pipe)": lambda out: ChangeLog(out),
        "NDJSON (--json)": lambda out: JsonLines(out),
    }


def drawer(view: FleetView, renderer: object, out: io.StringIO, clock: SteppingClock) -> Callable[[], None]:
    """One refresh: the renderer draws what changed (or, with none, the dirty set is just taken)."""

    def draw() -> None:
        if renderer is None:
            view.take_dirty()
        else:
            renderer.draw(view, 0.0, clock.now())  # type: ignore[attr-defined]
        out.seek(0)
        out.truncate()

    return draw


def run_size(devices: int, rounds: int, batch: int) -> None:
    startup = startup_messages(devices)
    steady = steady_messages(devices, rounds)
    print(f"\n{devices:,} devices: {len(startup):,} start-up messages, {len(steady):,} steady messages")
    for name, make in renderers().items():
        clock = SteppingClock()
        view = FleetView("edge", clock)
        out = io.StringIO()
        draw = drawer(view, make(out), out, clock)
        first = feed(view, startup, draw, batch)
        then = feed(view, steady, draw, batch)
        assert len(view) == devices and view.malformed == 0
        print(
            f"  {name:<18} start-up {len(startup) / first:>9,.0f} msg/s"
            f"   steady {len(steady) / then:>9,.0f} msg/s"
        )
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    view = FleetView("edge", SteppingClock())
    for topic, payload, retain in startup:
        view.feed(topic, payload, retain)
    for topic, payload, retain in steady:
        view.feed(topic, payload, retain)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"  memory: {used / devices:,.0f} bytes per device ({used / 1e6:.1f} MB for {devices:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--rounds", type=int, default=3, help="steady reports per device (default: 3)")
    parser.add_argument("--batch", type=int, default=2000, help="messages between two draws (default: 2000)")
    args = parser.parse_args()
    for devices in args.devices:
        run_size(devices, args.rounds, args.batch)


if __name__ == "__main__":
    main()

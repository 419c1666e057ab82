"""Shared helpers of the vendor tests: fake clock, sample snapshots, config tables, the engine harness.

A module of its own name (not ``conftest``), so test files import it unambiguously
when the whole suite runs and several folders have a conftest.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from support.clock import FakeClock

from edge_agent.config import Config, parse_config
from edge_agent.heartbeat import HeartbeatEngine
from edge_agent.model import AppInfo, Event, Snapshot
from edge_agent.store import Store

TOKEN = "12345678901234567890ABCD"
HARDWARE_KEY = "hw-key-model-7"
SAFETY_NET_S = 30.0
START = datetime(2026, 11, 25, 1, 2, 3, 456000, tzinfo=timezone.utc)


def sample_snapshot(clock: FakeClock) -> Snapshot:
    """A tablet that can tell everything the Snapshot holds."""
    return Snapshot(
        timestamp=clock.now(),
        cpu_percent=12.34,
        load_1m=0.5,
        memory_total_bytes=2_000_000_000,
        memory_available_bytes=832_000_000,
        memory_free_percent=41.6,
        temperatures={"cpu": 41.5, "gpu": 38.0, "battery": 30.25},
        battery_percent=87.0,
        charging=True,
        wifi_signal_dbm=-61.0,
        wifi_link_mbps=72.2,
        uptime_s=12345.6,
        ip="192.168.1.20",
        mac="aa:bb:cc:dd:ee:ff",
        rtt_ms=23.4,
        packet_loss_percent=0.5,
        awake=True,
        apps={
            "dk.telecomx.tv": AppInfo("dk.telecomx.tv", True, "Telecom X TV", "2.0.4", 204),
            "com.android.raider": AppInfo("com.android.raider", False),
        },
    )


class Recorder:
    """Collects what the engine hands the agent: outcomes per endpoint and events."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, dict[str, Any]]] = []
        self.events: list[Event] = []

    def on_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        self.outcomes.append((name, outcome))

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def outcomes_of(self, name: str) -> list[dict[str, Any]]:
        return [outcome for endpoint, outcome in self.outcomes if endpoint == name]

    def events_of(self, event_type: str) -> list[Event]:
        return [event for event in self.events if event.type == event_type]


def write_config(tmp_path: Path, heartbeats: str, store_name: str = "agent.db") -> Config:
    """A config file with the given ``[heartbeats.*]`` tables and a store under ``tmp_path``."""
    text = f'[device]\nid = "tablet-1"\n\n[storage]\npath = "{tmp_path / store_name}"\n\n{heartbeats}'
    path = tmp_path / "edge-agent.toml"
    path.write_text(text, encoding="utf-8")
    return parse_config(text, path)


def telecomx_table(url: str, name: str = "tx", **extra: str) -> str:
    lines = [
        f"[heartbeats.{name}]",
        'vendor = "telecomx"',
        f'url = "{url}/iptv/app/heartbeat"',
        f'token = "{TOKEN}"',
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n\n"


def xyte_table(url: str, name: str = "xy", **extra: str) -> str:
    lines = [
        f"[heartbeats.{name}]",
        'vendor = "xyte"',
        f'entry_url = "{url}"',
        f'hardware_key = "{HARDWARE_KEY}"',
        'sn = "SN-0001"',
        'mac = "AA:BB:CC:DD:EE:FF"',
        'firmware_version = "1.2.0"',
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n\n"


class Harness:
    """An engine over a real store file, with the recorder and the fake clock wired in."""

    def __init__(self, config: Config, clock: FakeClock, snapshot: Optional[Snapshot]) -> None:
        self.config = config
        self.clock = clock
        self.snapshot = snapshot
        self.recorder = Recorder()
        self.store = Store(config.storage.path)
        self.engine = self._engine()

    def _engine(
        self, on_outcome: Optional[Callable[[str, dict[str, Any]], None]] = None, **kwargs: Any
    ) -> HeartbeatEngine:
        return HeartbeatEngine(
            self.config,
            self.store,
            self.clock,
            lambda: self.snapshot,
            on_outcome or self.recorder.on_outcome,
            self.recorder.on_event,
            **kwargs,
        )

    def run(self, until: Callable[[Recorder], bool], *, shutdown: bool = False) -> list[float]:
        """Run the engine's schedule until ``until(recorder)`` holds; returns every pause it asked for.

        Pauses move the fake clock instead of waiting, so minutes of schedule take
        milliseconds. The asyncio timeout is only a safety net against a hung test.
        """
        pauses: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            pauses.append(seconds)
            self.clock.advance(seconds)
            await asyncio.sleep(0)

        async def main() -> None:
            stop = asyncio.Event()

            def on_outcome(name: str, outcome: dict[str, Any]) -> None:
                self.recorder.on_outcome(name, outcome)
                if until(self.recorder):
                    stop.set()

            self.engine = self._engine(on_outcome, rng=random.Random(4), sleep=fake_sleep)
            try:
                await asyncio.wait_for(self.engine.run(stop), SAFETY_NET_S)
            finally:
                if shutdown:
                    await self.engine.shutdown()
                await self.engine.aclose()

        asyncio.run(main())
        return pauses

    def beat(self, name: str) -> dict[str, Any]:
        """One beat of ``name``, as the CLI does it; returns its outcome."""

        async def once() -> dict[str, Any]:
            try:
                return (await self.engine.beat_once(name)).outcome(None)
            finally:
                await self.engine.aclose()

        return asyncio.run(once())

    def restart(self) -> None:
        """What a reboot does: a new process, a new Store on the same file, a new engine."""
        self.store.close()
        self.store = Store(self.config.storage.path)
        self.engine = self._engine()

    def close(self) -> None:
        self.store.close()

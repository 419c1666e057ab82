"""What the agent writes to its store (an SD card on a Pi) for heartbeat outcomes.

An outcome that says what the stored one says (only its time, latency and next beat
differ) is not committed again on every beat: it waits until it says something new,
:data:`OUTCOME_REFRESH_S` has passed, or the agent stops. ``edge-agent status`` reads
the store, so what it shows is checked through the store itself.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge_agent.agent import OUTCOME_REFRESH_S, STATUS_NAMESPACE, Agent
from edge_agent.config import parse_config
from edge_agent.model import Snapshot
from edge_agent.mqtt.publisher import NullPublisher
from edge_agent.store import Store


class Clock:
    def __init__(self) -> None:
        self.mono = 100.0

    def now(self) -> datetime:
        return datetime(2026, 11, 25, tzinfo=timezone.utc) + timedelta(seconds=self.mono)

    def monotonic(self) -> float:
        return self.mono


class Collector:
    def collect(self) -> Snapshot:
        raise AssertionError("not called: the test does not run the snapshot loop")


def outcome(time: str, ok: bool = True, latency_ms: float = 12.5) -> dict[str, Any]:
    return {
        "endpoint": "iptv",
        "vendor": "telecomx",
        "ok": ok,
        "status": 200 if ok else 503,
        "latency_ms": latency_ms,
        "time": time,
        "error": None if ok else "HTTP 503",
        "actions": 0,
        "next_in_s": 10.0,
    }


def agent_with_store(tmp_path: Path) -> tuple[Agent, Store, Clock]:
    config = parse_config(f'[storage]\npath = "{tmp_path / "agent.db"}"\n', tmp_path / "edge-agent.toml")
    store = Store(tmp_path / "agent.db")
    clock = Clock()
    agent = Agent(config, store=store, collector=Collector(), clock=clock, publisher=NullPublisher())
    return agent, store, clock


def stored(tmp_path: Path) -> Any:
    """The outcome as another process (``edge-agent status``) reads it from the file."""
    reader = Store(tmp_path / "agent.db")
    try:
        return reader.state.get(STATUS_NAMESPACE, "heartbeat:iptv")
    finally:
        reader.close()


def test_an_unchanged_outcome_is_not_committed_again_until_the_refresh(tmp_path: Path) -> None:
    agent, store, clock = agent_with_store(tmp_path)
    agent.set_heartbeat_outcome("iptv", outcome("t1"))
    assert stored(tmp_path) == outcome("t1")

    clock.mono += 10
    agent.set_heartbeat_outcome("iptv", outcome("t2", latency_ms=30.0))
    assert stored(tmp_path) == outcome("t1"), "a beat that only moved in time was written"

    clock.mono += OUTCOME_REFRESH_S
    agent.set_heartbeat_outcome("iptv", outcome("t3"))
    assert stored(tmp_path) == outcome("t3"), "past the refresh interval the outcome is written"
    store.close()


def test_an_outcome_that_says_something_new_is_committed_at_once(tmp_path: Path) -> None:
    agent, store, clock = agent_with_store(tmp_path)
    agent.set_heartbeat_outcome("iptv", outcome("t1"))
    clock.mono += 10
    agent.set_heartbeat_outcome("iptv", outcome("t2", ok=False))
    assert stored(tmp_path) == outcome("t2", ok=False)
    clock.mono += 10
    agent.set_heartbeat_outcome("iptv", outcome("t3"))
    assert stored(tmp_path) == outcome("t3")
    store.close()


def test_the_last_outcome_is_written_when_the_agent_stops(tmp_path: Path) -> None:
    agent, _store, clock = agent_with_store(tmp_path)

    async def run_and_stop() -> None:
        stop = asyncio.Event()
        running = asyncio.ensure_future(agent.run(stop))
        await asyncio.sleep(0)
        agent.set_heartbeat_outcome("iptv", outcome("t1"))
        clock.mono += 10
        agent.set_heartbeat_outcome("iptv", outcome("t2"))
        stop.set()
        await running

    asyncio.run(run_and_stop())
    assert stored(tmp_path) == outcome("t2")

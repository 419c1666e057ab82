"""A heartbeat engine is made (its code imported) only after the first snapshot (issue 15)."""

from __future__ import annotations

import asyncio
from typing import Any

from edge_agent.assembly import AfterFirstSnapshot


class FakeAgent:
    def __init__(self) -> None:
        self.first = asyncio.Event()

    async def wait_for_first_snapshot(self, timeout: float) -> None:
        await asyncio.wait_for(self.first.wait(), timeout)


class Recorded:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        calls.append("made")

    async def run(self, stop: asyncio.Event) -> None:
        self.calls.append("run")
        await stop.wait()

    async def shutdown(self) -> None:
        self.calls.append("shutdown")


def test_the_service_is_made_when_the_first_snapshot_exists_and_not_before() -> None:
    calls: list[str] = []

    async def main() -> None:
        agent, stop = FakeAgent(), asyncio.Event()
        deferred = AfterFirstSnapshot(agent, lambda: Recorded(calls), 30.0)  # type: ignore[arg-type]
        task = asyncio.ensure_future(deferred.run(stop))
        for _ in range(5):
            await asyncio.sleep(0)
        assert calls == []
        agent.first.set()
        while "run" not in calls:
            await asyncio.sleep(0)
        stop.set()
        await task
        await deferred.shutdown()

    asyncio.run(main())
    assert calls == ["made", "run", "shutdown"]


def test_a_stop_before_the_first_snapshot_still_makes_it_for_its_goodbye() -> None:
    calls: list[str] = []

    async def main() -> Any:
        agent, stop = FakeAgent(), asyncio.Event()
        deferred = AfterFirstSnapshot(agent, lambda: Recorded(calls), 30.0)  # type: ignore[arg-type]
        task = asyncio.ensure_future(deferred.run(stop))
        await asyncio.sleep(0)
        stop.set()
        agent.first.set()  # the snapshot comes with the stop: the service never runs
        await task
        await deferred.shutdown()

    asyncio.run(main())
    assert calls == ["made", "shutdown"]

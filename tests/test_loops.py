"""The shared waiting of every loop: stop-aware sleep, backoff, and the keep-connected loop.

The mirror and ``watch`` both stay connected through :func:`keep_connected`; these tests pin
its order of attempts and waits, which both relied on when each had its own copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Callable

import pytest

from edge_agent.errors import MqttConnectError
from edge_agent.loops import ReconnectBackoff, capped_exponential, keep_connected, stopped_within

log = logging.getLogger("test_loops")


class RecordingBackoff(ReconnectBackoff):
    """A backoff with no randomness (each delay is three times the last) that notes its calls."""

    def __init__(self, calls: list[str]) -> None:
        super().__init__(0.001, 0.02, random=lambda: 1.0)
        self.calls = calls

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.calls.append(f"wait {delay:g}")
        return delay

    def reset(self) -> None:
        super().reset()
        self.calls.append("reset")


def run(coroutine: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coroutine(), 30.0))


def test_stopped_within_says_whether_stop_was_set() -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        assert await stopped_within(stop, 0.001) is False
        asyncio.get_running_loop().call_soon(stop.set)
        assert await stopped_within(stop, None) is True  # None: as long as it takes
        assert await stopped_within(stop, 0.0) is True  # already set: true even with no time left

    run(scenario)


def test_capped_exponential_doubles_up_to_the_cap() -> None:
    assert [capped_exponential(0.5, 3.0, n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert capped_exponential(0.5, 3.0, 10**6) == 3.0  # no overflow after a long outage


def test_failed_connects_wait_longer_each_time_and_a_short_connection_does_not_reset() -> None:
    calls: list[str] = []
    outcomes = ["fail", "fail", "ok", "ok"]

    async def scenario() -> None:
        stop = asyncio.Event()
        served = 0

        async def connect() -> None:
            outcome = outcomes.pop(0)
            calls.append(f"connect {outcome}")
            if outcome == "fail":
                raise MqttConnectError("broker refused")

        async def serve() -> str:
            nonlocal served
            served += 1
            calls.append("serve")
            if served == 2:
                stop.set()
            return "connection lost"

        await keep_connected(
            stop, connect, serve, RecordingBackoff(calls), failures=(MqttConnectError,),
            where="127.0.0.1:1", logger=log, monotonic=lambda: 0.0, held=60.0,
        )  # fmt: skip

    run(scenario)
    assert calls == [
        "connect fail",
        "wait 0.003",
        "connect fail",
        "wait 0.009",
        "connect ok",
        "serve",
        "wait 0.02",  # the connection did not hold: no reset, the waits keep growing (capped)
        "connect ok",
        "serve",  # stop was set while serving: no further wait, no reconnect
    ]


def test_a_connection_that_held_resets_the_backoff_and_connected_starts_by_serving() -> None:
    calls: list[str] = []
    now = [0.0]

    async def scenario() -> None:
        stop = asyncio.Event()
        served = 0

        async def connect() -> None:
            calls.append("connect")

        async def serve() -> str:
            nonlocal served
            served += 1
            calls.append("serve")
            now[0] += 10.0  # each connection lasts 10 s
            if served == 3:
                stop.set()
            return "connection lost"

        backoff = RecordingBackoff(calls)
        backoff.next_delay()  # an earlier outage left the backoff grown
        calls.clear()
        await keep_connected(
            stop, connect, serve, backoff, failures=(MqttConnectError,), where="127.0.0.1:1",
            logger=log, monotonic=lambda: now[0], held=10.0, connected=True,
        )  # fmt: skip

    run(scenario)
    assert calls == [
        "serve",
        "reset",
        "wait 0.003",
        "connect",
        "serve",
        "reset",
        "wait 0.003",
        "connect",
        "serve",
    ]


def test_an_unexpected_error_of_connect_is_not_retried() -> None:
    async def scenario() -> None:
        async def connect() -> None:
            raise RuntimeError("a bug")

        async def serve() -> str:
            raise AssertionError("never connected, never served")

        await keep_connected(
            asyncio.Event(), connect, serve, ReconnectBackoff(0.001, 0.01),
            failures=(MqttConnectError,), where="127.0.0.1:1", logger=log,
        )  # fmt: skip

    with pytest.raises(RuntimeError, match="a bug"):
        run(scenario)

"""The shared waiting of every loop: stop-aware sleep, backoff, and the keep-connected loop.

The mirror and ``watch`` both stay connected through :func:`keep_connected`; these tests pin
its order of attempts and waits, which both relied on when each had its own copy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable
from typing import Callable, Optional

import pytest

from edge_agent.errors import MqttConnectError
from edge_agent.loops import ReconnectBackoff, Ticker, capped_exponential, keep_connected, stopped_within

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


# -- Ticker: blocking work every interval on a thread of its own --------------------------

Delivered = tuple[Optional[int], Optional[Exception], float, int]


async def tick(
    work: Callable[[], int], interval: float, until: Callable[[list[Delivered]], bool]
) -> list[Delivered]:
    """Run a Ticker until ``until(delivered)``; each delivery with the thread it was handed on."""
    delivered: list[Delivered] = []
    ticker: Ticker[int] = Ticker(work, interval, name="test-ticker")
    ended = ticker.start(
        asyncio.get_running_loop(),
        lambda outcome, error, due: delivered.append((outcome, error, due, threading.get_ident())),
    )
    deadline = time.monotonic() + 30
    while not until(delivered) and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    ticker.stop()
    await asyncio.wait_for(ended, 30)
    return delivered


def test_a_ticker_hands_each_outcome_to_the_loop_in_order_and_goes_on_after_an_error() -> None:
    calls: list[int] = []
    workers: set[int] = set()

    def work() -> int:
        workers.add(threading.get_ident())
        calls.append(len(calls) + 1)
        if calls[-1] == 2:
            raise ValueError("a collector's bug")
        return calls[-1]

    delivered = asyncio.run(tick(work, 0.01, lambda seen: len(seen) >= 4))
    assert [outcome for outcome, *_ in delivered[:4]] == [1, None, 3, 4]
    assert isinstance(delivered[1][1], ValueError) and delivered[0][1] is None
    dues = [due for _, _, due, _ in delivered]
    assert all(later >= earlier + 0.01 for earlier, later in zip(dues, dues[1:]))
    assert len(delivered) == len(calls)  # a call under way at the stop is delivered too
    loop_thread = threading.get_ident()
    assert {thread for *_, thread in delivered} == {loop_thread}  # delivered on the loop
    assert loop_thread not in workers  # the work itself never ran on it


def test_a_ticker_whose_work_blocks_never_stalls_the_loop() -> None:
    """A wedged read stalls the ticker's thread only: the loop runs on, and gets the outcome later."""
    release = threading.Event()

    async def scenario() -> tuple[int, list[Delivered]]:
        loop_turns = 0

        def work() -> int:
            release.wait(30)
            return 7

        ticker: Ticker[int] = Ticker(work, 0.01)
        delivered: list[Delivered] = []
        ended = ticker.start(asyncio.get_running_loop(), lambda *args: delivered.append((*args, 0)))
        while loop_turns < 20:  # the loop goes round while the work is blocked
            await asyncio.sleep(0.001)
            loop_turns += 1
        turns_while_blocked = loop_turns if not delivered else -1
        ticker.stop()
        release.set()
        await asyncio.wait_for(ended, 30)
        return turns_while_blocked, delivered

    turns, delivered = asyncio.run(scenario())
    assert turns == 20
    assert [outcome for outcome, *_ in delivered] == [7]


def test_a_postponed_ticker_does_not_call_before_the_new_time_and_a_stopped_one_not_at_all() -> None:
    async def scenario() -> tuple[list[float], float, list[Delivered]]:
        called: list[float] = []

        def work() -> int:
            called.append(time.monotonic())
            return len(called)

        ticker: Ticker[int] = Ticker(work, 0.01)
        delivered: list[Delivered] = []
        postponed_to = 0.0

        def deliver(outcome: Optional[int], error: Optional[Exception], due: float) -> None:
            nonlocal postponed_to
            delivered.append((outcome, error, due, 0))
            if len(delivered) == 1:
                postponed_to = due + 0.2  # a backoff after a failure
                ticker.postpone(postponed_to)
                assert ticker.due == postponed_to

        ended = ticker.start(asyncio.get_running_loop(), deliver)
        deadline = time.monotonic() + 30
        while len(delivered) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        ticker.stop()
        await asyncio.wait_for(ended, 30)
        # the thread has ended: no call can follow; each call was delivered
        assert len(called) == len(delivered)
        return called, postponed_to, delivered

    called, postponed_to, delivered = asyncio.run(scenario())
    assert called[1] >= postponed_to
    assert delivered[1][2] == postponed_to

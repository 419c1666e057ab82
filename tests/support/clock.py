"""The one fake clock of the tests: time moves only when the test (or the fake sleep) says so."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

START = datetime(2026, 11, 25, 1, 2, 3, 456000, tzinfo=timezone.utc)
"""A fixed wall time with milliseconds, so formats that drop or round them show it."""


class FakeClock:
    """Wall and monotonic time (the agent's ``Clock``) that move together, and only on ``advance``.

    ``monotonic`` is where the monotonic reading starts: not 0 by default, so code that takes
    0 for "never" is not fooled by a clock that just started.
    """

    def __init__(self, start: datetime = START, *, monotonic: float = 1000.0) -> None:
        self._now = start
        self._mono = monotonic

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        """An asyncio sleep that takes no real time: the clock jumps ahead instead."""
        self.advance(seconds)
        await asyncio.sleep(0)

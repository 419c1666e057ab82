"""How long to wait before the next attempt to reach the broker.

Capped exponential backoff with "decorrelated jitter" (each delay is drawn between the
minimum and three times the previous one, then capped): when a broker restarts, a fleet
that lost it at the same instant does not come back at the same instant, and a device
never waits longer than ``maximum``. Randomness is passed in, so tests can pin it.
"""

from __future__ import annotations

import random as _random
from typing import Callable


class ReconnectBackoff:
    """Delays between ``minimum`` and ``maximum`` seconds that grow while attempts keep failing."""

    def __init__(self, minimum: float, maximum: float, random: Callable[[], float] = _random.random) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError("need 0 < minimum <= maximum")
        self.minimum = minimum
        self.maximum = maximum
        self._random = random
        self._previous = minimum

    def next_delay(self) -> float:
        """The wait before the next attempt; each call is one more failure."""
        upper = min(self.maximum, self._previous * 3)
        delay = self.minimum + self._random() * (upper - self.minimum)
        self._previous = min(self.maximum, max(self.minimum, delay))
        return self._previous

    def reset(self) -> None:
        """A connection succeeded: the next outage starts again from short waits."""
        self._previous = self.minimum

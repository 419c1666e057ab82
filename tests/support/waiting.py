"""The one way tests wait for something another thread or process causes: poll a condition.

Never a fixed sleep: the wait ends as soon as the condition holds, and the timeout only
guards against a hang (it is generous on purpose; a slow CI machine must not fail a test).
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(what: str, check: Callable[[], T], timeout: float = 30.0, every: float = 0.1) -> T:
    """Call ``check`` every ``every`` s until it returns something true, and return that.

    Raises AssertionError naming ``what`` after ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)

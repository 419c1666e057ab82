"""The benchmark's CPU figure: to the nanosecond where it can be, in clock ticks where it must.

Issue 15's CPU goals compare a few hundredths of a second over a 3-minute window; in clock
ticks one tick moved a ratio by 15 %. ``CpuSample`` reads each thread's ``schedstat`` and
falls back to the process's ticks only when a thread's time would otherwise be lost.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def rig() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        found = importlib.util.spec_from_file_location("bench_agent_rig", BENCH / "agent_rig.py")
        assert found is not None and found.loader is not None
        module = importlib.util.module_from_spec(found)
        found.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_with_every_thread_still_there_the_threads_nanoseconds_count(rig: ModuleType) -> None:
    tick = rig.CLOCK_TICK_S
    earlier = rig.CpuSample(ticks=10, threads={1: 1_000_000_000, 2: 5_000_000})
    later = rig.CpuSample(ticks=11, threads={1: 1_004_000_000, 2: 8_000_000, 3: 2_500_000})
    # 4 ms + 3 ms + the new thread's 2.5 ms, not the one tick the process's total moved
    assert later.seconds_since(earlier) == pytest.approx(0.0095)
    assert abs(later.seconds_since(earlier) - tick) > 0.0001


def test_a_thread_that_ended_makes_it_count_the_processs_ticks(rig: ModuleType) -> None:
    earlier = rig.CpuSample(ticks=10, threads={1: 1_000_000_000, 2: 5_000_000})
    later = rig.CpuSample(ticks=13, threads={1: 1_004_000_000})
    assert later.seconds_since(earlier) == pytest.approx(3 * rig.CLOCK_TICK_S)


def test_a_thread_that_came_and_went_between_samples_makes_it_count_ticks(rig: ModuleType) -> None:
    earlier = rig.CpuSample(ticks=10, threads={1: 1_000_000_000})
    later = rig.CpuSample(ticks=60, threads={1: 1_004_000_000})  # 0.5 s in ticks, 4 ms in threads
    assert later.seconds_since(earlier) == pytest.approx(50 * rig.CLOCK_TICK_S)


def test_a_real_process_reads_the_same_both_ways_within_a_tick_or_two(rig: ModuleType) -> None:
    """Against the kernel: this process, a thread kept alive, a known amount of work between."""
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        earlier = rig.cpu_sample(os.getpid())
        assert threading.get_native_id() in earlier.threads and len(earlier.threads) >= 2
        total = 0
        for number in range(5_000_000):
            total += number * number
        later = rig.cpu_sample(os.getpid())
    finally:
        stop.set()
        helper.join()
    precise = later.seconds_since(earlier)
    coarse = (later.ticks - earlier.ticks) * rig.CLOCK_TICK_S
    assert precise > 10 * rig.CLOCK_TICK_S and total > 0
    # apart by the ticks' truncation (utime and stime, at each end) and by a running thread's
    # schedstat lagging until the scheduler's next tick: far less than a wrong field or unit
    assert abs(precise - coarse) <= 5 * rig.CLOCK_TICK_S

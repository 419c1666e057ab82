"""The first ``/proc/stat`` reading of the process, so the first CPU figure needs no extra wait.

CPU usage is a delta between two reads of ``/proc/stat``. A fresh process has no earlier
read, so its first figure used to cost a 0.2 s sleep between two reads: that sleep was a
third of ``edge-agent run``'s time to its first retained state and half of what
``edge-agent metrics`` takes. Instead, ``run`` and ``metrics`` read the aggregate ``cpu``
line first thing (:func:`take`, before importing pydantic and validating the config),
and the CPU collector measures its first figure from that read: a real delta over the
start-up, however long it took (on a Pi Zero, seconds; here a few tenths). The process's
own CPU time over that window (its imports and validation; ``os.times()``, which an exec
keeps) is counted as idle, as the sleeping process was during the old sample, so the
figure is the device's load, not the agent's start-up. When fewer than the collector's
minimum of ticks passed, or the counters went backwards, the collector takes its short
sample as before.

``run`` replaces itself with a fresh interpreter (:mod:`edge_agent.cli.run`): the read
goes along in the environment (:data:`ENV`, popped by :func:`take` in the new process),
so the window starts at the first process's start. It holds only tick counters.

Nothing here imports anything beyond ``os``: it runs before everything else.
"""

from __future__ import annotations

import os
from typing import Optional

STAT = "/proc/stat"
ENV = "EDGE_AGENT_CPU_START"
"""The first process's read, handed to the interpreter that ``run`` replaces itself with."""
HANDED_WITH = "EDGE_AGENT_PLAIN_CONFIG_FD"
"""Set by ``run`` for the same exec (``edge_agent.cli.run.PLAIN_CONFIG_FD``): without it, a
:data:`ENV` in the environment is a stray (a shell's, a parent's) and is ignored."""

StartRead = tuple[str, float]
"""The aggregate ``cpu`` line of ``/proc/stat``, and this process's own CPU seconds when it was read."""

_read: Optional[StartRead] = None


def own_cpu_seconds() -> float:
    """This process's user + system CPU time (an exec keeps counting it)."""
    times = os.times()
    return times.user + times.system


def take() -> None:
    """Keep the aggregate ``cpu`` line of ``/proc/stat`` now, or the one handed over by :data:`ENV`."""
    global _read
    handed = os.environ.pop(ENV, None)
    if handed is not None and HANDED_WITH in os.environ:
        own, _, line = handed.partition(";")
        try:
            _read = (line, float(own)) if line.startswith("cpu ") else None
        except ValueError:
            _read = None
        if _read is not None:
            return
    try:
        with open(STAT, "rb") as handle:
            first = handle.readline().decode("ascii", "replace").strip()
    except OSError:  # Android 8+ denies /proc/stat to apps: the collector says so itself
        return
    if first.startswith("cpu "):
        _read = (first, own_cpu_seconds())


def handover() -> dict[str, str]:
    """The environment entry that gives the read to an interpreter this process execs (or nothing)."""
    return {ENV: f"{_read[1]!r};{_read[0]}"} if _read is not None else {}


def consume() -> Optional[StartRead]:
    """The read, once: a collector built later (after a SIGHUP reload) starts without it."""
    global _read
    read, _read = _read, None
    return read

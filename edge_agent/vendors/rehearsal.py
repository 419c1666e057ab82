"""One vendor's part in an end-to-end run of the whole agent, told by its ``endpoint.py``.

The end-to-end test starts every registered vendor's simulator and the agent against
them, and checks that every endpoint beats ok. What only one vendor does (Telecom X asks
for actions, Xyte sends a command, the PBX pushes reports, the AI-box platform sends a
strategy) is the vendor's own knowledge, so its folder says what to stage, what to wait
for and what must hold afterwards; the test runs every vendor's :class:`Rehearsal` the
same way and names none of them. This module is for the tests and the demo only: the
running agent never imports an ``endpoint.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional, Protocol


class Observed(Protocol):
    """What the test saw on the broker, topics relative to ``<prefix>/<device id>/``."""

    def messages(self, topic: str) -> list[Any]:
        """Every JSON payload seen on ``topic``, in arrival order."""

    def last(self, topic: str) -> Optional[Any]:
        """The last JSON payload seen on ``topic`` (a retained one too), or None."""


Probe = Callable[[Observed], Any]


@dataclass(frozen=True)
class Step:
    """``do``: run it; ``wait``: wait until it returns something truthy; ``check``: it must, now."""

    kind: Literal["do", "wait", "check"]
    what: str
    probe: Probe


def do(what: str, probe: Probe) -> Step:
    return Step("do", what, probe)


def wait(what: str, probe: Probe) -> Step:
    return Step("wait", what, probe)


def check(what: str, probe: Probe) -> Step:
    return Step("check", what, probe)


@dataclass(frozen=True)
class Expected:
    """An action the vendor makes the agent run: its type and the parameters it carries."""

    type: str
    params: Mapping[str, str] = field(default_factory=dict)


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Rehearsal:
    """What the end-to-end run does with one vendor, and what it must see.

    ``seeded``: actions the simulator asks for as ``seed_demo`` left it; ``staged``: those
    ``stage`` and ``steps`` add. The test runs every one of them exactly once, whatever
    their vendor.
    """

    stage: Callable[[], None] = _nothing
    """Before the agent starts: queue work in the simulator."""
    steps: tuple[Step, ...] = ()
    """While the agent runs, after every endpoint beat ok; in order."""
    after_stop: tuple[Step, ...] = ()
    """Checks once the agent has stopped (its goodbye beats are done)."""
    seeded: tuple[Expected, ...] = ()
    staged: tuple[Expected, ...] = ()

"""Round-trip time and packet loss to the configured ``host:port`` targets, without root.

Each probe is a TCP connect: the kernel's SYN and the peer's answer are one round trip,
measured from ``connect()`` to its return. What counts as what, decided so the figures
describe the network rather than the service:

* a completed connect is a reply;
* a *refused* connect (RST) is a reply too: the peer's kernel answered, so the round
  trip happened, even though nothing listens on that port;
* a timeout, an unreachable network or host, or a name that does not resolve is a loss.

``rtt_ms`` is the mean of the replies (0.1 ms), ``packet_loss_percent`` the share of
probes lost, over all targets together. Targets are probed in parallel threads, each
target's probes one after another, and the whole family stops waiting after
``rtt_probes x rtt_timeout`` plus one ``rtt_timeout`` for name resolution: a target still
unanswered then (a hung DNS lookup) counts as lost, so a cycle stays bounded.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Optional

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.model import Clock

KEYS = ("rtt_ms", "packet_loss_percent")


@dataclass(frozen=True)
class ProbeOutcome:
    """The replies (ms) and losses of one target's probes, and why the last loss happened."""

    replies_ms: tuple[float, ...]
    lost: int
    loss_reason: Optional[str] = None


def split_target(target: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:443"`` for IPv6) as (host, port); the config checked the form."""
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


def probe_target(target: str, probes: int, timeout: float, clock: Clock) -> ProbeOutcome:
    """Resolve ``target`` once, then connect to it ``probes`` times in a row."""
    host, port = split_target(target)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        return ProbeOutcome((), probes, f"{target}: cannot resolve ({exc})")
    replies: list[float] = []
    reason: Optional[str] = None
    for _ in range(probes):
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            started = clock.monotonic()
            try:
                sock.connect(address)
            except ConnectionRefusedError:
                pass  # the peer's kernel answered: a round trip (see the module docstring)
            except socket.timeout:
                reason = f"{target}: no answer within {timeout:g} s"
                continue
            except OSError as exc:
                reason = f"{target}: {exc.strerror or exc}"
                continue
            replies.append((clock.monotonic() - started) * 1000.0)
    return ProbeOutcome(tuple(replies), probes - len(replies), reason)


def probe_all(targets: Sequence[str], probes: int, timeout: float, clock: Clock) -> list[ProbeOutcome]:
    """Probe every target in its own thread; give up on stragglers at the bound."""
    outcomes: dict[int, ProbeOutcome] = {}

    def run(index: int, target: str) -> None:
        outcomes[index] = probe_target(target, probes, timeout, clock)

    threads = [
        threading.Thread(target=run, args=(index, target), name=f"rtt-{target}", daemon=True)
        for index, target in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    deadline = clock.monotonic() + probes * timeout + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - clock.monotonic()))
    finished = dict(outcomes)
    return [
        finished.get(index, ProbeOutcome((), probes, f"{target}: no answer in time"))
        for index, target in enumerate(targets)
    ]


def summarise(outcomes: Sequence[ProbeOutcome], reading: Reading) -> None:
    """Fill ``rtt_ms`` and ``packet_loss_percent`` of ``reading`` from all targets' outcomes."""
    replies = [ms for outcome in outcomes for ms in outcome.replies_ms]
    lost = sum(outcome.lost for outcome in outcomes)
    total = len(replies) + lost
    reading.values["packet_loss_percent"] = round(100.0 * lost / total, 1)
    if replies:
        reading.values["rtt_ms"] = round(sum(replies) / len(replies), 1)
    else:
        reasons = "; ".join(outcome.loss_reason for outcome in outcomes if outcome.loss_reason)
        reading.mark_unavailable(("rtt_ms",), f"no reply from any target ({reasons})")


class RttCollector:
    """TCP-connect round trip and loss to ``[metrics] rtt_targets``."""

    keys: ClassVar[tuple[str, ...]] = KEYS

    def __init__(self, context: CollectorContext) -> None:
        self._targets = tuple(context.config.rtt_targets)
        self._probes = context.config.rtt_probes
        self._timeout = context.config.rtt_timeout
        self._clock = context.clock
        self.may_wait = bool(self._targets)

    def read(self) -> Reading:
        reading = Reading()
        if not self._targets:
            reading.mark_unavailable(KEYS, "no rtt_targets configured")
            return reading
        summarise(probe_all(self._targets, self._probes, self._timeout, self._clock), reading)
        return reading

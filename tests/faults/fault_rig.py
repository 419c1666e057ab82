"""The world a fault test runs the agent in, and the eyes it judges the agent with.

The agent runs as users run it (``python -m edge_agent run -c FILE``, a process of its
own) against a mosquitto started by the test and every registered vendor's simulator in
the test process (``tests/support/vendor_world.py``, generated from the registry).
Between the agent and the broker sits a :class:`NetGate`, so a test can cut the network,
or decide when the agent may reach a restarted broker again (after the subscriber is
back, so it misses nothing). Everything is judged from the outside: a plain
subscriber connected straight to the broker, the simulators' records, the stand-in action
program's log, ``edge-agent status`` and ``/proc/<pid>``.

The config is the end-to-end one with faster failure handling, so a fault test sees a
failure and its recovery within seconds: 1 s heartbeats and timeouts, backoff from 0.2 s
to 1 s, and what each vendor's ``endpoint.py`` adds in its ``FAST_FAILURES`` (2 s for an
AI-box Ack, the shortest PubNub presence); the AI-box platform asks for its 5 s minimum
interval (its ``prepare``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

from mqtt_agent_process import AgentProcess
from mqtt_brokers import BrokerProcess, mosquitto
from mqtt_watch import Watcher
from net_gate import NetGate
from support.vendor_world import DEVICE_ID, ENDPOINTS, VendorWorld
from support.waiting import wait_until

T = TypeVar("T")
BASE = f"edge/{DEVICE_ID}"
# The end-to-end stand-in starts a Python per action; under load that caps the runner at a
# few actions a second, slower than the fault tests queue them. This one is shell builtins
# only, and writes the same JSON argv lines (the tests' arguments hold no quotes).
QUICK_ACTION_PROGRAM = """#!/bin/sh
line="[" sep=""
for arg in "$@"; do line="$line$sep\\"$arg\\"" sep=", "; done
printf '%s]\\n' "$line" >> {log}
"""


def fault_config(world: VendorWorld, broker_port: int) -> str:
    """The end-to-end config with every endpoint failing fast, so a fault test sees recovery soon."""
    return world.config(
        broker_port, profile="none", reconnect_max=1, endpoint_extra=world.fast_failure_extra()
    )


@contextlib.contextmanager
def environment(extra: dict[str, str]) -> Iterator[None]:
    """``extra`` in the environment of the processes started inside (the agent), then gone again."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Rig:
    """One agent process, its broker behind a gate, the simulators and a subscriber."""

    def __init__(self, workdir: Path, *, agent_env: Optional[dict[str, str]] = None) -> None:
        self.workdir = workdir
        self.world = VendorWorld(workdir)
        self.world.action_program.write_text(QUICK_ACTION_PROGRAM.format(log=self.world.action_log))
        self.broker: BrokerProcess = mosquitto(workdir).start()
        self.gate = NetGate(self.broker.port)
        self.watcher = Watcher(self.broker.port, [f"{BASE}/#"])
        self.config = workdir / "agent.toml"
        self.config.write_text(fault_config(self.world, self.gate.port))
        self.agent_env = agent_env or {}
        self.agent: Optional[AgentProcess] = None
        self.kills = 0

    # -- the agent's life -----------------------------------------------------------------

    def start_agent(self) -> AgentProcess:
        with environment(self.agent_env):
            self.agent = AgentProcess(self.config, self.workdir / "agent.log")
        return self.agent

    def kill_agent(self) -> None:
        assert self.agent is not None
        self.agent.kill()
        self.kills += 1

    def stop_agent(self) -> int:
        assert self.agent is not None
        return self.agent.terminate()

    def close(self) -> None:
        if self.agent is not None:
            self.agent.kill()
        self.watcher.close()
        self.gate.close()
        self.broker.kill()
        self.world.close()

    # -- what the subscriber saw ----------------------------------------------------------

    def outcomes(self, endpoint: str) -> list[dict[str, Any]]:
        """Every heartbeat outcome of ``endpoint`` mirrored while the subscriber listened."""
        return [seen.json() for seen in self.watcher.seen if seen.topic == f"{BASE}/heartbeat/{endpoint}"]

    def marks(self) -> dict[str, int]:
        """How many outcomes each endpoint has so far: "from now on" for the waits below."""
        return {name: len(self.outcomes(name)) for name in ENDPOINTS}

    def wait_every_vendor_ok(self, since: Optional[dict[str, int]] = None, timeout: float = 30.0) -> None:
        """Every endpoint has a successful beat after ``since``."""
        since = since or dict.fromkeys(ENDPOINTS, 0)

        def all_ok() -> bool:
            return all(any(o["ok"] for o in self.outcomes(name)[since[name] :]) for name in ENDPOINTS)

        wait_until(f"an ok beat from every vendor; last outcomes: {self._last_outcomes()}", all_ok, timeout)

    def wait_failed_then_ok(self, names: list[str], since: dict[str, int], timeout: float = 40.0) -> None:
        """Each of ``names`` reported a failed beat after ``since``, and a good one after that."""

        def recovered(name: str) -> bool:
            later = self.outcomes(name)[since[name] :]
            failed = next((i for i, o in enumerate(later) if not o["ok"]), None)
            return failed is not None and any(o["ok"] for o in later[failed + 1 :])

        wait_until(
            f"a failure and a recovery of {names}; last outcomes: {self._last_outcomes()}",
            lambda: all(recovered(name) for name in names),
            timeout,
        )

    def _last_outcomes(self) -> dict[str, Any]:
        return {
            name: (o[-1]["ok"], o[-1]["error"]) if (o := self.outcomes(name)) else None for name in ENDPOINTS
        }

    def events(self, event_type: Optional[str] = None) -> list[dict[str, Any]]:
        return self.watcher.events(f"{BASE}/events", event_type)

    def pbx_reports(self) -> list[dict[str, Any]]:
        return [seen.json() for seen in self.watcher.seen if seen.topic == f"{BASE}/pbx/pbx"]

    # -- the process from the outside -----------------------------------------------------

    def rss_mb(self) -> float:
        assert self.agent is not None
        return proc_rss_mb(self.agent.process.pid)

    def cpu_s(self) -> float:
        assert self.agent is not None
        return proc_cpu_s(self.agent.process.pid)

    def status(self) -> dict[str, Any]:
        """``edge-agent status --json``, as an operator runs it."""
        result = subprocess.run(
            [sys.executable, "-m", "edge_agent", "status", "-c", str(self.config), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def proc_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB, from ``/proc/<pid>/status`` (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_arrivals(items: list[T], key: Callable[[T], Any]) -> tuple[list[T], Counter[Any]]:
    """``items`` without repeats (first arrival kept, in arrival order), and how often each repeated."""
    seen: Counter[Any] = Counter(key(item) for item in items)
    kept: list[T] = []
    taken: set[Any] = set()
    for item in items:
        if key(item) not in taken:
            taken.add(key(item))
            kept.append(item)
    return kept, Counter({k: n - 1 for k, n in seen.items() if n > 1})


class Feeder:
    """Runs ``step(i)`` for i = 0, 1, 2 ... in a thread until stopped; for traffic during faults."""

    def __init__(self, step: Callable[[int], None], every: float) -> None:
        self.count = 0
        self._step = step
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: Optional[BaseException] = None
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step(self.count)
            except AssertionError as exc:  # a wait inside the step gave up: report it, stop feeding
                self.error = exc
                return
            self.count += 1
            self._stop.wait(self._every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=60)
        if self.error is not None:
            raise self.error
        return self.count


class ReportPusher:
    """The PBX pushing event reports with a sequence number, one at a time, each until answered 200.

    A report answered 200 is durable in the agent (it writes before it answers), so it is
    owed to the broker: the subscriber must see it, in the order pushed.
    """

    def __init__(self, world: VendorWorld) -> None:
        self.pbx = world.apps["yeastar"]
        self.delivered: list[int] = []

    def push(self, seq: int) -> None:
        self.pbx.push_report({"action": "NewCdr", "seq": seq}, attempts=1200, interval=0.05)
        if not self.pbx.wait_reports_delivered(timeout=90):
            raise AssertionError(f"report {seq} was not delivered: {self.pbx.report_attempts()[-1]}")
        self.delivered.append(seq)

"""The whole agent as a user runs it, for the benchmarks that measure it from the outside.

A mosquitto on 127.0.0.1 and a free port, every registered vendor's simulator in this
process (generated from the registry by :mod:`edge_agent.demo.vendor_world`, as the demo's
and the tests' worlds are, so a new vendor is benchmarked without an edit here),
a config file for ``python -m edge_agent run``, a plain MQTT subscriber that counts what
arrives, and the process's resident memory and CPU seconds from ``/proc/<pid>``.
Shared by ``agent_bench.py`` and ``soak.py``; nothing here prints.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple, Optional

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.demo.vendor_world import SimulatedVendors
from edge_agent.demo.world import free_port
from edge_agent.vendors.place import Place
from edge_agent.vendors.registry import VENDOR_NAMES

MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")
SELECTED: list[str] = list(VENDOR_NAMES)
"""The vendors a benchmark starts and configures: every registered one unless
:func:`select_vendors` chose fewer (to compare with a run made before a vendor was added)."""


def select_vendors(names: Optional[str]) -> list[str]:
    """Limit the benchmark to the comma-separated ``names`` (None: every registered vendor)."""
    if names:
        chosen = [name.strip() for name in names.split(",") if name.strip()]
        unknown = sorted(set(chosen) - set(VENDOR_NAMES))
        if unknown:
            raise SystemExit(
                f"--vendors: not registered: {', '.join(unknown)} (known: {', '.join(VENDOR_NAMES)})"
            )
        SELECTED[:] = [name for name in VENDOR_NAMES if name in chosen]
    return SELECTED


DEFAULTS_FOR = ("timeout", "response_timeout")
"""The demo tunes these short; the bench leaves them at the config's defaults, as a user would."""


def wait_for(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


class Mosquitto:
    """A private broker: one listener on 127.0.0.1, no persistence."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for("mosquitto", listening, 10)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class Simulators(SimulatedVendors):
    """Every registered vendor's server on loopback, seeded with demo credentials.

    ``heartbeat_interval``: a platform that names the interval itself (the AI-box Ack)
    asks for this one (at least its protocol's minimum).
    """

    def __init__(self, heartbeat_interval: int) -> None:
        started = SimulatedVendors.start(interval=heartbeat_interval, record_limit=100, vendors=SELECTED)
        super().__init__(started.servers, started.credentials)
        self.report_port = free_port()


def agent_config(
    workdir: Path,
    broker_port: int,
    *,
    device_id: str,
    metrics_interval: float,
    sims: Optional[Simulators] = None,
    heartbeat_interval: Optional[float] = 10,
    report_port: Optional[int] = None,
) -> Path:
    """A config for one agent; with ``sims``, every vendor beats every ``heartbeat_interval`` s.

    ``heartbeat_interval=None`` leaves every endpoint at its vendor's default interval;
    ``report_port`` is where a vendor that pushes to the agent finds it (the PBX; default
    ``sims.report_port``: one agent). Each agent is its own device (serial ``SN-<id>``).
    """
    text = f"""
[device]
id = "{device_id}"

[metrics]
interval = {metrics_interval}

[mqtt]
host = "127.0.0.1"
port = {broker_port}

[storage]
path = "{workdir / (device_id + ".db")}"

[actions]
profile = "none"
allow = ["MESSAGE"]

[actions.commands]
MESSAGE = ["/bin/true", "{{message}}"]
"""
    if sims is not None:
        place = Place(device_id, report_port or sims.report_port, serial=f"SN-{device_id}")
        defaults = (*DEFAULTS_FOR, "interval") if heartbeat_interval is None else DEFAULTS_FOR
        text += "\n" + sims.heartbeat_toml(place, interval=heartbeat_interval, defaults_for=defaults)
    path = workdir / f"{device_id}.toml"
    path.write_text(text)
    return path


CLOCK_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


class CpuSample(NamedTuple):
    """A process's CPU time at one moment, two ways (a NamedTuple, not a dataclass: tests load
    this file by path, outside ``sys.modules``, where a dataclass cannot be made).

    ``ticks``: utime + stime of ``/proc/<pid>/stat``, the whole process's, the time of
    threads that have ended included, but in clock ticks (10 ms). At a 10 s interval an
    agent uses about 0.07 s in a 3-minute window: seven ticks, so one tick more or less
    moved a ratio by 15 % (issue 15's CPU goals were judged on that). ``threads``: each
    live thread's time on a CPU in nanoseconds (``/proc/<pid>/task/<tid>/schedstat``),
    exact, but a thread that has ended is no longer there.
    """

    ticks: int
    threads: dict[int, int]

    def seconds_since(self, earlier: CpuSample) -> float:
        """CPU seconds used between ``earlier`` and this sample: to the nanosecond while no
        thread ended in between, else in ticks (only the process's total keeps their time)."""
        coarse = (self.ticks - earlier.ticks) * CLOCK_TICK_S
        if not self.threads or not earlier.threads.keys() <= self.threads.keys():
            return coarse
        precise = sum(ns - earlier.threads.get(tid, 0) for tid, ns in self.threads.items()) / 1e9
        # The ticks are two truncated figures (utime, stime) at each end: up to 3 ticks below.
        if coarse - precise > 3 * CLOCK_TICK_S:  # a thread started and ended in between
            return coarse
        return precise


def cpu_ticks(pid: int) -> int:
    """utime + stime of process ``pid``, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_sample(pid: int) -> CpuSample:
    """Process ``pid``'s CPU time now, both ways (see :class:`CpuSample`)."""
    threads: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            threads[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # the thread ended, or no schedstat here
            continue
    return CpuSample(cpu_ticks(pid), threads)


class Measured:
    """A process started for a benchmark, watched through ``/proc/<pid>``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: Optional[dict[str, str]] = None,
        cwd: Optional[Path] = None,
    ) -> None:
        self.name = name
        self.started = time.monotonic()
        with open(log, "ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def write_bytes(self) -> int:
        """Bytes this process caused to be written to storage (``/proc/<pid>/io`` ``write_bytes``)."""
        for line in Path(f"/proc/{self.pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
        return 0

    def cpu_s(self) -> float:
        """CPU seconds used so far (utime + stime, in clock ticks: see :class:`CpuSample`)."""
        return cpu_ticks(self.pid) * CLOCK_TICK_S

    def cpu_sample(self) -> CpuSample:
        return cpu_sample(self.pid)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_agent(config: Path, log: Path, name: str = "edge-agent", src: Optional[Path] = None) -> Measured:
    """``python -m edge_agent run``; with ``src``, the ``edge_agent`` package found under that folder
    (e.g. an older checkout, for a before/after in one run) instead of the installed one."""
    argv = [sys.executable, "-m", "edge_agent", "--log-level", "warning", "run", "-c", str(config)]
    env = None
    if src is not None:
        env = {**os.environ, "PYTHONPATH": str(src)}
    # `-m` puts the working directory first on sys.path: started from the repository, the agent
    # would run the checkout's edge_agent, not src's, whatever PYTHONPATH says. So it starts in src.
    return Measured(name, argv, log, env=env, cwd=src)


def start_floor(port: int, interval: float, log: Path, topic: str) -> Measured:
    """``bench/floor.py``: the bare reads, ``json.dumps`` and a QoS 1 publish every ``interval`` s."""
    floor = Path(__file__).with_name("floor.py")
    argv = [sys.executable, str(floor), "--port", str(port), "--interval", str(interval), "--topic", topic]
    return Measured(f"bare-reads floor ({interval:g} s)", argv, log)


class Subscriber:
    """A plain subscriber on ``topics``: counts messages per topic and notes when each first came."""

    def __init__(self, port: int, topics: list[str]) -> None:
        self.counts: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self.payloads: list[tuple[str, bytes]] = []
        self.keep_payloads_of: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}-{free_port()}")
        self.client.on_connect = lambda client, *_: client.subscribe([(topic, 1) for topic in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise SystemExit("the benchmark's subscriber could not subscribe")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self.counts[message.topic] += 1
            self.first_seen.setdefault(message.topic, now)
            if message.topic.endswith(self.keep_payloads_of) and self.keep_payloads_of:
                self.payloads.append((message.topic, bytes(message.payload)))

    def total(self, prefix: str = "") -> int:
        with self._lock:
            return sum(n for topic, n in self.counts.items() if topic.startswith(prefix))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def outbox_depth(config: Path) -> Optional[int]:
    """``edge-agent status --json``'s outbox depth, as an operator would read it."""
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        return None
    return int(json.loads(result.stdout)["outbox"]["depth"])

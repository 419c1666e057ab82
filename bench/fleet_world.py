"""What bench/fleet.py runs its simulated devices in: a broker, the vendor simulators, and the devices.

Every device is the real agent as ``edge-agent run`` builds it (``build_agent``: the
MQTT mirror with its own client id, SQLite store and outbox, the heartbeat engine with
its own HTTP client and schedule, the action runner), all on one asyncio loop. One
thing is shared: the snapshot. 2,000 devices on one machine would otherwise read the
same /proc 2,000 times per interval, which measures the machine, not the agent; so one
real collector is read at most every ``max_age`` seconds and every device publishes that
snapshot (each with its own ``agent`` block and heartbeat outcomes).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from edge_agent.agent import Agent
from edge_agent.assembly import build_agent
from edge_agent.collectors import MetricsCollector
from edge_agent.config import Config
from edge_agent.demo.world import free_port
from edge_agent.model import Snapshot, SystemClock

MOSQUITTO = Path(os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto"))
HERE = Path(__file__).resolve().parent
PREFIX = "fleet"


def raise_fd_limit() -> int:
    """Every device holds an MQTT socket, an HTTP connection and SQLite files: lift the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """mosquitto on a free loopback port, sized for a fleet: no connection cap, long queues."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_connections -1\nmax_queued_messages 100000\nset_tcp_nodelay true\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    log = open(workdir / "mosquitto.log", "wb")  # noqa: SIM115 - the broker's log for its lifetime
    process = subprocess.Popen([str(MOSQUITTO), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"mosquitto did not start: {(workdir / 'mosquitto.log').read_text()}")
        time.sleep(0.05)
    return process, port


class Simulators:
    """bench/fleet_sims.py as a child process: the Telecom X and PubNub simulators."""

    def __init__(self, telecomx_devices: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "fleet_sims.py"), "--telecomx-devices", str(telecomx_devices)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        hello = json.loads(self.process.stdout.readline())
        self.urls: dict[str, str] = hello["urls"]
        self.pubnub_keys: dict[str, str] = hello["pubnub"]

    def counts(self) -> dict[str, dict[str, int]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("counts\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


class SharedSnapshots:
    """One real MetricsCollector for the whole fleet, read at most every ``max_age`` seconds."""

    def __init__(self, config: Config, max_age: float) -> None:
        self._collector = MetricsCollector.from_config(config, SystemClock())
        self._max_age = max_age
        self._lock = threading.Lock()
        self._latest: Optional[Snapshot] = None
        self._taken = float("-inf")
        self.reads = 0

    def collect(self) -> Snapshot:
        with self._lock:
            if self._latest is None or time.monotonic() - self._taken >= self._max_age:
                self._latest = self._collector.collect()
                self._taken = time.monotonic()
                self.reads += 1
            return self._latest


def device_config(index: int, workdir: Path, port: int, interval: float, sims: Simulators) -> Config:
    """Device ``index``: even ones beat Telecom X (their own token), odd ones PubNub Presence."""
    device_id = f"dev-{index:05d}"
    if index % 2 == 0:
        from fleet_sims import telecomx_token

        heartbeat: dict[str, Any] = {
            "vendor": "telecomx",
            "url": f"{sims.urls['telecomx']}/iptv/app/heartbeat",
            "token": telecomx_token(index // 2),
            "interval": interval,
        }
        name = "iptv"
    else:
        heartbeat = {
            "vendor": "pubnub",
            "origin": sims.urls["pubnub"],
            "subscribe_key": sims.pubnub_keys["subscribe_key"],
            "publish_key": sims.pubnub_keys["publish_key"],
            "secret_key": sims.pubnub_keys["secret_key"],
            "channels": ["fleet"],
            "interval": interval,
        }
        name = "presence"
    return Config.model_validate(
        {
            "device": {"id": device_id},
            "metrics": {"interval": interval},
            "mqtt": {"host": "127.0.0.1", "port": port, "topic_prefix": PREFIX, "keepalive": 60},
            "storage": {"path": str(workdir / f"{device_id}.db")},
            "actions": {"profile": "none"},
            "heartbeats": {name: heartbeat},
        }
    )


def build_device(config: Config, snapshots: SharedSnapshots) -> Agent:
    """The agent ``edge-agent run`` would run for ``config``, reading the fleet's shared snapshot."""
    agent = build_agent(config)
    agent.collector = snapshots
    return agent


def rss_kb(pid: Optional[int] = None) -> int:
    """Resident memory of a process (ours by default), from /proc."""
    path = f"/proc/{pid or 'self'}/status"
    with open(path) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks

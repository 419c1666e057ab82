"""Loops that never die, and a watchdog fed only while every loop is alive.

* a heartbeat endpoint whose work raises something that is not a vendor error (a store
  that cannot be written on a full disk) has a failed beat, mirrored ``ok: false``, and
  beats on;
* a PBX report listener that cannot bind at start retries (``loop.error``) instead of
  stopping the agent; a collector's bug costs one snapshot;
* the systemd watchdog (a real notify socket) stops being fed when a loop hangs (a
  collector blocked on a wedged file), and is fed again when it comes back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Optional

import pytest
from fault_rig import Rig
from mqtt_agent_process import AgentProcess, agent_config
from mqtt_brokers import have_mosquitto, mosquitto
from storage_faults import Filler, tiny_disk
from support.vendor_world import DEVICE_ID, free_port
from support.waiting import wait_until

from edge_agent.agent import Agent
from edge_agent.collectors import MetricsCollector
from edge_agent.config import parse_config
from edge_agent.loops import IDLE_BEAT
from edge_agent.model import Snapshot, SystemClock
from edge_agent.mqtt.publisher import NullPublisher
from edge_agent.store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"
needs_mosquitto = pytest.mark.skipif(not have_mosquitto(), reason="mosquitto is not installed")


# -- 6. loops that never die --------------------------------------------------------------------


def rig_on_a_tiny_disk(tmp_path: Path, disk: Path) -> Rig:
    rig = Rig(tmp_path)
    text = rig.config.read_text()
    old = f'path = "{tmp_path / "agent.db"}"'
    assert old in text
    rig.config.write_text(text.replace(old, f'path = "{disk / "agent.db"}"'))
    return rig


@needs_mosquitto
def test_a_full_disk_costs_the_heartbeat_loops_nothing_but_what_cannot_be_kept(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk", size="2m") as disk:
        rig = rig_on_a_tiny_disk(tmp_path, disk)
        try:
            rig.start_agent()
            rig.wait_every_vendor_ok()
            filler = Filler(disk)
            filler.fill()
            full = rig.marks()
            # Every endpoint keeps beating and mirroring its outcome while nothing can be written.
            wait_until(
                f"three more outcomes of every endpoint on a full disk; {rig.marks()} since {full}",
                lambda: all(len(rig.outcomes(name)) >= full[name] + 3 for name in full),
                timeout=90,
            )
            assert rig.events("store.degraded"), "the degradation was not told"
            # What could not be kept is a failed beat, mirrored ok: false and told, with its kind.
            failed = [o for name in full for o in rig.outcomes(name)[full[name] :] if not o["ok"]]
            assert failed and any("full" in str(o["error"]) for o in failed), failed[:3]
            assert any(e["kind"] == "StoreError" for e in rig.events("heartbeat.error"))
            assert rig.agent is not None and rig.agent.process.poll() is None
            filler.free()
            freed = rig.marks()
            rig.wait_every_vendor_ok(since=freed, timeout=60)
            wait_until("store.recovered", lambda: rig.events("store.recovered"), timeout=60)
            assert rig.agent.process.poll() is None
        finally:
            rig.close()


@needs_mosquitto
def test_a_report_listener_that_cannot_bind_retries_instead_of_stopping_the_agent(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", rig.world.report_port))
    squatter.listen(1)
    try:
        agent = rig.start_agent()
        errors = wait_until(
            "a loop.error of the report listener",
            lambda: [e for e in rig.events("loop.error") if e["loop"] == "report-listener:pbx"],
        )
        assert "cannot listen" in errors[0]["error"]
        assert agent.process.poll() is None, agent.text()
        squatter.close()
        rig.wait_every_vendor_ok()  # the PBX reports only while the agent's token is valid
        pbx = rig.world.apps["yeastar"]
        pbx.push_report({"action": "NewCdr", "seq": 1}, attempts=600, interval=0.1)
        assert pbx.wait_reports_delivered(timeout=90), pbx.report_attempts()
        wait_until("the report on MQTT", lambda: rig.pbx_reports())
        assert agent.process.poll() is None
    finally:
        squatter.close()
        rig.close()


class OnceBrokenCollector:
    """The real collector, with one bug on its second call (as a collector's bug would show)."""

    def __init__(self, real: MetricsCollector) -> None:
        self.real = real
        self.calls = 0

    def collect(self) -> Snapshot:
        self.calls += 1
        if self.calls == 2:
            raise RecursionError("maximum recursion depth exceeded while reading a sensor")
        return self.real.collect()


def test_a_collector_bug_costs_one_snapshot_not_the_snapshot_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        f'[device]\nid = "{DEVICE_ID}"\n\n[metrics]\ninterval = 0.05\nhost_root = "{FIXTURES / "pi4"}"\n\n'
        f'[storage]\npath = "{tmp_path / "agent.db"}"\n',
        tmp_path / "agent.toml",
    )
    clock = SystemClock()
    collector = OnceBrokenCollector(MetricsCollector.from_config(config, clock))
    agent = Agent(
        config, store=Store(config.storage.path), collector=collector, clock=clock, publisher=NullPublisher()
    )

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.ensure_future(agent.run(stop))
        deadline = time.monotonic() + 30
        while collector.calls < 5 and time.monotonic() < deadline and not running.done():
            await asyncio.sleep(0.02)
        stop.set()
        await running

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    assert collector.calls >= 5, "the snapshot loop ended at the collector's bug"
    assert any("loop.error" in r.getMessage() and "RecursionError" in r.getMessage() for r in caplog.records)


# -- 7. the watchdog is fed only while every loop is alive ----------------------------------------


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket, and every message the agent sent to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        self.sock.settimeout(0.2)
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._cond:
                self.messages.append((time.monotonic(), data.decode()))
                self._cond.notify_all()

    def pings_after(self, moment: float) -> int:
        with self._cond:
            return sum(1 for when, text in self.messages if when > moment and text == "WATCHDOG=1")

    def first(self, prefix: str) -> Optional[float]:
        with self._cond:
            return next((when for when, text in self.messages if text.startswith(prefix)), None)

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=5)
        self.sock.close()


WATCHDOG_S = 2.0


def start_with_watchdog(config: Path, tmp_path: Path, notify: NotifySocket) -> AgentProcess:
    """The agent as systemd starts it with ``WatchdogSec=2``: NOTIFY_SOCKET and WATCHDOG_USEC set."""
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000))}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return AgentProcess(config, tmp_path / "agent.log")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_a_hung_loop_stops_the_watchdog_pings_and_they_resume_when_it_is_back(tmp_path: Path) -> None:
    root = tmp_path / "host"
    shutil.copytree(FIXTURES / "pi4", root, symlinks=True)
    uptime = root / "proc" / "uptime"
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[device]\nid = "{DEVICE_ID}"\n\n[metrics]\ninterval = 0.5\ncommand_timeout = 0.5\n'
        f'host_root = "{root}"\n\n[storage]\npath = "{tmp_path / "agent.db"}"\n'
    )
    notify = NotifySocket(tmp_path / "notify")
    agent = start_with_watchdog(config, tmp_path, notify)
    fifo = root / "proc" / "uptime.wedged"
    try:
        wait_until("READY=1", lambda: notify.first("READY=1"))
        start = time.monotonic()
        wait_until("watchdog pings", lambda: notify.pings_after(start) >= 2)

        # The snapshot loop hangs: /proc/uptime turns into a file whose read never returns.
        os.mkfifo(fifo)
        os.replace(fifo, uptime)
        agent.wait_log("not alive", timeout=60)
        assert "snapshot" in agent.wait_log("the systemd watchdog is no longer fed")
        stopped = time.monotonic()
        # systemd would restart us after WatchdogSec without a ping: show that long a silence.
        wait_until("a watchdog period", lambda: time.monotonic() > stopped + 1.5 * WATCHDOG_S, every=0.05)
        assert notify.pings_after(stopped) == 0, "the watchdog was fed while a loop hung"
        assert agent.process.poll() is None

        # The hung read returns: the loop beats again, and so do the pings.
        with open(uptime, "w") as writer:  # unblocks the collector's open() and read
            writer.write("12345.67 23456.78\n")
        uptime.unlink()
        uptime.write_text("12346.00 23457.00\n")
        back = time.monotonic()
        wait_until("the pings to resume", lambda: notify.pings_after(back) >= 2, timeout=30)
        assert agent.terminate() == 0
        assert notify.first("STOPPING=1") is not None
    finally:
        agent.kill()
        notify.close()


def test_each_loop_beats_its_liveness(tmp_path: Path) -> None:
    """Every loop the agent runs is registered, so the pinger judges all of them (not just one)."""
    rig_config = tmp_path / "agent.toml"
    rig_config.write_text(
        f'[device]\nid = "{DEVICE_ID}"\n\n[metrics]\ninterval = 0.05\nhost_root = "{FIXTURES / "pi4"}"\n\n'
        f'[storage]\npath = "{tmp_path / "agent.db"}"\n\n'
        '[heartbeats.pbx]\nvendor = "yeastar"\nurl = "http://127.0.0.1:9"\nusername = "api"\npassword = "x"\n'
        f'report_ip = "127.0.0.1"\nreport_bind = "127.0.0.1"\nreport_port = {free_port()}\ninterval = 30\n'
    )
    from edge_agent.assembly import build_agent
    from edge_agent.config import load_config

    agent = build_agent(load_config(rig_config))

    async def main() -> list[str]:
        stop = asyncio.Event()
        running = asyncio.ensure_future(agent.run(stop))
        wanted = {"snapshot", "heartbeat:pbx", "report-listener:pbx", "action-runner"}
        deadline = time.monotonic() + 30
        while not wanted <= set(agent.liveness.names) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        names = agent.liveness.names
        stop.set()
        await running
        return names

    names = asyncio.run(main())
    assert {"snapshot", "heartbeat:pbx", "report-listener:pbx", "action-runner"} <= set(names), names


@needs_mosquitto
def test_a_broker_outage_does_not_starve_the_watchdog(tmp_path: Path) -> None:
    # The outbox drain only runs while connected: its absence is no hang.
    broker = mosquitto(tmp_path).start()
    config = agent_config(tmp_path, broker.port)
    notify = NotifySocket(tmp_path / "notify")
    agent = start_with_watchdog(config, tmp_path, notify)
    try:
        wait_until("READY=1", lambda: notify.first("READY=1"))
        agent.wait_log("connected to the broker")
        broker.kill()
        agent.wait_log("lost the broker")
        lost = time.monotonic()
        # Longer than the drain's idle beat plus the slack: a starved drain would have shown.
        quiet = IDLE_BEAT + 3 * WATCHDOG_S
        wait_until(
            "the outage to last", lambda: time.monotonic() > lost + quiet, timeout=quiet + 5, every=0.05
        )
        assert notify.pings_after(lost + quiet - WATCHDOG_S) >= 1, "the watchdog starved during an outage"
        assert "not alive" not in agent.text()
        assert agent.terminate() == 0
    finally:
        agent.kill()
        notify.close()

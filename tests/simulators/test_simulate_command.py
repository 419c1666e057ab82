"""``edge-agent simulate``: run as an integrator would, as a separate process on loopback."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from edge_agent.demo.world import free_port
from edge_agent.simulators import SIMULATORS, load
from edge_agent.simulators.base import SimulatorServer

# Generous bounds for a loaded 2-core machine; they only stop a hung test, nothing is timed.
STARTUP_LIMIT = 60.0
EXIT_LIMIT = 30.0


class Running:
    """A started ``simulate`` process and what it printed before it began serving."""

    def __init__(self, process: subprocess.Popen[str], banner: list[str]) -> None:
        self.process = process
        self.banner = banner

    def credential(self, name: str) -> str:
        for line in self.banner:
            found = re.match(rf"\s*demo {re.escape(name)}: (\S+)$", line)
            if found:
                return found.group(1)
        raise AssertionError(f"no demo {name} in {self.banner}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=EXIT_LIMIT)


@contextmanager
def simulate(vendor: str, port: int) -> Iterator[Running]:
    command = [sys.executable, "-m", "edge_agent", "simulate", vendor, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    banner: list[str] = []
    try:
        while not banner or "SIGTERM stops it" not in banner[-1]:
            banner.append(lines.get(timeout=STARTUP_LIMIT).rstrip("\n"))
        yield Running(process, banner)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_simulate_telecomx_answers_a_heartbeat_with_the_printed_token_and_stops_on_sigterm() -> None:
    port = free_port()
    with simulate("telecomx", port) as running:
        token = running.credential("token")
        response = httpx.post(
            f"http://127.0.0.1:{port}/iptv/app/heartbeat", json={"token": token}, timeout=10
        )
        exit_code = running.stop()

    assert f"http://127.0.0.1:{port}" in running.banner[0]
    assert response.status_code == 200
    assert [action["type"] for action in response.json()] == ["MESSAGE"]
    assert exit_code == 0


def test_simulate_xyte_registers_a_device_with_the_printed_hardware_key_and_stops_on_sigterm() -> None:
    port = free_port()
    with simulate("xyte", port) as running:
        hardware_key = running.credential("hardware_key")
        body = {
            "hardware_key": hardware_key,
            "sn": "SN-1",
            "mac": "02:00:00:00:00:01",
            "firmware_version": "1.0.0",
        }
        registered = httpx.post(f"http://127.0.0.1:{port}/v1/devices", json=body, timeout=10)
        exit_code = running.stop()

    assert registered.status_code == 200
    assert registered.json()["hub_url"] == f"http://127.0.0.1:{port}"
    assert exit_code == 0


def test_simulate_refuses_a_non_loopback_host_with_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "simulate", "telecomx", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=EXIT_LIMIT,
    )

    assert result.returncode == 2
    assert "not a loopback address" in result.stderr


def test_simulate_offers_exactly_the_registered_vendors() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "simulate", "no-such-vendor"],
        capture_output=True,
        text=True,
        timeout=EXIT_LIMIT,
    )

    assert result.returncode == 2
    for vendor in SIMULATORS:
        assert vendor in result.stderr


@pytest.mark.parametrize("vendor", sorted(SIMULATORS))
def test_every_registered_simulator_serves_its_demo_and_describes_where(vendor: str) -> None:
    module = load(vendor)
    app = module.create()
    credentials = module.seed_demo(app)

    with SimulatorServer(app) as server:
        hint = module.describe(server.url)
        answer = httpx.get(f"{server.url}/", timeout=10)

    assert credentials and all(isinstance(value, str) and value for value in credentials.values())
    assert server.url in hint
    assert answer.status_code < 500, answer.text

"""Real MQTT brokers for the tests: each a separate process on 127.0.0.1 and a free port.

A separate process, so a test can kill it (SIGKILL: no goodbye to anyone) and start it
again on the same port, as a broker restart looks to a device in the field.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from edge_agent.demo.world import free_port
from edge_agent.mqtt.broker import amqtt_missing_reason

MOSQUITTO = Path(os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto"))
STARTUP_TIMEOUT = 30.0


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class BrokerProcess:
    """One broker: ``start()``, ``kill()`` (SIGKILL), ``start()`` again on the same port."""

    def __init__(self, kind: str, argv: list[str], port: int, workdir: Path) -> None:
        self.kind = kind
        self.argv = argv
        self.port = port
        self.host = "127.0.0.1"
        self.workdir = workdir
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.log_path = workdir / f"{kind}-{port}.log"

    def start(self) -> BrokerProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.kind} did not start:\n{self.log_path.read_text(errors='replace')}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without closing anything gracefully."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()


def mosquitto(workdir: Path, *, port: Optional[int] = None, extra: str = "") -> BrokerProcess:
    """mosquitto with a generated config: one plain listener on 127.0.0.1, anonymous unless ``extra`` says."""
    port = port or free_port()
    conf = workdir / f"mosquitto-{port}.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        + ("" if "allow_anonymous" in extra else "allow_anonymous true\n")
        + "persistence false\n"
        # as root, mosquitto would switch to its own user, which cannot read the test's files
        + ("user root\n" if os.geteuid() == 0 else "")
        + extra
    )
    return BrokerProcess("mosquitto", [str(MOSQUITTO), "-c", str(conf)], port, workdir)


def amqtt(workdir: Path, *, port: Optional[int] = None) -> BrokerProcess:
    """amqtt (MQTT 3.1.1) started by its own CLI with a generated YAML config.

    Where amqtt cannot be installed (Python 3.9), the test asking for it is skipped with
    that reason rather than erroring on a missing program.
    """
    skip_without_amqtt()
    port = port or free_port()
    conf = workdir / f"amqtt-{port}.yaml"
    conf.write_text(
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    script = Path(sys.executable).with_name("amqtt")
    argv = [str(script)] if script.exists() else [shutil.which("amqtt") or "amqtt"]
    return BrokerProcess("amqtt", [*argv, "-c", str(conf)], port, workdir)


def skip_without_amqtt() -> None:
    """Skip the running test, saying why, where amqtt (broker or embedded broker) is missing."""
    missing = amqtt_missing_reason()
    if missing is not None:
        pytest.skip(missing)


def have_mosquitto() -> bool:
    return MOSQUITTO.exists()


def make_broker(kind: str, workdir: Path) -> BrokerProcess:
    return mosquitto(workdir) if kind == "mosquitto" else amqtt(workdir)

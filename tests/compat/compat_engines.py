"""The broker engines the compatibility suite runs the agent against, behind one small interface.

mosquitto, amqtt and nats-server are started by the test as their own processes on free
ports (so a test may SIGKILL and restart them). RabbitMQ is the machine's shared node:
its MQTT plugin is enabled on a free port for the session (see :mod:`compat_rabbitmq`)
and never restarted; its "outage" is the agent's connection cut by a NetGate.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional, Protocol

from mqtt_brokers import BrokerProcess, amqtt, free_port, have_mosquitto, mosquitto

NATS_SERVER = Path(os.environ.get("NATS_SERVER", shutil.which("nats-server") or "/usr/sbin/nats-server"))

ENGINES = ("mosquitto", "amqtt", "rabbitmq", "nats")

KNOWN_LIMITS: dict[str, dict[str, str]] = {
    # What each engine is documented (and was seen) not to do. A feature that does not
    # work on an engine must be listed here, or its test fails: a new gap is a finding,
    # never silently a row of the table.
    "amqtt": {
        "mqtt5": "MQTT 3.1.1 only: an MQTT 5 CONNECT carrying a last will gets no CONNACK at all, "
        "so the agent gives up after 5 s and retries",
        "share": "MQTT 3.1.1 only, so no shared subscriptions: `watch --share` is refused "
        "('Unsupported protocol version') and exits 1",
    },
    "rabbitmq": {
        "mqtt5": "MQTT 3.1.1 only before 3.13: the connection is closed without a CONNACK",
        "retained_wildcard": "retained messages reach only subscriptions to the exact topic, "
        "not wildcard filters such as edge/+/status",
        "qos2": "QoS 2 is accepted and delivered as QoS 1",
        "share": "MQTT 3.1.1 only before 3.13, so no shared subscriptions: `watch --share` "
        "has its connection closed without a CONNACK and exits 1",
    },
    "nats": {
        "mqtt5": "MQTT 3.1.1 only: CONNACK 'Unsupported protocol version'",
        "qos2": "QoS 2 is not supported before 2.10: the server closes the connection of a "
        "client that publishes with QoS 2",
        "share": "MQTT 3.1.1 only, so no shared subscriptions: `watch --share` is refused "
        "('Unsupported protocol version') and exits 1",
    },
}


class Engine(Protocol):
    """What a compatibility test needs of a broker engine."""

    name: str
    version: str
    port: int
    restartable: bool

    def outage(self) -> None:
        """Take the broker away (kill it) where the test owns it; a no-op for a shared one."""

    def recover(self) -> None:
        """Bring it back after :meth:`outage`."""

    def close(self) -> None: ...


class OwnEngine:
    """An engine whose process belongs to the test: killed (SIGKILL) and started again on its port."""

    restartable = True

    def __init__(self, process: BrokerProcess, version: str) -> None:
        self.process = process
        self.name = process.kind
        self.version = version
        self.port = process.port

    def outage(self) -> None:
        self.process.kill()

    def recover(self) -> None:
        self.process.start()

    def close(self) -> None:
        self.process.kill()


def nats(workdir: Path, *, port: Optional[int] = None) -> BrokerProcess:
    """nats-server with JetStream (its MQTT listener needs it and a server_name) on free ports."""
    port = port or free_port()
    conf = workdir / f"nats-{port}.conf"
    store = workdir / f"nats-{port}-jetstream"
    conf.write_text(
        f"server_name: edge_agent_compat_{port}\n"
        f"listen: 127.0.0.1:{free_port()}\n"
        f"http: 0\n"
        f'jetstream {{ store_dir: "{store}" }}\n'
        f"mqtt {{ listen: 127.0.0.1:{port} }}\n"
    )
    return BrokerProcess("nats", [str(NATS_SERVER), "-c", str(conf)], port, workdir)


def own_engine(name: str, workdir: Path) -> Optional[OwnEngine]:
    """A started engine of ``name`` (not RabbitMQ), or None when its program is not installed."""
    if name == "mosquitto":
        if not have_mosquitto():
            return None
        return OwnEngine(mosquitto(workdir).start(), _mosquitto_version())
    if name == "amqtt":
        return OwnEngine(amqtt(workdir).start(), importlib.metadata.version("amqtt"))
    if name == "nats":
        if not NATS_SERVER.exists():
            return None
        return OwnEngine(nats(workdir).start(), _nats_version())
    raise ValueError(f"{name} is not an engine the test starts itself")


def _mosquitto_version() -> str:
    from mqtt_brokers import MOSQUITTO

    out = subprocess.run([str(MOSQUITTO), "-h"], capture_output=True, text=True, timeout=10).stdout
    first = out.splitlines()[0] if out else ""
    return first.rsplit(" ", 1)[-1] if "version" in first else "unknown"


def _nats_version() -> str:
    out = subprocess.run([str(NATS_SERVER), "--version"], capture_output=True, text=True, timeout=10).stdout
    return out.strip().rsplit(" ", 1)[-1].lstrip("v") or "unknown"

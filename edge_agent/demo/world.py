"""The demo's world: every registered vendor's simulator on loopback, and the agent's config for them.

The simulators and the endpoint tables come from :mod:`edge_agent.demo.vendor_world`,
the generator the tests and the benchmarks share; this module adds the demo's agent
tables (broker, storage, the stand-in actions). The config is written as TOML text and
read with :func:`edge_agent.config.parse_config`, the same path ``edge-agent run -c FILE``
takes, so the demo shows what a real config does. Every port is a free one on 127.0.0.1
(the simulators bind port 0; the broker and the PBX report listener get a port the
kernel just handed out), every file lives in a folder the caller owns and removes, and
every action runs :mod:`edge_agent.demo.act`.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from edge_agent.config import Config, parse_config
from edge_agent.demo import act
from edge_agent.demo.vendor_world import SimulatedVendors, endpoint_module, endpoint_names, toml_string
from edge_agent.simulators.base import SimulatorServer
from edge_agent.vendors.place import Place
from edge_agent.vendors.registry import VENDORS

DEVICE_ID = "edge-demo"
XYTE_SERIAL = "DEMO-SN-0001"  # the scenario's Xyte hooks find the device by it (vendors/xyte/endpoint.py)
ACTION_TYPES = ("MESSAGE", "START_APP", "VIDEO", "DUMP", "REBOOT")
HISTORY_LIMIT = 200
"""What a simulator remembers: a demo left running for hours must not grow without end."""

# vendor -> the [heartbeats.<name>] the demo gives it (each vendor's endpoint.py names it)
ENDPOINTS: dict[str, str] = endpoint_names()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for servers we cannot ask to bind port 0)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class BrokerAddress:
    """Where the agent and the view meet; ``embedded``: the agent runs the broker itself."""

    host: str
    port: int
    embedded: bool

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_broker(text: str) -> BrokerAddress:
    """``HOST:PORT`` (``--broker``) as an external broker; ValueError with a reason if not."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:1883)")
    return BrokerAddress(host.strip("[]"), int(port), embedded=False)


class DemoWorld:
    """Every vendor's server, seeded with its demo credentials, and the agent's config for them."""

    def __init__(
        self,
        workdir: Path,
        broker: BrokerAddress,
        report_port: int,
        vendors: SimulatedVendors,
    ) -> None:
        self.workdir = workdir
        self.broker = broker
        self.report_port = report_port
        self.vendors = vendors
        self.servers: dict[str, SimulatorServer] = vendors.servers
        self.credentials: dict[str, dict[str, str]] = vendors.credentials
        self.action_log = workdir / "actions.log"

    @classmethod
    def start(
        cls,
        workdir: Path,
        broker: Optional[BrokerAddress] = None,
        *,
        port_finder: Callable[[], int] = free_port,
    ) -> DemoWorld:
        """Start the simulators; without ``broker``, pick a free port for the embedded one."""
        vendors = SimulatedVendors.start(history_limit=HISTORY_LIMIT, record_limit=HISTORY_LIMIT)
        broker = broker or BrokerAddress("127.0.0.1", port_finder(), embedded=True)
        return cls(workdir, broker, port_finder(), vendors)

    def close(self) -> None:
        """Stop every simulator's server (their threads end, their ports close)."""
        self.vendors.close()

    def app(self, vendor: str) -> Any:
        """The simulator of ``vendor``, for its test hooks (queue an action, push a report...)."""
        return self.servers[vendor].app

    def url(self, vendor: str) -> str:
        return self.servers[vendor].url

    @property
    def telecomx_token(self) -> str:
        return self.credentials["telecomx"]["token"]

    def config(self) -> Config:
        """The agent's config, read as a config file in the demo's folder would be."""
        return parse_config(self.config_text(), self.workdir / "demo.toml")

    def config_text(self) -> str:
        """The TOML: every vendor against its simulator, every action to the stand-in."""
        return "\n".join([self._agent_tables(), self._action_tables(), self._heartbeat_tables()])

    def _agent_tables(self) -> str:
        return f"""\
[device]
id = "{DEVICE_ID}"
name = "edge-agent demo"

[metrics]
interval = 2

[mqtt]
host = {toml_string(self.broker.host)}
port = {self.broker.port}
embedded_broker = {"true" if self.broker.embedded else "false"}
client_id = "edge-agent-{DEVICE_ID}"
keepalive = 10
reconnect_min = 0.2
reconnect_max = 2

[storage]
path = "agent.db"
"""

    def _action_tables(self) -> str:
        def argv(action_type: str, *placeholders: str) -> str:
            program = [sys.executable, str(Path(act.__file__).resolve()), str(self.action_log), action_type]
            return "[" + ", ".join(toml_string(part) for part in [*program, *placeholders]) + "]"

        allow = ", ".join(toml_string(action_type) for action_type in ACTION_TYPES)
        return f"""\
[actions]
profile = "none"
allow = [{allow}]
timeout = 10

[actions.commands]
MESSAGE = {argv("MESSAGE", "--", "{message}")}
START_APP = {argv("START_APP", "{app}")}
VIDEO = {argv("VIDEO", "{video}")}
DUMP = {argv("DUMP")}
REBOOT = {argv("REBOOT")}
"""

    @property
    def place(self) -> Place:
        return Place(device_id=DEVICE_ID, report_port=self.report_port)

    def _heartbeat_tables(self) -> str:
        """Each vendor's ``[heartbeats.<name>]``, as its ``endpoint.py`` describes it."""
        return self.vendors.heartbeat_toml(self.place)

    def demo_note(self, vendor: str) -> str:
        """What the opening lines add beside a vendor's endpoint (the PBX's report listener)."""
        note = getattr(endpoint_module(vendor), "demo_note", None)
        return note(self.place) if note is not None else ""

    # -- what the vendors saw, for the final summary ---------------------------------------

    def vendor_facts(self) -> list[str]:
        """One line per vendor, read from its simulator: what reached the vendor's side."""
        return [
            endpoint_module(vendor).demo_fact(self.app(vendor), self.credentials[vendor], self.place)
            for vendor in VENDORS
        ]

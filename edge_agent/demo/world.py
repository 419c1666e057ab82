"""The demo's world: the five vendor simulators on loopback, and the agent's config for them.

The config is written as TOML text and read with :func:`edge_agent.config.parse_config`,
the same path ``edge-agent run -c FILE`` takes, so the demo shows what a real config
does. Every port is a free one on 127.0.0.1 (the simulators bind port 0; the broker and
the PBX report listener get a port the kernel just handed out), every file lives in a
folder the caller owns and removes, and every action runs :mod:`edge_agent.demo.act`.
"""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from edge_agent.config import Config, parse_config
from edge_agent.demo import act
from edge_agent.simulators import SIMULATORS, load
from edge_agent.simulators.base import SimulatorServer

DEVICE_ID = "edge-demo"
XYTE_SERIAL = "DEMO-SN-0001"
PUBNUB_CHANNEL = "lobby"
ACTION_TYPES = ("MESSAGE", "START_APP", "VIDEO", "DUMP", "REBOOT")
HISTORY_LIMIT = 200
"""What a simulator remembers: a demo left running for hours must not grow without end."""

# vendor -> the [heartbeats.<name>] the demo gives it
ENDPOINTS: dict[str, str] = {
    "telecomx": "iptv",
    "xyte": "hub",
    "aibox": "camera",
    "yeastar": "pbx",
    "pubnub": "presence",
}


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
        servers: dict[str, SimulatorServer],
        credentials: dict[str, dict[str, str]],
    ) -> None:
        self.workdir = workdir
        self.broker = broker
        self.report_port = report_port
        self.servers = servers
        self.credentials = credentials
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
        servers: dict[str, SimulatorServer] = {}
        credentials: dict[str, dict[str, str]] = {}
        try:
            for vendor in SIMULATORS:
                module = load(vendor)
                app = module.create()
                if hasattr(app, "history_limit"):
                    app.history_limit = HISTORY_LIMIT
                credentials[vendor] = module.seed_demo(app)
                if vendor == "aibox":  # its platform's Ack sets the interval (30 s by default)
                    app.set_intervals(heartbeat_interval=5, strategy_heartbeat_interval=5)
                servers[vendor] = SimulatorServer(app, record_limit=HISTORY_LIMIT).start()
        except BaseException:
            for server in servers.values():
                server.close()
            raise
        broker = broker or BrokerAddress("127.0.0.1", port_finder(), embedded=True)
        return cls(workdir, broker, port_finder(), servers, credentials)

    def close(self) -> None:
        """Stop every simulator's server (their threads end, their ports close)."""
        for server in self.servers.values():
            server.close()

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
        """The TOML: all five vendors against their simulators, every action to the stand-in."""
        return "\n".join([self._agent_tables(), self._action_tables(), self._heartbeat_tables()])

    def _agent_tables(self) -> str:
        return f"""\
[device]
id = "{DEVICE_ID}"
name = "edge-agent demo"

[metrics]
interval = 2

[mqtt]
host = {_toml(self.broker.host)}
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
            return "[" + ", ".join(_toml(part) for part in [*program, *placeholders]) + "]"

        allow = ", ".join(_toml(action_type) for action_type in ACTION_TYPES)
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

    def _heartbeat_tables(self) -> str:
        creds = self.credentials
        return f"""\
[heartbeats.{ENDPOINTS["telecomx"]}]
vendor = "telecomx"
url = {_toml(self.url("telecomx") + "/iptv/app/heartbeat")}
token = {_toml(self.telecomx_token)}
interval = 2
timeout = 3

[heartbeats.{ENDPOINTS["xyte"]}]
vendor = "xyte"
entry_url = {_toml(self.url("xyte"))}
hardware_key = {_toml(creds["xyte"]["hardware_key"])}
sn = "{XYTE_SERIAL}"
mac = "02:00:00:00:de:01"
firmware_version = "0.9.0"
interval = 2
timeout = 3

[heartbeats.{ENDPOINTS["aibox"]}]
vendor = "aibox"
url = {_toml(self.url("aibox") + "/event")}
serial_number = "DEMO-CAM-1"
interval = 5
timeout = 3
response_timeout = 3

[heartbeats.{ENDPOINTS["yeastar"]}]
vendor = "yeastar"
url = {_toml(self.url("yeastar"))}
username = {_toml(creds["yeastar"]["username"])}
password = {_toml(creds["yeastar"]["password"])}
report_ip = "127.0.0.1"
report_port = {self.report_port}
report_bind = "127.0.0.1"
interval = 5
timeout = 3

[heartbeats.{ENDPOINTS["pubnub"]}]
vendor = "pubnub"
origin = {_toml(self.url("pubnub"))}
subscribe_key = {_toml(creds["pubnub"]["subscribe_key"])}
publish_key = {_toml(creds["pubnub"]["publish_key"])}
secret_key = {_toml(creds["pubnub"]["secret_key"])}
channels = ["{PUBNUB_CHANNEL}"]
presence_timeout = 60
interval = 3
timeout = 3
state = ["cpu_percent", "memory_free_percent"]
"""

    # -- what the vendors saw, for the final summary ---------------------------------------

    def vendor_facts(self) -> list[str]:
        """One line per vendor, read from its simulator: what reached the vendor's side."""
        telecomx = self.app("telecomx")
        beats = telecomx.heartbeats(self.telecomx_token)
        last = beats[-1] if beats else {}
        said = "turnedOff" if last.get("turnedOff") else "still on" if last else "nothing (none arrived)"
        facts = [f"telecomx: the last heartbeat said {said}"]
        xyte = self.app("xyte")
        device = xyte.device_by_sn(XYTE_SERIAL)
        if device is None:
            facts.append("xyte: the device never registered")
        else:
            commands = xyte.command_history(device.id)
            done = ", ".join(f"{c['name']} {c['status']}" for c in commands) or "none"
            facts.append(f"xyte: registered as {device.id}; commands: {done}")
        facts.append(f"aibox: {len(self.app('aibox').events('DEMO-CAM-1'))} heartbeat events received")
        pbx = self.app("yeastar")
        delivered = sum(1 for push in pbx.report_attempts() if push.delivered)
        logged_in = bool(pbx.tokens())
        facts.append(
            f"yeastar: {delivered} event report(s) delivered; "
            + ("still logged in" if logged_in else "logged out")
        )
        presence = self.app("pubnub")
        signed_ok = not presence.signature_failures
        present = DEVICE_ID in presence.occupants(PUBNUB_CHANNEL)
        facts.append(
            f"pubnub: {DEVICE_ID} {'is' if present else 'is not'} present on channel {PUBNUB_CHANNEL!r}; "
            + ("every request's signature verified" if signed_ok else "some signatures failed")
        )
        return facts


def _toml(value: str) -> str:
    """A TOML basic string (JSON's string escapes are valid TOML for what we write)."""
    return json.dumps(value, ensure_ascii=False)

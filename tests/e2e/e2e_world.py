"""The five vendor simulators on loopback, a stand-in action program, and a config for the agent."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Optional, TypeVar

from edge_agent.simulators import load
from edge_agent.simulators.base import SimulatorServer

VENDORS = ("telecomx", "xyte", "aibox", "yeastar", "pubnub")
# The config's heartbeat table per vendor.
ENDPOINTS = {"iptv": "telecomx", "hub": "xyte", "camera": "aibox", "pbx": "yeastar", "presence": "pubnub"}
DEVICE_ID = "e2e-1"
SERIAL = "E2E-SN-1"
T = TypeVar("T")

ACTION_PROGRAM = """#!/bin/sh
# Stands in for notify-send / am / termux-*: records each run, one JSON argv per line.
# One O_APPEND write per run, so two actions running at once never interleave their lines.
exec python3 -c '
import json, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, (json.dumps(sys.argv[2:]) + "\\n").encode())
' {log} "$@"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VendorWorld:
    """Every vendor's server, seeded with demo credentials, and the agent's view of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.apps: dict[str, Any] = {}
        self.servers: dict[str, SimulatorServer] = {}
        self.credentials: dict[str, dict[str, str]] = {}
        for vendor in VENDORS:
            module = load(vendor)
            app = module.create()
            self.credentials[vendor] = module.seed_demo(app)
            self.apps[vendor] = app
            self.servers[vendor] = SimulatorServer(app).start()
        self.report_port = free_port()
        self.action_log = workdir / "actions.log"
        self.action_program = workdir / "act"
        self.action_program.write_text(ACTION_PROGRAM.format(log=self.action_log))
        self.action_program.chmod(0o755)

    def close(self) -> None:
        for server in self.servers.values():
            server.close()

    def actions_run(self) -> list[list[str]]:
        if not self.action_log.exists():
            return []
        *complete, _unfinished = self.action_log.read_text().split("\n")
        return [json.loads(line) for line in complete if line]

    def url(self, vendor: str) -> str:
        return self.servers[vendor].url

    def config(
        self,
        broker_port: int,
        *,
        profile: str = "auto",
        reconnect_max: float = 0.5,
        presence_timeout: int = 60,
        endpoint_extra: Optional[dict[str, str]] = None,
    ) -> str:
        """The agent's config: every vendor against its simulator, every action to the stand-in.

        ``endpoint_extra`` adds TOML lines to the named heartbeat tables (``iptv``, ``hub``,
        ``camera``, ``pbx``, ``presence``), for tests that tune one endpoint or all of them.
        """
        creds = self.credentials
        act = self.action_program
        extra = {name: "" for name in ENDPOINTS}
        extra.update(endpoint_extra or {})
        return f"""
[device]
id = "{DEVICE_ID}"

[metrics]
interval = 1

[mqtt]
host = "127.0.0.1"
port = {broker_port}
keepalive = 5
reconnect_min = 0.1
reconnect_max = {reconnect_max}

[storage]
path = "{self.workdir / "agent.db"}"

[actions]
profile = "{profile}"
allow = ["MESSAGE", "START_APP", "DUMP"]

[actions.commands]
MESSAGE = ["{act}", "message", "{{message}}"]
START_APP = ["{act}", "start", "{{app}}"]
DUMP = ["{act}", "dump"]

[heartbeats.iptv]
vendor = "telecomx"
url = "{self.url("telecomx")}/iptv/app/heartbeat"
token = "{creds["telecomx"]["token"]}"
interval = 1
{extra["iptv"]}

[heartbeats.hub]
vendor = "xyte"
entry_url = "{self.url("xyte")}"
hardware_key = "{creds["xyte"]["hardware_key"]}"
sn = "{SERIAL}"
mac = "02:00:00:00:00:01"
firmware_version = "0.9.0"
interval = 1
{extra["hub"]}

[heartbeats.camera]
vendor = "aibox"
url = "{self.url("aibox")}/event"
serial_number = "{SERIAL}"
interval = 5
{extra["camera"]}

[heartbeats.pbx]
vendor = "yeastar"
url = "{self.url("yeastar")}"
username = "{creds["yeastar"]["username"]}"
password = "{creds["yeastar"]["password"]}"
report_ip = "127.0.0.1"
report_port = {self.report_port}
report_bind = "127.0.0.1"
{extra["pbx"]}

[heartbeats.presence]
vendor = "pubnub"
origin = "{self.url("pubnub")}"
subscribe_key = "{creds["pubnub"]["subscribe_key"]}"
publish_key = "{creds["pubnub"]["publish_key"]}"
secret_key = "{creds["pubnub"]["secret_key"]}"
channels = ["lobby"]
presence_timeout = {presence_timeout}
interval = 1
state = ["cpu_percent", "memory_free_percent"]
{extra["presence"]}
"""

"""The agent's own config tables: ``[device]``, ``[metrics]``, ``[mqtt]``, ``[storage]``, ``[actions]``.

Every key here is documented, with its default, in ``conf/edge-agent.toml``; keep the two
in step (a test parses that file and compares its keys with these models).
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, SecretStr, field_validator, model_validator

from edge_agent.config.base import Section

# What an MQTT topic level may hold: no wildcards, no separators, nothing invisible.
TOPIC_LEVEL_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"


def default_device_id() -> str:
    """The hostname, which is what an operator calls the device anyway."""
    return socket.gethostname() or "edge-device"


class DeviceConfig(Section):
    """Who this device is: ``id`` names it in every MQTT topic and vendor default."""

    id: str = Field(default_factory=default_device_id, pattern=TOPIC_LEVEL_PATTERN)
    name: Optional[str] = None


def default_host_root() -> str:
    return os.environ.get("EDGE_AGENT_HOST_ROOT") or "/"


class MetricsConfig(Section):
    """What to measure and how often."""

    path_fields = ("host_root",)

    interval: float = Field(30.0, gt=0, le=86400)
    host_root: Path = Field(default_factory=lambda: Path(default_host_root()))
    platform: Literal["auto", "linux", "termux"] = "auto"
    rtt_targets: list[str] = Field(default_factory=list)
    rtt_probes: int = Field(3, ge=1, le=20)
    rtt_timeout: float = Field(1.0, gt=0, le=30)
    apps: list[str] = Field(default_factory=list)
    command_timeout: float = Field(3.0, gt=0, le=60)
    command_cache: float = Field(60.0, ge=0, le=86400)

    @field_validator("rtt_targets")
    @classmethod
    def _targets_are_host_port(cls, targets: list[str]) -> list[str]:
        for target in targets:
            host, sep, port = target.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f'{target!r} is not host:port (e.g. "stream.example.com:443")')
        return targets

    @model_validator(mode="after")
    def _env_overrides_root(self) -> MetricsConfig:
        # EDGE_AGENT_HOST_ROOT wins over the file, so a fixture tree or a container's
        # bind-mounted host can be read without editing the config.
        env_root = os.environ.get("EDGE_AGENT_HOST_ROOT")
        if env_root:
            object.__setattr__(self, "host_root", Path(env_root))
        return self


class MqttConfig(Section):
    """The broker the agent mirrors its state to (and, optionally, runs in-process)."""

    secret_fields = ("password",)
    path_fields = ("ca_file", "cert_file", "key_file")

    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    client_id: Optional[str] = None
    keepalive: int = Field(60, ge=5, le=65535)
    topic_prefix: str = Field("edge", pattern=r"^[A-Za-z0-9_.:@/-]{1,128}$")
    qos: Literal[0, 1, 2] = 1
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: Optional[str] = None
    password: Optional[SecretStr] = None
    tls: bool = False
    ca_file: Optional[Path] = None
    cert_file: Optional[Path] = None
    key_file: Optional[Path] = None
    tls_insecure: bool = False
    tls_strict: Optional[bool] = None
    reconnect_min: float = Field(1.0, gt=0, le=600)
    reconnect_max: float = Field(120.0, gt=0, le=3600)
    command_expiry: int = Field(300, ge=1, le=86400)
    embedded_broker: bool = False
    home_assistant: bool = False
    discovery_prefix: str = "homeassistant"

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_has_no_empty_levels(cls, prefix: str) -> str:
        if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
            raise ValueError("must not start or end with '/' or contain an empty level")
        return prefix

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        if self.reconnect_min > self.reconnect_max:
            raise ValueError("reconnect_min must not exceed reconnect_max")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca_file is not None or self.cert_file is not None


def default_store_path() -> Path:
    """systemd's StateDirectory when set, else the XDG state folder (works on Termux too)."""
    state_dir = os.environ.get("STATE_DIRECTORY")
    if state_dir:
        return Path(state_dir.split(":")[0]) / "edge-agent.db"
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(xdg) / "edge-agent" / "edge-agent.db"


class StorageConfig(Section):
    """The SQLite file that holds the outbox, the action journal and vendor state."""

    path_fields = ("path",)

    path: Path = Field(default_factory=default_store_path)
    outbox_max: int = Field(10000, ge=10, le=10_000_000)


class ActionsConfig(Section):
    """Which actions may run, and the argv each one runs as (never a shell)."""

    secret_fields = ("mqtt_secret",)

    profile: Literal["auto", "raspberrypi", "termux", "none"] = "auto"
    allow: list[str] = Field(default_factory=lambda: ["MESSAGE", "START_APP", "VIDEO"])
    dry_run: bool = False
    timeout: float = Field(120.0, gt=0, le=86400)
    commands: dict[str, list[str]] = Field(default_factory=dict)
    allowed_url_schemes: list[str] = Field(default_factory=lambda: ["http", "https", "rtsp", "rtmp"])
    allowed_hosts: list[str] = Field(default_factory=list)
    mqtt_secret: Optional[SecretStr] = None
    timeouts: dict[str, float] = Field(default_factory=dict)
    update_method: Literal["apt", "pip"] = "apt"
    technical_room_number: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
    desktop_user: str = "auto"
    desktop_switch: list[str] = Field(
        default_factory=lambda: ["sudo", "-n", "-u", "{desktop_user}", "--", "env", "{session_env}"]
    )

    @field_validator("desktop_user")
    @classmethod
    def _desktop_user(cls, value: str) -> str:
        if value in ("auto", "none") or re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
            return value
        raise ValueError('must be "auto", "none" or a user name (lower-case letters, digits, _ and -)')

    @field_validator("desktop_switch")
    @classmethod
    def _desktop_switch(cls, argv: list[str]) -> list[str]:
        # Fixed program; the session's environment must reach the program (through `env`).
        if not argv or not argv[0] or "{" in argv[0]:
            raise ValueError("the argv must start with a fixed program (sudo, runuser or env)")
        if "{session_env}" not in argv:
            raise ValueError('must hold "{session_env}" as an element of its own (after "env")')
        known = {"desktop_user", "session_env", "session_setenv"}
        unknown = set(re.findall(r"\{([^}]*)\}", " ".join(argv))) - known
        if unknown:
            raise ValueError(
                "only {desktop_user}, {session_env} and {session_setenv} may be used, "
                f"not {sorted(unknown)}"
            )
        return argv

    @field_validator("commands")
    @classmethod
    def _argv_not_empty(cls, commands: dict[str, list[str]]) -> dict[str, list[str]]:
        for action_type, argv in commands.items():
            if not argv or not argv[0]:
                raise ValueError(f"{action_type}: the argv must name a program")
            if "{" in argv[0]:
                # The payload must never choose the program, only fill its arguments.
                raise ValueError(f"{action_type}: the program {argv[0]!r} must be fixed, not a placeholder")
        return commands

    @field_validator("timeouts")
    @classmethod
    def _timeouts_positive(cls, timeouts: dict[str, float]) -> dict[str, float]:
        for action_type, seconds in timeouts.items():
            if not 0 < seconds <= 86400:
                raise ValueError(f"{action_type}: a timeout is seconds in (0, 86400]")
        return timeouts

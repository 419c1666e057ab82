"""The agent's own config tables: ``[device]``, ``[metrics]``, ``[mqtt]``, ``[storage]``, ``[actions]``.

Every key here is documented, with its default, in ``conf/edge-agent.toml``; keep the two
in step (a test parses that file and compares its keys with these models).
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from edge_agent.config.base import LaxPath, NotBool, Section, keyed_error
from edge_agent.config.checks import (
    ACTION_VARIANTS,
    BUILTIN_ACTION_TYPES,
    host_name,
    normalise_action_type,
    unknown_types_reason,
)

# An argv element that is the declared value of the option before it (actions/templates.py).
OPTION_VALUE_PATTERN = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*:value\}")

# What an MQTT topic level may hold: no wildcards, no separators, nothing invisible.
TOPIC_LEVEL_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"

# How alike (difflib ratio) a custom command's name and a built-in type must be to be
# taken for a typo: MESAGE/MESSAGE is 0.92, REBOT/REBOOT 0.91; RESTART_PLAYER/START_APP
# is 0.61 and REBOOT_NOW/REBOOT 0.75, which stay custom commands.
TYPO_CUTOFF = 0.85


FALLBACK_DEVICE_ID = "edge-device"


def default_device_id() -> str:
    """The hostname, which is what an operator calls the device anyway (made a valid id)."""
    return device_id_from_hostname(socket.gethostname())


def device_id_from_hostname(hostname: str) -> str:
    """The hostname as ``[device] id`` accepts it: other characters become ``-``, at most 128.

    A hostname such as "Pi Lobby" must not make a config without ``[device] id`` invalid.
    """
    cleaned = re.sub(r"[^A-Za-z0-9_.:@-]+", "-", hostname).strip("-.")[:128]
    return cleaned if re.match(TOPIC_LEVEL_PATTERN, cleaned) else FALLBACK_DEVICE_ID


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
    host_root: LaxPath = Field(default_factory=lambda: Path(default_host_root()))
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
    qos: Annotated[Literal[0, 1, 2], NotBool] = 1
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: Optional[str] = None
    password: Optional[SecretStr] = None
    tls: bool = False
    ca_file: Optional[LaxPath] = None
    cert_file: Optional[LaxPath] = None
    key_file: Optional[LaxPath] = None
    tls_insecure: bool = False
    tls_strict: Optional[bool] = None
    reconnect_min: float = Field(1.0, gt=0, le=600)
    reconnect_max: float = Field(120.0, gt=0, le=3600)
    command_expiry: int = Field(300, ge=1, le=86400)
    embedded_broker: bool = False
    home_assistant: bool = False
    discovery_prefix: str = "homeassistant"

    @field_validator("host")
    @classmethod
    def _host_not_url(cls, host: str) -> str:
        return host_name(host)

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

    path: LaxPath = Field(default_factory=default_store_path)
    outbox_max: int = Field(10000, ge=10, le=10_000_000)
    open_wait: float = Field(60.0, ge=0, le=3600)


class ActionsConfig(Section):
    """Which actions may run, and the argv each one runs as (never a shell)."""

    secret_fields = ("mqtt_secret",)

    profile: Literal["auto", "raspberrypi", "termux", "none"] = "auto"
    # commands comes before allow and timeouts: their validators read the custom types it defines.
    commands: dict[str, list[str]] = Field(default_factory=dict)
    allow: list[str] = Field(default_factory=lambda: ["MESSAGE", "START_APP", "VIDEO"])
    dry_run: bool = False
    timeout: float = Field(120.0, gt=0, le=86400)
    allowed_url_schemes: list[str] = Field(default_factory=lambda: ["http", "https", "rtsp", "rtmp"])
    allowed_hosts: list[str] = Field(default_factory=list)
    mqtt_secret: Optional[SecretStr] = None
    max_command_lifetime: float = Field(86400.0, gt=0, le=366 * 86400)  # how far ahead expires_at may be
    timeouts: dict[str, float] = Field(default_factory=dict)
    update_method: Literal["apt", "pip"] = "apt"
    technical_room_number: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
    # Bounds on what vendors and operators can queue (docs/actions.md "Limits").
    max_per_reply: int = Field(50, ge=1, le=10_000)
    max_pending_per_type: int = Field(20, ge=1, le=100_000)
    max_pending_per_source: int = Field(50, ge=1, le=100_000)
    pending_ttl: float = Field(3600.0, gt=0, le=30 * 86400)
    reboot_min_interval: float = Field(1800.0, ge=0, le=7 * 86400)
    journal_retention: float = Field(7 * 86400.0, ge=3600, le=3650 * 86400)
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
        for key, argv in commands.items():
            try:
                _command_key(key)
            except ValueError as exc:
                raise keyed_error((key,), str(exc)) from exc
            if not argv or not argv[0]:
                raise keyed_error((key,), "the argv must name a program")
            if "{" in argv[0]:
                # The payload must never choose the program, only fill its arguments.
                raise keyed_error((key,), f"the program {argv[0]!r} must be fixed, not a placeholder")
        return commands

    @field_validator("commands")
    @classmethod
    def _option_values_follow_an_option(cls, commands: dict[str, list[str]]) -> dict[str, list[str]]:
        # "{name:value}" promises that the element before it is an option taking a value
        # (docs/actions.md); anywhere else the promise is false, and `check` says so.
        for action_type, argv in commands.items():
            for position, element in enumerate(argv):
                if ":value}" not in element:
                    continue
                before = argv[position - 1] if position else ""
                if not OPTION_VALUE_PATTERN.fullmatch(element):
                    raise ValueError(
                        f"{action_type}: {element!r}: a {{name:value}} must be an element of its own"
                    )
                if not before.startswith("-") or before == "--" or "=" in before or "{" in before:
                    raise ValueError(
                        f"{action_type}: {element!r} must follow the option whose value it is "
                        "(an element like -x or --name, without '=')"
                    )
        return commands

    @field_validator("allow")
    @classmethod
    def _allow_known_types(cls, allow: list[str], info: ValidationInfo) -> list[str]:
        _known_types(allow, info)
        return allow

    @field_validator("timeouts")
    @classmethod
    def _timeouts_positive(cls, timeouts: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        _known_types(timeouts, info)
        for action_type, seconds in timeouts.items():
            if not 0 < seconds <= 86400:
                raise ValueError(f"{action_type}: a timeout is seconds in (0, 86400]")
        return timeouts

    @field_validator("allowed_url_schemes")
    @classmethod
    def _schemes_are_names(cls, schemes: list[str]) -> list[str]:
        for scheme in schemes:
            # "rtsp", not "rtsp://": a scheme never matches a URL with its separator in it.
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,31}", scheme):
                raise ValueError(f"{scheme!r} is not a URL scheme (e.g. \"https\", without ':' or '//')")
        return schemes

    @model_validator(mode="after")
    def _custom_commands_are_not_typos(self) -> ActionsConfig:
        # A key that is not a built-in type defines a custom command, which may stay off
        # (not in allow) until wanted. But one a letter away from a built-in ("MESAGE") and
        # not in allow is a typo far more often than a wish: the built-in would silently keep
        # its profile default. Listing it in allow says it is meant.
        allowed = {normalise_action_type(name) for name in self.allow}
        for key in self.commands:
            action_type = _command_key(key)
            if action_type in BUILTIN_ACTION_TYPES or action_type in allowed:
                continue
            close = difflib.get_close_matches(action_type, BUILTIN_ACTION_TYPES, n=1, cutoff=TYPO_CUTOFF)
            if close:
                raise keyed_error(
                    ("commands", key),
                    f"{key!r} is not a built-in action type; did you mean {close[0]!r}? "
                    f"(built-in: {', '.join(BUILTIN_ACTION_TYPES)}; a custom command this close to "
                    "a built-in name must also be listed in [actions] allow)",
                )
        return self


def _command_key(key: str) -> str:
    """The action type of an ``[actions.commands]`` key ``TYPE`` or ``TYPE/VARIANT``."""
    name, sep, variant = key.partition("/")
    action_type = normalise_action_type(name)
    if sep:
        variants = ACTION_VARIANTS.get(action_type, ())
        if variant.upper() not in variants:
            choices = ", ".join(f"{t}/{v}" for t, vs in ACTION_VARIANTS.items() for v in vs)
            raise ValueError(f"{key!r}: no such variant (the variants are {choices})")
    return action_type


def _known_types(names: Iterable[str], info: ValidationInfo) -> None:
    """Every name is a built-in action type or one that ``[actions.commands]`` defines."""
    commands = info.data.get("commands")
    if commands is None:
        return  # commands itself is invalid, and reported: the custom types are unknown
    custom = {_command_key(key) for key in commands}
    unknown = []
    for name in names:
        action_type = normalise_action_type(name)
        if action_type not in BUILTIN_ACTION_TYPES and action_type not in custom:
            unknown.append(action_type)
    if unknown:
        raise ValueError(unknown_types_reason(unknown, custom))

"""What ``edge-agent watch`` and ``edge-agent send`` share: which broker, as whom, under which prefix.

Both are operator tools that run anywhere (a laptop, a jump host, the device itself), so
the broker comes from flags, or from a config file's ``[mqtt]`` when ``-c`` is given, the
flags winning. Without ``-c`` no config file is read, not even the device default: an
operator's laptop has none, and on a device the agent's secrets may be unreadable to
the operator's user.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from edge_agent.config import Config, load_config
from edge_agent.errors import ConfigError
from edge_agent.mqtt.options import TlsSettings

if TYPE_CHECKING:
    from edge_agent.mqtt.bridge import MqttBridge

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 1883
DEFAULT_PREFIX = "edge"
DEFAULT_COMMAND_EXPIRY = 300


@dataclass(frozen=True)
class BrokerOptions:
    """Everything needed to reach the broker and find the fleet on it."""

    host: str
    port: int
    prefix: str
    protocol: Optional[str]  # "3.1.1" or "5" when the config or a flag says; None: the command decides
    username: Optional[str] = None
    password: Optional[str] = None
    tls: Optional[TlsSettings] = None
    command_expiry: int = DEFAULT_COMMAND_EXPIRY
    secret: Optional[str] = None  # [actions] mqtt_secret of the config, for send

    def bridge(self, client_id: str, protocol: str) -> MqttBridge:
        """A connection to this broker (paho is imported only when a command really connects)."""
        from edge_agent.mqtt.bridge import MqttBridge

        return MqttBridge(
            host=self.host,
            port=self.port,
            client_id=client_id,
            protocol="5" if protocol == "5" else "3.1.1",
            username=self.username,
            password=self.password,
            tls=self.tls,
        )


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        metavar="FILE",
        help="take the broker, prefix, TLS and credentials from this config's [mqtt] "
        "(and the command secret from [actions]); the flags below override it",
    )
    parser.add_argument("-H", "--host", help=f"the broker's host (default: {DEFAULT_HOST})")
    parser.add_argument("-p", "--port", type=_port, help=f"the broker's port (default: {DEFAULT_PORT})")
    parser.add_argument("--prefix", help=f"the fleet's topic prefix (default: {DEFAULT_PREFIX})")
    parser.add_argument("--username", help="the MQTT user name")
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="a file holding the MQTT password (not a flag: ps shows flags)",
    )
    parser.add_argument(
        "--tls", action="store_true", help="connect with TLS, verifying the broker with the system CAs"
    )
    parser.add_argument(
        "--ca-file", type=Path, metavar="FILE", help="verify the broker with this CA (implies --tls)"
    )
    parser.add_argument(
        "--tls-insecure",
        action="store_true",
        help="TLS without verifying the broker (testing only; implies --tls)",
    )


def broker_options(args: argparse.Namespace) -> Optional[BrokerOptions]:
    """The broker options from the flags over the config; None after printing why not (exit 2)."""
    config: Optional[Config] = None
    if args.config is not None:
        try:
            config = load_config(Path(args.config))
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
            return None
    mqtt = config.mqtt if config is not None else None
    password = mqtt.password.get_secret_value() if mqtt is not None and mqtt.password is not None else None
    if args.password_file is not None:
        password = read_secret(args.password_file)
        if password is None:
            return None
    username = args.username or (mqtt.username if mqtt is not None else None)
    if password is not None and username is None:
        print("error: a password needs a user name (--username)", file=sys.stderr)
        return None
    tls = None
    if args.tls or args.ca_file is not None or args.tls_insecure:
        tls = TlsSettings(
            ca_file=args.ca_file or (mqtt.ca_file if mqtt is not None else None),
            cert_file=mqtt.cert_file if mqtt is not None else None,
            key_file=mqtt.key_file if mqtt is not None else None,
            insecure=args.tls_insecure or (mqtt.tls_insecure if mqtt is not None else False),
        )
    elif mqtt is not None and mqtt.uses_tls:
        tls = TlsSettings(mqtt.ca_file, mqtt.cert_file, mqtt.key_file, mqtt.tls_insecure)
    secret = None
    if config is not None and config.actions.mqtt_secret is not None:
        secret = config.actions.mqtt_secret.get_secret_value()
    return BrokerOptions(
        host=args.host or (mqtt.host if mqtt is not None else DEFAULT_HOST),
        port=args.port or (mqtt.port if mqtt is not None else DEFAULT_PORT),
        prefix=(args.prefix or (mqtt.topic_prefix if mqtt is not None else DEFAULT_PREFIX)).strip("/"),
        protocol=mqtt.protocol if mqtt is not None else None,
        username=username,
        password=password,
        tls=tls,
        command_expiry=mqtt.command_expiry if mqtt is not None else DEFAULT_COMMAND_EXPIRY,
        secret=secret,
    )


def read_secret(path: Path) -> Optional[str]:
    """A secret file's content without surrounding whitespace (as the agent reads ``*_file``
    secrets), or None after saying why it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return None
    if not text:
        print(f"error: {path} is empty", file=sys.stderr)
        return None
    return text


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)

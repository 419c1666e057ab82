"""What an MQTT connection is made of, as plain data: TLS settings, the last will, a received message.

Kept apart from :mod:`edge_agent.mqtt_bridge` (the paho module) so that the rest of the
agent can build and read these without importing paho.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edge_agent.errors import MqttError

try:
    import ssl
except ImportError:  # left out by `edge-agent run` when the config uses no TLS (see cli/run.py)
    ssl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class TlsSettings:
    """How to verify the broker and, optionally, who we are to it."""

    ca_file: Optional[Path] = None
    cert_file: Optional[Path] = None
    key_file: Optional[Path] = None
    insecure: bool = False


@dataclass(frozen=True)
class WillMessage:
    """What the broker publishes for us when we vanish without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class IncomingMessage:
    """A message the broker delivered to us; the MQTT 5 request/response fields when present."""

    topic: str
    payload: bytes
    retain: bool = False
    response_topic: Optional[str] = None
    correlation_data: Optional[bytes] = None


def build_tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """A client context that verifies the broker unless ``insecure`` is set explicitly."""
    try:
        context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
        if tls.cert_file is not None:
            context.load_cert_chain(
                str(tls.cert_file), str(tls.key_file) if tls.key_file is not None else None
            )
    except (OSError, ssl.SSLError) as exc:
        raise MqttError(f"cannot load the MQTT TLS files: {exc}") from exc
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

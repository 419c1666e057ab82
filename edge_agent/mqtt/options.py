"""What an MQTT connection is made of, as plain data: TLS settings, the last will, a received message.

Kept apart from :mod:`edge_agent.mqtt.bridge` (the paho module) so that the rest of the
agent can build and read these without importing paho.
"""

from __future__ import annotations

import sys
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
    strict: Optional[bool] = None
    """``VERIFY_X509_STRICT``: None keeps Python's default (on from 3.13), True/False force it."""


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
    if tls.strict is True:
        context.verify_flags |= ssl.VERIFY_X509_STRICT
    elif tls.strict is False:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


KEY_USAGE_FIX = "keyUsage = critical, keyCertSign, cRLSign and basicConstraints = critical, CA:TRUE"

# OpenSSL's words for what only strict verification (VERIFY_X509_STRICT) refuses.
_STRICT_ONLY = (
    "key usage extension",
    "authority key identifier",
    "subject key identifier",
    "not marked critical",
    "subject alternative name extension",
    "subject alt name extension not critical",
    "requires at least x509v3",
)


def explain_verify_failure(message: str, *, strict: bool) -> str:
    """OpenSSL's verify message, with the cause and the fix where strict checking refused it.

    Python 3.13's ``ssl.create_default_context()`` turns on ``VERIFY_X509_STRICT``, which
    refuses a CA without the keyUsage extension, as many home-made broker CAs are (made
    with a bare ``openssl req -x509``). The same broker worked on 3.12, so OpenSSL's terse
    words alone would send the user looking in the wrong place.
    """
    lowered = message.lower()
    if not strict or not any(words in lowered for words in _STRICT_ONLY):
        return message
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if "key usage" in lowered:
        cause = (
            "the CA certificate has no keyUsage extension, which strict verification refuses "
            f"(VERIFY_X509_STRICT, on by default from Python 3.13; this is {python})"
        )
    else:
        cause = (
            "a certificate of the chain breaks a rule that strict verification enforces "
            f"(VERIFY_X509_STRICT, on by default from Python 3.13; this is {python})"
        )
    return (
        f"{message}: {cause}. Fix: re-issue the CA with {KEY_USAGE_FIX} (and the broker's "
        "certificate from it); or, to accept this CA as it is, set [mqtt] tls_strict = false"
    )

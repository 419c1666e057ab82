"""The exception tree of edge-agent.

Foreign exceptions (paho's return codes, socket, TLS and h11 errors, sqlite3's errors, pydantic's
validation errors) are translated into these in exactly one place each, chained with
``raise ... from exc``, so the rest of the agent catches only our own types::

    EdgeAgentError
    ├── ConfigError               a config file is unreadable or invalid (carries every problem)
    ├── SensorUnavailable         a metric the device lacks or denies (carries the reason)
    ├── StoreError                the SQLite store cannot be opened or written
    │   ├── StoreUnavailable      cannot be opened now (disk full, I/O error, locked): exit 75
    │   └── StoreSchemaError      written by a newer release: refused untouched, exit 65
    ├── MqttError                 the broker side
    │   ├── MqttConnectError      cannot connect, refused, TLS verification failed
    │   └── MqttPublishError      a publish could not be queued
    ├── VendorError               a vendor heartbeat endpoint
    │   ├── VendorTransportError  network error, timeout, 5xx: retry with backoff
    │   ├── VendorAuthError       "you are not allowed" (403 mac, 401...): long backoff
    │   ├── VendorRejectedError   the request itself is wrong (400): stop until config changes
    │   └── VendorProtocolError   a reply that is malformed, oversized or of the wrong type
    └── ActionError               an action cannot be run
        └── ActionRejected        refused by policy: not allowed, bad value, bad signature
"""

from __future__ import annotations

from typing import Optional


class EdgeAgentError(Exception):
    """Base of every error edge-agent raises on purpose."""


class ConfigError(EdgeAgentError):
    """A config file is unreadable or invalid.

    ``problems`` holds one line per problem, each naming the file, the key path,
    the reason and (where known) the line, ready to print to a person.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SensorUnavailable(EdgeAgentError):
    """A sensor the device lacks, or that the platform (SELinux, permissions) denies."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StoreError(EdgeAgentError):
    """The local SQLite store cannot be opened, read or written."""


class StoreUnavailable(StoreError):
    """The store cannot be opened now (disk full, I/O error, locked); the file is kept as it is."""


class StoreSchemaError(StoreError):
    """The store has a schema newer than this code: refused, never half-used."""


class MqttError(EdgeAgentError):
    """Something on the MQTT side failed."""


class MqttConnectError(MqttError):
    """The broker cannot be reached, refused us, or failed TLS verification."""


class MqttPublishError(MqttError):
    """A publish could not be handed to the client."""


class VendorError(EdgeAgentError):
    """A vendor heartbeat endpoint failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: Optional[int] = None) -> None:
        self.status = status
        super().__init__(message)


class VendorTransportError(VendorError):
    """Network error, timeout or a 5xx answer: worth retrying with backoff."""


class VendorAuthError(VendorError):
    """The vendor says we are not allowed (wrong token, device disabled): back off for long."""


class VendorRejectedError(VendorError):
    """The vendor rejects the request itself (HTTP 400): retrying the same will not help."""


class VendorProtocolError(VendorError):
    """The reply is malformed, truncated, oversized or of the wrong shape."""


class ActionError(EdgeAgentError):
    """An action could not be run."""


class ActionRejected(ActionError):
    """An action refused by policy: type not allowed, invalid value, bad or missing signature."""

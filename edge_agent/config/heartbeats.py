"""``[heartbeats.<name>]`` tables: one vendor endpoint each, told apart by ``vendor``.

Each vendor's keys are the ones its issue names (see README "Vendors"); the retry and
TLS keys in :class:`HeartbeatBase` are common to all.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, SecretStr, field_validator, model_validator

from edge_agent.config.base import LaxPath, NotBool, Section
from edge_agent.config.checks import http_url


class HeartbeatBase(Section):
    """What every vendor endpoint has: schedule, timeout, retry policy and TLS."""

    path_fields = ("ca_file",)

    enabled: bool = True
    interval: float = Field(60.0, gt=0, le=86400)
    timeout: float = Field(10.0, gt=0, le=300)
    backoff_initial: float = Field(5.0, gt=0, le=3600)
    backoff_max: float = Field(300.0, gt=0, le=86400)
    forbidden_backoff: float = Field(1800.0, gt=0, le=86400)
    max_response_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    tls_insecure: bool = False
    ca_file: Optional[LaxPath] = None

    @field_validator("url", "entry_url", "origin", check_fields=False)
    @classmethod
    def _http_url(cls, url: str) -> str:
        # Every vendor speaks HTTP(S): "htp://" or a bare host is a typo, found at load.
        return http_url(url)

    @model_validator(mode="after")
    def _backoff_ordered(self) -> HeartbeatBase:
        if self.backoff_initial > self.backoff_max:
            raise ValueError("backoff_initial must not exceed backoff_max")
        return self


class TelecomXConfig(HeartbeatBase):
    """Telecom X IPTV tablet heartbeat (seed 000)."""

    secret_fields = ("token",)
    required_secrets = ("token",)

    vendor: Literal["telecomx"]
    url: str = "https://api.telecomx.dk/iptv/app/heartbeat"
    token: SecretStr
    no_events: bool = False
    apps: list[str] = Field(default_factory=list)
    place: Optional[str] = None


class XyteConfig(HeartbeatBase):
    """Xyte device hub telemetry (seed 001)."""

    secret_fields = ("hardware_key",)
    required_secrets = ("hardware_key",)

    vendor: Literal["xyte"]
    entry_url: str = "https://entry.xyte.io"
    hardware_key: SecretStr
    sn: str = Field(min_length=1)
    mac: Optional[str] = None
    cloud_id: Optional[str] = None
    firmware_version: str = Field(min_length=1)
    name: Optional[str] = None
    interval: float = Field(10.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _one_auth_method(self) -> XyteConfig:
        if not self.mac and not self.cloud_id:
            raise ValueError("set mac (MAC & serial auth) or cloud_id (Cloud ID auth)")
        return self


class AiBoxConfig(HeartbeatBase):
    """AI camera / box heartbeat event with power-outage retransmission (seed 002)."""

    vendor: Literal["aibox"]
    url: str
    serial_number: str = Field(min_length=1)
    sn: Optional[str] = None
    did: Optional[str] = None
    platform_id: Optional[str] = None
    device_type: str = "0x0002"
    device_version: str = "V1.0.0"
    strategy_version: str = "v1.0.0"
    interval: float = Field(30.0, gt=0, le=86400)
    response_timeout: float = Field(10.0, gt=0, le=300)


class YeastarConfig(HeartbeatBase):
    """Yeastar S-Series PBX API heartbeat and event-report receiver (seed 003)."""

    secret_fields = ("password",)
    required_secrets = ("password",)

    vendor: Literal["yeastar"]
    url: str
    username: str = Field(min_length=1)
    password: SecretStr
    report_ip: str
    report_port: int = Field(8260, ge=1, le=65535)
    report_bind: str = ""  # "" = report_ip, the address the PBX is told to send to
    report_url: str = ""
    url_tag: Annotated[Literal[0, 1], NotBool] = 0
    interval: float = Field(1200.0, gt=0, lt=1800)
    report_allow: list[str] = Field(default_factory=list)  # [] = the addresses of url's host
    report_max_per_source: int = Field(4, ge=1, le=1024)

    @field_validator("report_allow")
    @classmethod
    def _allow_networks(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 192.0.2.150 or 192.0.2.0/24)"
                ) from exc
        return entries


class PubNubConfig(HeartbeatBase):
    """PubNub Presence "announce heartbeat" (seed 004)."""

    secret_fields = ("secret_key", "auth_key")

    vendor: Literal["pubnub"]
    origin: str = "https://ps.pndsn.com"
    subscribe_key: str = Field(min_length=1)
    publish_key: str = ""
    secret_key: Optional[SecretStr] = None
    auth_key: Optional[SecretStr] = None
    channels: list[str] = Field(default_factory=list)
    channel_groups: list[str] = Field(default_factory=list)
    uuid: Optional[str] = Field(None, min_length=1, max_length=92)
    presence_timeout: int = Field(300, ge=20, le=3600)
    interval: Optional[float] = Field(None, gt=0, le=86400)  # type: ignore[assignment]
    state: list[str] = Field(default_factory=list)

    @field_validator("channels", "channel_groups")
    @classmethod
    def _no_commas(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or "," in name:
                raise ValueError(f"{name!r} is not a valid channel name")
        return names

    @model_validator(mode="after")
    def _defaults_from_timeout(self) -> PubNubConfig:
        if not self.channels and not self.channel_groups:
            raise ValueError("set channels or channel_groups")
        if self.secret_key is not None and not self.publish_key:
            raise ValueError("secret_key signing needs publish_key")
        if self.interval is None:
            object.__setattr__(self, "interval", self.presence_timeout / 2 - 1)
        elif self.interval >= self.presence_timeout:
            raise ValueError("interval must be shorter than presence_timeout")
        return self


HeartbeatConfig = Annotated[
    Union[TelecomXConfig, XyteConfig, AiBoxConfig, YeastarConfig, PubNubConfig],
    Field(discriminator="vendor"),
]

VENDOR_NAMES: tuple[str, ...] = ("telecomx", "xyte", "aibox", "yeastar", "pubnub")

"""The ``[heartbeats.<name>]`` table of yeastar endpoints (``vendor = "yeastar"``)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from edge_agent.config.base import NotBool
from edge_agent.config.endpoint import HeartbeatBase


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

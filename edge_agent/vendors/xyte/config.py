"""The ``[heartbeats.<name>]`` table of xyte endpoints (``vendor = "xyte"``)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, SecretStr, model_validator

from edge_agent.config.endpoint import HeartbeatBase


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

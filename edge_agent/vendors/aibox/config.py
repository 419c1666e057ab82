"""The ``[heartbeats.<name>]`` table of aibox endpoints (``vendor = "aibox"``)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from edge_agent.config.endpoint import HeartbeatBase


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

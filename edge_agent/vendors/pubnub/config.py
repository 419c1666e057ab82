"""The ``[heartbeats.<name>]`` table of pubnub endpoints (``vendor = "pubnub"``)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, SecretStr, field_validator, model_validator

from edge_agent.config.endpoint import HeartbeatBase


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

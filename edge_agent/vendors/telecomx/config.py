"""The ``[heartbeats.<name>]`` table of telecomx endpoints (``vendor = "telecomx"``)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, SecretStr

from edge_agent.config.endpoint import HeartbeatBase


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

    def watched_apps(self) -> list[str]:
        """The ``apps`` whose installed state each heartbeat carries."""
        return list(self.apps)

    def action_token(self) -> Optional[str]:
        """The session token, for START_APP's ``includeToken``."""
        return self.token.get_secret_value()

"""The ``[heartbeats.<name>]`` table of Uptime Kuma push monitors (``vendor = "uptimekuma"``).

``url`` is the Uptime Kuma server (``http://kuma.local:3001``); ``push_token`` is the token
of the push monitor's URL (``/api/push/<push_token>``), a secret in effect.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from edge_agent.config.endpoint import HeartbeatBase

TOKEN = re.compile(r"^[A-Za-z0-9]{1,32}$")  # genSecret(): letters and digits, 32 today (10 before 2.0)


class UptimeKumaConfig(HeartbeatBase):
    """Uptime Kuma push monitor: ``up`` with a message and the measured round trip each beat."""

    secret_fields = ("push_token",)
    required_secrets = ("push_token",)

    vendor: Literal["uptimekuma"]
    url: str
    push_token: SecretStr
    msg: str = Field("OK", min_length=1, max_length=250)
    on_stop: Literal["none", "down"] = "none"
    interval: float = Field(60.0, gt=0, le=86400)

    @field_validator("push_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not TOKEN.match(value.get_secret_value()):
            raise ValueError("a push token is 1 to 32 letters and digits (the end of the monitor's push URL)")
        return value

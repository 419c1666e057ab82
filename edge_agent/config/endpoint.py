"""What every ``[heartbeats.<name>]`` table has, whatever its vendor: schedule, retry, TLS.

Each vendor's own model (``edge_agent/vendors/<name>/config.py``) extends it; this module
imports no vendor, so a vendor's config can import it without a cycle.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import LaxPath, Section
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

    def watched_apps(self) -> list[str]:
        """Apps whose state this endpoint reports, for the apps collector to look up (none here)."""
        return []

    def action_token(self) -> Optional[str]:
        """A session token an action from this endpoint may pass on (``{token}``); none here."""
        return None

"""The ``[heartbeats.<name>]`` table of Healthchecks.io endpoints (``vendor = "healthchecks"``).

A check is named by its UUID (``uuid``) or by the project's ping key and the check's slug
(``ping_key`` + ``slug``); both are secrets in effect (whoever knows the URL can ping it).
``url`` is the ping base: ``https://hc-ping.com`` for the hosted service, the
``PING_ENDPOINT`` of a self-hosted instance (e.g. ``https://hc.example.org/ping``).
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, SecretStr, field_validator, model_validator

from edge_agent.config.endpoint import HeartbeatBase

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SLUG = re.compile(r"^[a-z0-9_-]+$")
ON_STOP = ("none", "log", "fail")


class HealthchecksConfig(HeartbeatBase):
    """Healthchecks.io ping API: a success ping each beat, with the snapshot as its log."""

    secret_fields = ("uuid", "ping_key")

    vendor: Literal["healthchecks"]
    url: str = "https://hc-ping.com"
    uuid: Optional[SecretStr] = None
    ping_key: Optional[SecretStr] = None
    slug: Optional[str] = None
    create: bool = False  # slug URLs: let Healthchecks create a missing check (?create=1)
    signal_start: bool = False  # send /start once per run before the first success ping
    on_stop: str = "none"  # the goodbye: none, log, fail, or an exit status 0..255
    interval: float = Field(60.0, gt=0, le=86400)

    @field_validator("uuid")
    @classmethod
    def _uuid(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        if value is not None and not UUID.match(value.get_secret_value()):
            raise ValueError("must be a check's UUID, lower-case, like 5f1c3b0e-7d2a-4c4e-9b8a-0c1d2e3f4a5b")
        return value

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not SLUG.match(value):
            raise ValueError("a slug holds only a-z, 0-9, hyphens and underscores")
        return value

    @field_validator("on_stop")
    @classmethod
    def _on_stop(cls, value: str) -> str:
        if value in ON_STOP or (value.isdigit() and int(value) <= 255):
            return value
        raise ValueError("must be none, log, fail, or an exit status 0..255")

    @model_validator(mode="after")
    def _one_way_to_name_the_check(self) -> HealthchecksConfig:
        by_slug = self.ping_key is not None or self.slug is not None
        if (self.uuid is None) == (not by_slug):
            raise ValueError("set uuid, or ping_key and slug (not both)")
        if by_slug and (self.ping_key is None or self.slug is None):
            raise ValueError("a slug URL needs both ping_key and slug")
        if self.create and not by_slug:
            raise ValueError("create applies to slug URLs only")
        return self

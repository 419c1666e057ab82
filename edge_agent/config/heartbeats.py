"""``[heartbeats.<name>]`` tables: one vendor endpoint each, told apart by ``vendor``.

Each vendor's model lives in its folder (``edge_agent/vendors/<name>/config.py``); the
discriminated Union and :data:`VENDOR_NAMES` are derived from the vendor registry, so a
new vendor is never written into this file. The retry and TLS keys common to all are in
:class:`~edge_agent.config.endpoint.HeartbeatBase`.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from edge_agent.config.endpoint import HeartbeatBase
from edge_agent.vendors.registry import VENDOR_NAMES, VENDORS

MODELS: dict[str, type[HeartbeatBase]] = {name: spec.config_class() for name, spec in VENDORS.items()}
"""vendor name -> its config model, in registry order."""

HeartbeatConfig: Any = Annotated[Union[tuple(MODELS.values())], Field(discriminator="vendor")]


def __getattr__(name: str) -> Any:
    # The old home of each model (``from edge_agent.config.heartbeats import XyteConfig``).
    for model in MODELS.values():
        if model.__name__ == name:
            return model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MODELS", "VENDOR_NAMES", "HeartbeatBase", "HeartbeatConfig"]

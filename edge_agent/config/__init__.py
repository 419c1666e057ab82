"""The configuration: pydantic models for the one TOML file, mirroring ``conf/edge-agent.toml``.

The names below load on first use (PEP 562): a vendor's config model, in its own folder,
imports :mod:`edge_agent.config.endpoint`, and that must not load every vendor first.
Each vendor's model is also reachable here by its class name (``edge_agent.config.XyteConfig``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.config.endpoint import HeartbeatBase
    from edge_agent.config.heartbeats import VENDOR_NAMES, HeartbeatConfig
    from edge_agent.config.loader import Config, load_config, parse_config
    from edge_agent.config.sections import (
        ActionsConfig,
        DeviceConfig,
        MetricsConfig,
        MqttConfig,
        StorageConfig,
    )

_HOMES = {
    "HeartbeatBase": "edge_agent.config.endpoint",
    "VENDOR_NAMES": "edge_agent.config.heartbeats",
    "HeartbeatConfig": "edge_agent.config.heartbeats",
    "Config": "edge_agent.config.loader",
    "load_config": "edge_agent.config.loader",
    "parse_config": "edge_agent.config.loader",
    "ActionsConfig": "edge_agent.config.sections",
    "DeviceConfig": "edge_agent.config.sections",
    "MetricsConfig": "edge_agent.config.sections",
    "MqttConfig": "edge_agent.config.sections",
    "StorageConfig": "edge_agent.config.sections",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    if name.endswith("Config"):  # a vendor's model, by its class name
        heartbeats = importlib.import_module("edge_agent.config.heartbeats")
        for model in heartbeats.MODELS.values():
            if model.__name__ == name:
                return model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "VENDOR_NAMES",
    "ActionsConfig",
    "Config",
    "DeviceConfig",
    "HeartbeatBase",
    "HeartbeatConfig",
    "MetricsConfig",
    "MqttConfig",
    "StorageConfig",
    "load_config",
    "parse_config",
]

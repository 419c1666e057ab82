"""The configuration: pydantic models for the one TOML file, mirroring ``conf/edge-agent.toml``."""

from edge_agent.config.heartbeats import (
    VENDOR_NAMES,
    AiBoxConfig,
    HeartbeatBase,
    HeartbeatConfig,
    PubNubConfig,
    TelecomXConfig,
    XyteConfig,
    YeastarConfig,
)
from edge_agent.config.loader import Config, load_config, parse_config
from edge_agent.config.sections import (
    ActionsConfig,
    DeviceConfig,
    MetricsConfig,
    MqttConfig,
    StorageConfig,
)

__all__ = [
    "VENDOR_NAMES",
    "ActionsConfig",
    "AiBoxConfig",
    "Config",
    "DeviceConfig",
    "HeartbeatBase",
    "HeartbeatConfig",
    "MetricsConfig",
    "MqttConfig",
    "PubNubConfig",
    "StorageConfig",
    "TelecomXConfig",
    "XyteConfig",
    "YeastarConfig",
    "load_config",
    "parse_config",
]

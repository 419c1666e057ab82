"""The one registry of vendors: name -> :class:`VendorSpec`, and everything derived from it.

A vendor is one folder, ``edge_agent/vendors/<name>/``, holding modules by convention:

``config.py``     its ``[heartbeats.<name>]`` model (a :class:`~edge_agent.config.endpoint.HeartbeatBase`);
``adapter.py``    its :class:`~edge_agent.vendors.types.VendorAdapter` (format and flow);
``simulator.py``  its server side for tests and the demo (imports nothing from the agent);
``endpoint.py``   ``endpoint_table(url, credentials, ports)``: the TOML table pointing at a simulator;
``hooks.py``      optional: side services (:class:`~edge_agent.vendors.hooks.VendorHooks`).

The registry holds dotted paths, not classes: reading it imports nothing, so the config
(whose Union of models is derived here), the CLI and the simulators load only what they
use. Adding a vendor is one folder and one line in :data:`VENDORS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import Any, Optional


@dataclass(frozen=True)
class VendorSpec:
    """Where each part of one vendor lives (dotted paths, ``module:attribute`` for classes)."""

    name: str
    config: str
    adapter: str
    simulator: str
    endpoint: str
    hooks: Optional[str] = None

    def config_class(self) -> Any:
        """The pydantic model of this vendor's ``[heartbeats.<name>]`` table."""
        return _attribute(self.config)

    def adapter_class(self) -> Any:
        """The adapter class the heartbeat engine runs for each endpoint of this vendor."""
        return _attribute(self.adapter)

    def simulator_module(self) -> ModuleType:
        """The simulator (``create``, ``describe``, ``seed_demo``)."""
        return importlib.import_module(self.simulator)

    def endpoint_module(self) -> ModuleType:
        """The endpoint description (``ENDPOINT_NAME``, ``endpoint_table``...)."""
        return importlib.import_module(self.endpoint)

    def hooks_object(self) -> Any:
        """The side-service hooks, or None when the vendor has none."""
        return _attribute(self.hooks)() if self.hooks else None


def vendor(name: str, config: str, adapter: str, *, hooks: Optional[str] = None) -> VendorSpec:
    """A spec whose modules follow the folder convention of ``edge_agent/vendors/<name>/``."""
    package = f"edge_agent.vendors.{name}"
    return VendorSpec(
        name=name,
        config=f"{package}.config:{config}",
        adapter=f"{package}.adapter:{adapter}",
        simulator=f"{package}.simulator",
        endpoint=f"{package}.endpoint",
        hooks=f"{package}.hooks:{hooks}" if hooks else None,
    )


# fmt: off
VENDORS: Mapping[str, VendorSpec] = MappingProxyType({spec.name: spec for spec in (
    vendor("telecomx", "TelecomXConfig", "TelecomXAdapter"),
    vendor("xyte", "XyteConfig", "XyteAdapter"),
    vendor("aibox", "AiBoxConfig", "AiBoxAdapter", hooks="AiBoxHooks"),
    vendor("yeastar", "YeastarConfig", "YeastarAdapter", hooks="YeastarHooks"),
    vendor("pubnub", "PubNubConfig", "PubNubAdapter"),
    vendor("healthchecks", "HealthchecksConfig", "HealthchecksAdapter"),
    vendor("uptimekuma", "UptimeKumaConfig", "UptimeKumaAdapter"),
)})
# fmt: on

VENDOR_NAMES: tuple[str, ...] = tuple(VENDORS)
"""Every registered vendor name, in registry order (the order of docs and worlds)."""


def spec(name: str) -> VendorSpec:
    """The spec of ``name``; a KeyError naming the known vendors when there is none."""
    try:
        return VENDORS[name]
    except KeyError:
        raise KeyError(f"no vendor {name!r}; this build knows {', '.join(VENDORS)}") from None


def _attribute(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)

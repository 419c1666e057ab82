"""Vendor adapters: one module per vendor format, and the registry that names them.

:data:`ADAPTERS` maps the ``vendor`` key of a ``[heartbeats.<name>]`` table to its
adapter class. It is explicit (nothing is discovered by importing whatever file is
there) and read-only to everyone else; :func:`adapter_class` turns an unknown name into
a clear error. Adapters import only ``edge_agent.model``, ``edge_agent.errors`` and
``edge_agent.config``: no HTTP library, no store.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from edge_agent.errors import ConfigError
from edge_agent.vendors.aibox_flow import AiBoxAdapter
from edge_agent.vendors.pubnub import PubNubAdapter
from edge_agent.vendors.telecomx import TelecomXAdapter
from edge_agent.vendors.types import VendorAdapter
from edge_agent.vendors.xyte_flow import XyteAdapter
from edge_agent.vendors.yeastar import YeastarAdapter

ADAPTERS: Mapping[str, type[VendorAdapter]] = MappingProxyType(
    {
        "telecomx": TelecomXAdapter,
        "xyte": XyteAdapter,
        "aibox": AiBoxAdapter,
        "yeastar": YeastarAdapter,
        "pubnub": PubNubAdapter,
    }
)


def adapter_class(vendor: str) -> type[VendorAdapter]:
    """The adapter for ``vendor``; a ConfigError naming the known vendors when there is none."""
    try:
        return ADAPTERS[vendor]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise ConfigError([f"no adapter for vendor {vendor!r}; this build knows {known}"]) from None


__all__ = ["ADAPTERS", "VendorAdapter", "adapter_class"]

"""Vendors: one folder each (``edge_agent/vendors/<name>/``), named by one registry.

:mod:`edge_agent.vendors.registry` maps the ``vendor`` key of a ``[heartbeats.<name>]``
table to its :class:`~edge_agent.vendors.registry.VendorSpec`. This package imports
nothing at import time, so a vendor's simulator can live in its folder without loading
the agent; :data:`ADAPTERS` and :func:`adapter_class` load the adapters when asked.
Adapters import only ``edge_agent.model``, ``edge_agent.errors``, ``edge_agent.config``
and ``edge_agent.jsonsafe``: no HTTP library, no store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.vendors.types import VendorAdapter


def adapter_class(vendor: str) -> type[VendorAdapter]:
    """The adapter for ``vendor``; a ConfigError naming the known vendors when there is none."""
    from edge_agent.errors import ConfigError
    from edge_agent.vendors.registry import VENDORS

    try:
        spec = VENDORS[vendor]
    except KeyError:
        known = ", ".join(VENDORS)  # registry order, as the config's own message
        raise ConfigError([f"no adapter for vendor {vendor!r}; this build knows {known}"]) from None
    return spec.adapter_class()  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    # ADAPTERS is derived from the registry on first use: importing it would load every adapter.
    if name == "ADAPTERS":
        from types import MappingProxyType

        from edge_agent.vendors.registry import VENDORS

        adapters: Mapping[str, Any] = MappingProxyType({n: s.adapter_class() for n, s in VENDORS.items()})
        return adapters
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ADAPTERS", "adapter_class"]

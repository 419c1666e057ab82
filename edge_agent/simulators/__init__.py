"""Vendor simulators: each vendor's server side, for tests, the demo and integrators.

Each vendor's simulator is ``edge_agent/vendors/<name>/simulator.py``, named by the vendor
registry; this package holds what they share (:mod:`edge_agent.simulators.base`) and
:func:`load`. Each simulator module follows one convention, so that ``edge-agent simulate``
and the shared tests work for every vendor without knowing it:

- ``create(clock: Optional[SimClock] = None) -> SimApp``: a fresh simulator with no
  credentials, its test hooks documented on the returned class;
- ``describe(base_url: str) -> str``: a short "point your device at ..." hint;
- ``seed_demo(app) -> dict[str, str]``: adds demo credentials (a token, a hardware
  key...) to ``app`` and returns them by name, for the CLI to print.

No simulator imports from the rest of the agent (only from this package and its own
vendor's ``simulator_*`` modules), so an adapter's bug is not copied into its test partner.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from edge_agent.vendors.registry import VENDORS

SIMULATORS: dict[str, str] = {name: spec.simulator for name, spec in VENDORS.items()}


def load(vendor: str) -> ModuleType:
    """The simulator module for ``vendor``; a clear error for a name we do not simulate."""
    try:
        module_name = SIMULATORS[vendor]
    except KeyError:
        known = ", ".join(sorted(SIMULATORS))
        raise KeyError(f"no simulator for {vendor!r}; choose one of {known}") from None
    return importlib.import_module(module_name)

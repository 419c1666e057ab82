"""Vendor simulators: each vendor's server side, for tests, the demo and integrators.

``SIMULATORS`` maps the vendor name to the module that holds its simulator. Each such
module follows one convention, so that ``edge-agent simulate`` and the shared tests work
for every vendor without knowing it:

- ``create(clock: Optional[SimClock] = None) -> SimApp``: a fresh simulator with no
  credentials, its test hooks documented on the returned class;
- ``describe(base_url: str) -> str``: a short "point your device at ..." hint;
- ``seed_demo(app) -> dict[str, str]``: adds demo credentials (a token, a hardware
  key...) to ``app`` and returns them by name, for the CLI to print.

Nothing in this package imports from the rest of the agent.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SIMULATORS: dict[str, str] = {
    "telecomx": "edge_agent.simulators.telecomx",
    "xyte": "edge_agent.simulators.xyte",
    "aibox": "edge_agent.simulators.aibox",
    "yeastar": "edge_agent.simulators.yeastar",
    "pubnub": "edge_agent.simulators.pubnub",
}


def load(vendor: str) -> ModuleType:
    """The simulator module for ``vendor``; a clear error for a name we do not simulate."""
    try:
        module_name = SIMULATORS[vendor]
    except KeyError:
        known = ", ".join(sorted(SIMULATORS))
        raise KeyError(f"no simulator for {vendor!r}; choose one of {known}") from None
    return importlib.import_module(module_name)

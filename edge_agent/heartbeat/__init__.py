"""Vendor heartbeats: the engine that schedules them and the one module that speaks HTTP.

The agent builds a :class:`HeartbeatEngine` from the config, awaits
:meth:`HeartbeatEngine.run` until it stops, then :meth:`HeartbeatEngine.shutdown` for the
goodbye beats. The vendor formats themselves live in :mod:`edge_agent.vendors`.
"""

from __future__ import annotations

from edge_agent.heartbeat.context import MemoryContext, StoreContext, state_namespace
from edge_agent.heartbeat.engine import BeatResult, Endpoint, HeartbeatEngine, backoff_delay
from edge_agent.heartbeat.transport import HttpTransport, default_headers

__all__ = [
    "BeatResult",
    "Endpoint",
    "HeartbeatEngine",
    "HttpTransport",
    "MemoryContext",
    "StoreContext",
    "backoff_delay",
    "default_headers",
    "state_namespace",
]

"""A vendor's side services: what it needs beyond its heartbeat, behind one optional hook.

Most vendors need nothing but their adapter. A few keep something running beside it (the
Yeastar PBX pushes event reports to a listener) or mirror what their platform sent (the
AI-box strategy, retained). Such a vendor names a :class:`VendorHooks` subclass in its
registry line; ``assembly.py`` calls it for each enabled endpoint of that vendor through
a :class:`HookContext`, and so names no vendor itself. Topics a hook uses are its own,
below the device's base topic (README "MQTT topics" lists them).
"""

from __future__ import annotations

from typing import Any, Protocol

from edge_agent.model import Clock, Event


class HookContext(Protocol):
    """What the agent lends a hook for one endpoint ``name``."""

    name: str
    clock: Clock

    def topic(self, *parts: str) -> str:
        """``<prefix>/<id>/<parts...>``."""

    def publish_owed(self, topic: str, payload: bytes) -> None:
        """QoS 1 through the durable outbox: survives outages and restarts."""

    def set_retained(self, topic: str, payload: bytes) -> None:
        """A retained message, replaced by the next one."""

    def emit(self, event_type: str, data: dict[str, Any]) -> Event:
        """An event on ``<prefix>/<id>/events`` and in the journal."""

    def get_state(self, key: str) -> Any:
        """A value the endpoint's adapter stored in its state namespace (None if none)."""


class VendorHooks:
    """No side service: the default every hook overrides only where its vendor needs one."""

    def services(self, context: HookContext, endpoint: Any) -> list[tuple[str, Any]]:
        """``(kind, service)`` pairs to supervise beside the heartbeat as ``<kind>:<endpoint>``.

        A service has ``run(stop)`` and ``shutdown()``.
        """
        return []

    def on_start(self, context: HookContext, endpoint: Any) -> None:
        """Called once when the agent is built, e.g. to re-publish stored state."""

    def on_event(self, context: HookContext, endpoint: Any, event: Event) -> None:
        """Called for each event the endpoint's adapter emitted, after it is published."""

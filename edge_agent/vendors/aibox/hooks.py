"""The AI-box's side service: its platform's detection strategy, mirrored retained.

Topic ``<prefix>/<id>/aibox/<name>/strategy`` (retained JSON): set at start from the
stored strategy, and again whenever an Ack brings a new one (the ``aibox.strategy`` event).
"""

from __future__ import annotations

import logging
from typing import Any

from edge_agent.jsonsafe import dumps_checked
from edge_agent.model import Event
from edge_agent.vendors.hooks import HookContext, VendorHooks

log = logging.getLogger(__name__)


class AiBoxHooks(VendorHooks):
    """Mirror the strategy retained, so a subscriber joining late still sees it."""

    def on_start(self, context: HookContext, endpoint: Any) -> None:
        _mirror_strategy(context, context.get_state("strategy"))

    def on_event(self, context: HookContext, endpoint: Any, event: Event) -> None:
        if event.type == "aibox.strategy":
            _mirror_strategy(context, event.data.get("strategy"))


def _mirror_strategy(context: HookContext, strategy: Any) -> None:
    if not isinstance(strategy, dict):
        return
    try:
        payload = dumps_checked(strategy)  # retained: a too-deep one would be handed to every subscriber
    except ValueError as exc:
        log.warning("%s: strategy not mirrored: %s", context.name, exc)
        return
    context.set_retained(context.topic("aibox", context.name, "strategy"), payload.encode("utf-8"))

"""The Yeastar PBX's side service: the listener its event reports are pushed to.

Each report is owed to ``<prefix>/<id>/pbx/<name>`` (QoS 1, through the outbox) and
announced as a ``pbx.report`` event, both durable before the listener answers 200.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edge_agent.jsonsafe import dumps_checked
from edge_agent.vendors.hooks import HookContext, VendorHooks
from edge_agent.vendors.yeastar.report_listener import ReportListener

if TYPE_CHECKING:
    from edge_agent.vendors.yeastar.config import YeastarConfig


class YeastarHooks(VendorHooks):
    """One report listener per enabled Yeastar endpoint."""

    def services(self, context: HookContext, endpoint: YeastarConfig) -> list[tuple[str, Any]]:
        # the endpoint is this vendor's validated model, or its plain copy in the lean agent
        # (edge_agent.plain_config): read its fields, never test its class

        def on_report(endpoint_name: str, report: dict[str, Any]) -> None:
            # Both writes are durable before the listener answers 200; a StoreError makes it
            # answer 503 so the PBX sends the report again. A report nested too deep to be
            # re-published is a ValueError here (400): checked before anything is owed.
            payload = dumps_checked(report).encode("utf-8")
            context.publish_owed(context.topic("pbx", endpoint_name), payload)
            context.emit("pbx.report", {"endpoint": endpoint_name, "report": report})

        listener = ReportListener(
            endpoint.report_bind or endpoint.report_ip,
            endpoint.report_port,
            on_report,
            context.name,
            context.clock,
            allow=endpoint.report_allow,
            pbx_host=urlsplit(endpoint.url).hostname,
            max_per_source=endpoint.report_max_per_source,
        )
        return [("report-listener", listener)]

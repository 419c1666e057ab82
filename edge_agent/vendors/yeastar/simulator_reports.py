"""Where the simulated Yeastar PBX sends its event reports, and the one HTTP POST that sends them.

The PBX is the HTTP *client* for reports: ``POST http://{ipaddr}:{port}/{url}`` when
``urltag`` is 0, ``POST http://{url}`` when it is 1, with ``User-Agent: WebAPI``, and it
resends until the application server answers 200. Only loopback targets are ever
contacted (see :meth:`ReportTarget.loopback_refusal`), because a simulator must not send
traffic to another machine whatever address a client announces.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit

from edge_agent.simulators.base import LOOPBACK_HOSTS


@dataclass(frozen=True)
class ReportTarget:
    """The application server as the last login or heartbeat described it."""

    host: str  # ipaddr of the heartbeat, or the login's source IP
    port: int
    url: str
    url_tag: int  # 0: url is a path on host:port; 1: url is "host:port/path"
    version: Optional[str] = None

    @property
    def address(self) -> str:
        if self.url_tag == 1:
            return f"http://{self.url}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/{self.url.lstrip('/')}"

    def loopback_refusal(self) -> Optional[str]:
        """Why the simulator will not send here (None when the target is on loopback)."""
        split = urlsplit(self.address)
        try:
            split.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            return f"report target {self.address} has a malformed port"
        if split.hostname not in LOOPBACK_HOSTS:
            return (
                f"report target host {split.hostname!r} is not loopback; the simulator only "
                f"pushes reports to {', '.join(LOOPBACK_HOSTS)}"
            )
        return None


@dataclass
class ReportPush:
    """One report the PBX tried to deliver: the HTTP status of each attempt (None = no answer)."""

    report: dict[str, Any]
    target: Optional[str] = None
    attempts: list[Optional[int]] = field(default_factory=list)
    delivered: bool = False
    refused: Optional[str] = None
    finished: bool = False


def post_report(target: ReportTarget, report: dict[str, Any], timeout: float) -> Optional[int]:
    """POST ``report`` as the PBX does; the answer's status, or None when there was none."""
    split = urlsplit(target.address)
    path = split.path or "/"
    if split.query:
        path = f"{path}?{split.query}"
    body = json.dumps(report).encode("utf-8")
    headers = {"User-Agent": "WebAPI", "Content-Type": "application/json", "Accept": "application/json"}
    connection = http.client.HTTPConnection(split.hostname or "", split.port or 80, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None  # refused, reset or timed out: the PBX simply tries again
    finally:
        connection.close()

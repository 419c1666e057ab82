"""What a world of simulators (the demo, the tests, the bench) tells a vendor's endpoint description.

Each vendor's ``endpoint.py`` turns a simulator's URL, the credentials its ``seed_demo``
returned and this :class:`Place` into the ``[heartbeats.<name>]`` table that points the
agent at that simulator, so the worlds are generated from the registry, never written
per vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Place:
    """The world's facts an endpoint table may need."""

    device_id: str
    report_port: int  # a free port on 127.0.0.1 for a vendor that pushes to the agent
    serial: Optional[str] = None
    """The device's serial number, for a vendor that knows a device by one; None: the
    vendor's own demo serial. Several agents sharing one simulator (the bench) each need
    their own, and a test that looks the device up in the simulator needs to know it."""

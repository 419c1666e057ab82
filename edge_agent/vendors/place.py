"""What a world of simulators (the demo, the end-to-end tests) tells a vendor's endpoint description.

Each vendor's ``endpoint.py`` turns a simulator's URL, the credentials its ``seed_demo``
returned and this :class:`Place` into the ``[heartbeats.<name>]`` table that points the
agent at that simulator, so the worlds are generated from the registry, never written
per vendor.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    """The world's facts an endpoint table may need."""

    device_id: str
    report_port: int  # a free port on 127.0.0.1 for a vendor that pushes to the agent

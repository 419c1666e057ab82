"""Fixtures of the fault suite: a mosquitto of the test's own, every vendor's simulator, the agent.

The broker, agent-process, subscriber and network-gate helpers are shared with the MQTT
tests, and the snapshot with the vendor tests: their folders go on ``sys.path`` and their
uniquely named modules are imported, never a ``conftest``. The vendor world, generated
from the registry, is ``support.vendor_world``.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in ("mqtt", "vendors"):
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))

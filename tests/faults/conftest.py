"""Fixtures of the fault suite: a mosquitto of the test's own, the five simulators, the agent.

The broker, agent-process, subscriber and network-gate helpers are shared with the MQTT
tests, the vendor world with the end-to-end tests, and the fake clock and snapshot with
the vendor tests: their folders go on ``sys.path`` and their uniquely named modules are
imported, never a ``conftest``.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in ("mqtt", "e2e", "vendors"):
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))

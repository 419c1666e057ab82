"""What the compatibility suite saw, per engine and feature, written as JSON for the README table.

A test names its features with ``@pytest.mark.compat("feature", ...)``. When it passes, each
feature is ``pass`` unless the test observed ``degraded`` or ``unsupported`` (with the
note from :data:`compat_engines.KNOWN_LIMITS`); when it fails, each is ``fail``. With
``EDGE_AGENT_COMPAT_RESULTS=path`` the session writes everything to that file, and
``render_table.py`` prints the markdown table from it.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from compat_engines import KNOWN_LIMITS

PASS = "pass"
DEGRADED = "degraded"
UNSUPPORTED = "unsupported"
FAIL = "fail"

FEATURES: dict[str, str] = {
    "status": "status `online`; `offline` on a clean stop; `offline` by the last will on SIGKILL",
    "retained": "retained status, state and metrics for a late subscriber (exact topics)",
    "retained_wildcard": "retained messages for a late wildcard subscriber (`edge-agent watch`)",
    "events_outbox": "events (QoS 1) through the outbox across a broker outage: all, in order, once",
    "reconnect": "after an outage: `online` again, only the latest state, commands heard",
    "commands": "commands in, action results out on the events topic",
    "mqtt5": '`protocol = "5"`: answers on the command\'s response topic',
    "qos2": "`qos = 2` for status and retained topics",
    "watch": "`edge-agent watch`: a device comes online with its metrics, and goes offline",
    "send": "`edge-agent send`: the action runs on the device, the result is printed",
    "share": "`edge-agent watch --share GROUP`: watchers split the fleet (MQTT 5 shared subscriptions)",
}


@dataclass
class Observation:
    engine: str
    feature: str
    outcome: str
    note: str = ""


@dataclass
class CompatResults:
    """Every observation of the session, and the engine versions met."""

    versions: dict[str, str] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)

    def add(self, observation: Observation) -> None:
        self.observations.append(observation)

    def write(self, path: Path) -> None:
        data = {
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "versions": self.versions,
            "features": FEATURES,
            "observations": [asdict(o) for o in self.observations],
        }
        path.write_text(json.dumps(data, indent=2) + "\n")


class FeatureRecord:
    """One test's observations on one engine; finished by the fixture from the test's outcome."""

    def __init__(self, engine: str, features: tuple[str, ...]) -> None:
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown compat features {unknown}; add them to FEATURES")
        self.engine = engine
        self.features = features
        self._seen: dict[str, Observation] = {}

    def limited(self, feature: str, outcome: str) -> str:
        """Record that ``feature`` is degraded or unsupported here; fail unless documented.

        Returns the documented note, so the test can show it.
        """
        assert feature in self.features, f"{feature} is not among this test's features"
        note = KNOWN_LIMITS.get(self.engine, {}).get(feature)
        assert note is not None, (
            f"{feature} is {outcome} on {self.engine}, which is not a documented limit "
            "(compat_engines.KNOWN_LIMITS): a new incompatibility"
        )
        self._seen[feature] = Observation(self.engine, feature, outcome, note)
        return note

    def note(self, feature: str, text: str) -> None:
        """Say how ``feature`` was tested here when it differs from the other engines."""
        assert feature in self.features, f"{feature} is not among this test's features"
        self._seen.setdefault(feature, Observation(self.engine, feature, PASS, text))

    def finish(self, passed: Optional[bool]) -> list[Observation]:
        """The observations, once the test has run (``passed`` None: skipped, nothing to say)."""
        if passed is None:
            return []
        if not passed:
            return [Observation(self.engine, f, FAIL) for f in self.features]
        return [self._seen.get(f) or Observation(self.engine, f, PASS) for f in self.features]

"""Hypothesis profiles of the fuzz tests: thousands of cases in CI, many more in a long run.

``HYPOTHESIS_PROFILE=long`` selects the long run (e.g. overnight on a spare machine);
anything else, or nothing, is the CI profile. The profiles are applied per test with
``@FUZZ`` rather than loaded globally, so the other folders' hypothesis tests keep
their own example counts.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=50_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PROFILE = "long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "ci"
FUZZ = settings(settings.get_profile(PROFILE))
"""Decorate a fuzz test with ``@FUZZ`` (below ``@given``) to run it at the selected profile."""

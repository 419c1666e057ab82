"""Marks the suites that start processes, brokers and whole agents as ``slow``.

The fast inner loop (``pytest -m "not slow"``, named in the README) is everything else: the
unit tests of each layer against fixture trees, fake programs and in-process brokers.
Marking by folder keeps the rule in one place: a new test in one of these folders is slow
without anyone having to remember the marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SLOW_FOLDERS = frozenset({"faults", "compat", "e2e", "fleet", "demo", "device"})
TESTS_ROOT = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            relative = Path(str(item.fspath)).relative_to(TESTS_ROOT)
        except ValueError:
            continue
        if relative.parts and relative.parts[0] in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)

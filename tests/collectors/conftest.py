"""Fixtures for the collector tests; the helpers themselves live in collector_helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_helpers import Tree
from support.clock import FakeClock


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """An empty host tree for one test."""
    return Tree(tmp_path / "host")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()

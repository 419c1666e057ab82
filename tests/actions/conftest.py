"""The ``device`` fixture: see action_device.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from action_device import Device


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    made = Device(tmp_path)
    yield made
    made.store.close()

"""Shared parts for the collector tests: the fixture trees, a clock the test moves, a builder.

A uniquely named module (not conftest) so ``from collector_helpers import ...`` cannot pick
up another folder's conftest when the whole suite runs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Callable, Optional

from edge_agent.collectors import MetricsCollector
from edge_agent.config import MetricsConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOSTS = FIXTURES / "hosts"
CPU_SEQUENCES = FIXTURES / "cpu-sequences"


class Tree:
    """A host tree written by a test: ``tree.write("proc/uptime", "12.5 3.1\\n")``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, device_path: str, text: str) -> Path:
        path = self.root / device_path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def program(self, name: str, script: str) -> Path:
        """An executable shell script in ``<root>/bin`` (put on PATH by :func:`collector_for`)."""
        path = self.write(f"bin/{name}", "#!/bin/sh\n" + script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path


def collector_for(
    root: Path,
    *,
    clock: Optional[Any] = None,
    sleep: Optional[Callable[[float], None]] = None,
    extra_path: str = "",
    **metrics: Any,
) -> MetricsCollector:
    """A MetricsCollector reading ``root``, with only ``<root>/bin`` (and ``extra_path``) on PATH."""
    path = os.pathsep.join(part for part in (str(root / "bin"), extra_path) if part)
    return MetricsCollector(
        MetricsConfig(host_root=root, **metrics),
        clock=clock,
        environ={"PATH": path},
        sleep=sleep if sleep is not None else (lambda seconds: None),
    )

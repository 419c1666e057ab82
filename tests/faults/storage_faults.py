"""Real storage faults: a tiny disk that fills up, a store locked by another process.

A full disk is a real one: a tmpfs of a few hundred KB mounted for the test (root only;
CI runs as root, elsewhere the tests that need it are skipped), filled by a file that
takes every free byte. A locked store is a second process holding SQLite's exclusive lock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tiny_disk(where: Path, size: str = "512k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (the test is skipped when that is not allowed)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root (CI runs as root)")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


class Filler:
    """Takes every free byte of a filesystem, and gives them back."""

    def __init__(self, disk: Path) -> None:
        self.path = disk / f"filler-{uuid.uuid4().hex[:6]}"

    def fill(self) -> None:
        chunk = b"\0" * 4096
        with open(self.path, "ab", buffering=0) as out:
            while True:
                try:
                    out.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
            for size in (512, 64, 1):  # the last partial page too
                with contextlib.suppress(OSError):
                    while True:
                        out.write(b"\0" * size)

    def free(self) -> None:
        self.path.unlink(missing_ok=True)


class LockHolder:
    """Another process that holds the store's exclusive lock until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        script = textwrap.dedent(f"""
            import sqlite3, sys
            db = sqlite3.connect({str(path)!r}, isolation_level=None)
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("BEGIN EXCLUSIVE")
            db.execute("CREATE TABLE IF NOT EXISTS other_program (x)")
            print("locked", flush=True)
            sys.stdin.readline()
            db.execute("ROLLBACK")
            db.close()
        """)
        self.process = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "locked\n"

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.flush()
        self.process.wait(timeout=10)

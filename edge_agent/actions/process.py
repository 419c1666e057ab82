"""Running one action's argv: no shell, a hard timeout, and the tail of what it said.

The program is resolved on the ``PATH`` of the environment the runner was given and
started with ``create_subprocess_exec`` (never a shell), stdin closed, in a session of
its own: on timeout or shutdown the whole process group is killed, because a wrapper
script's child would otherwise live on. Only the last :data:`TAIL_BYTES` of stdout and
stderr are kept, so a chatty program cannot fill memory or the journal.

A program that exits but leaves a child holding its output open (a launcher that
starts a player) is not waited for beyond :data:`PIPE_GRACE_S`: the action is over when
the program we started is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

from edge_agent.errors import ActionError
from edge_agent.model import Clock

TAIL_BYTES = 2048
PIPE_GRACE_S = 1.0
_CHUNK = 4096


@dataclass(frozen=True)
class ProcessOutcome:
    """How a program ended; ``exit_code`` is None when it was killed for running too long."""

    exit_code: Optional[int]
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class _Tail:
    """The last ``limit`` bytes of a stream."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.limit = limit
        self.data = bytearray()

    async def drain(self, stream: Optional[asyncio.StreamReader]) -> None:
        if stream is None:
            return
        while True:
            chunk = await stream.read(_CHUNK)
            if not chunk:
                return
            self.data += chunk
            if len(self.data) > self.limit:
                del self.data[: len(self.data) - self.limit]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def resolve_program(program: str, env: Mapping[str, str]) -> str:
    """The path of ``program`` on the environment's PATH; ActionError when it is not there."""
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise ActionError(f"program not found: {program}")
    return found


async def run_program(
    argv: Sequence[str], *, timeout: float, env: Mapping[str, str], clock: Clock
) -> ProcessOutcome:
    """Run ``argv`` to its end (or kill it at ``timeout``); ActionError if it cannot start."""
    path = resolve_program(argv[0], env)
    started = clock.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            path,
            *argv[1:],
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as exc:
        raise ActionError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
    stdout, stderr = _Tail(), _Tail()
    readers = [
        asyncio.ensure_future(stdout.drain(process.stdout)),
        asyncio.ensure_future(stderr.drain(process.stderr)),
    ]
    timed_out = False
    try:
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            _kill_group(process.pid)
            await process.wait()
    except asyncio.CancelledError:
        _kill_group(process.pid)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())
        for reader in readers:
            reader.cancel()
        raise
    _done, lingering = await asyncio.wait(readers, timeout=PIPE_GRACE_S)
    for reader in lingering:
        reader.cancel()
    return ProcessOutcome(
        exit_code=None if timed_out else process.returncode,
        duration_s=round(clock.monotonic() - started, 3),
        stdout_tail=stdout.text(),
        stderr_tail=stderr.text(),
        timed_out=timed_out,
    )


def _kill_group(pid: int) -> None:
    # The group may already be gone (it ended on its own a moment ago): nothing to kill.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)

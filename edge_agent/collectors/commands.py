"""The one place in the collectors that starts a process: helper programs, bounded and cached.

Some answers live only behind a program (``iw`` for the link speed, termux-api for a
battery SELinux hides, ``dpkg-query`` for an app's version). Those programs are known to
hang (termux-api waits forever when the Termux:API app is missing) or to take seconds,
so each run here has a hard timeout and its outcome, good or bad, is cached for
``[metrics] command_cache`` seconds: a program that hung is not waited for again on
the next cycle.

The program is an argv list resolved on ``PATH`` and run without a shell, with stdin
closed, in its own session: on timeout the whole process group is killed, because a
wrapper script's grandchild would otherwise keep the output pipe (and us) waiting.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional, Union

from edge_agent.errors import SensorUnavailable
from edge_agent.model import Clock

MAX_OUTPUT_BYTES = 1_048_576


@dataclass(frozen=True)
class CommandResult:
    """What a finished program said; callers decide what a non-zero exit means for them."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class _Cached:
    at: float
    outcome: Union[CommandResult, SensorUnavailable]


class CommandRunner:
    """Runs argv lists with a hard timeout and remembers each outcome for a while.

    Thread-safe: the metric collectors that may wait run in parallel threads.
    """

    def __init__(
        self,
        *,
        timeout: float,
        cache_seconds: float,
        clock: Clock,
        environ: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._environ = dict(os.environ if environ is None else environ)
        self._cache: dict[tuple[str, ...], _Cached] = {}
        self._lock = threading.Lock()

    def run(self, argv: Sequence[str], *, timeout: Optional[float] = None) -> CommandResult:
        """The result of ``argv`` (fresh or cached); SensorUnavailable if missing or timed out.

        ``timeout`` can only shorten the configured one (a caller with several programs
        to run shares one deadline among them).
        """
        key = tuple(argv)
        now = self._clock.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached.at < self.cache_seconds:
            return _unwrap(cached.outcome)
        limit = self.timeout if timeout is None else max(0.0, min(timeout, self.timeout))
        try:
            outcome: Union[CommandResult, SensorUnavailable] = self._run_once(key, limit)
        except SensorUnavailable as exc:
            outcome = exc
        with self._lock:
            self._cache[key] = _Cached(self._clock.monotonic(), outcome)
        return _unwrap(outcome)

    def available(self, program: str) -> bool:
        """Whether ``program`` is on this runner's PATH."""
        return self._which(program) is not None

    def _which(self, program: str) -> Optional[str]:
        return shutil.which(program, path=self._environ.get("PATH", os.defpath))

    def _run_once(self, argv: tuple[str, ...], limit: float) -> CommandResult:
        program = argv[0]
        resolved = self._which(program)
        if resolved is None:
            raise SensorUnavailable(f"{program} not found")
        try:
            process = subprocess.Popen(
                [resolved, *argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._environ,
                start_new_session=True,
            )
        except OSError as exc:
            raise SensorUnavailable(f"cannot run {program}: {exc.strerror or exc}") from exc
        try:
            out, err = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired as exc:
            _kill_group(process)
            process.communicate()
            raise SensorUnavailable(f"{program} timed out after {limit:g} s") from exc
        return CommandResult(
            returncode=process.returncode,
            stdout=out[:MAX_OUTPUT_BYTES].decode("utf-8", "replace"),
            stderr=err[:MAX_OUTPUT_BYTES].decode("utf-8", "replace"),
        )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the program and everything it started (it leads its own session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        # It exited between the timeout and the kill; communicate() reaps it.
        return


def _unwrap(outcome: Union[CommandResult, SensorUnavailable]) -> CommandResult:
    if isinstance(outcome, SensorUnavailable):
        raise SensorUnavailable(outcome.reason)
    return outcome

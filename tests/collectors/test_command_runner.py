"""The runner for helper programs: argv without a shell, hard timeout, outcomes cached."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from collector_helpers import Tree
from support.clock import FakeClock

from edge_agent.collectors.commands import CommandRunner
from edge_agent.errors import SensorUnavailable


def runner(tree: Tree, clock: FakeClock, timeout: float = 2.0, cache: float = 60.0) -> CommandRunner:
    path = os.pathsep.join([str(tree.root / "bin"), "/usr/bin", "/bin"])
    return CommandRunner(timeout=timeout, cache_seconds=cache, clock=clock, environ={"PATH": path})


def process_gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` has exited; SIGKILL is delivered asynchronously, so allow a moment."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_arguments_reach_the_program_verbatim_without_a_shell(tree: Tree, clock: FakeClock) -> None:
    tree.program("show-args", 'for a in "$@"; do echo "[$a]"; done\n')
    marker = tree.root / "injected"
    result = runner(tree, clock).run(("show-args", f"x; touch {marker}", "$(id)"))
    assert result.ok
    assert result.stdout == f"[x; touch {marker}]\n[$(id)]\n"
    assert not marker.exists()


def test_a_hanging_program_and_its_children_are_killed_at_the_timeout(tree: Tree, clock: FakeClock) -> None:
    pid_file = tree.root / "child.pid"
    tree.program("hang", f"sleep 30 &\necho $! > {pid_file}\nwait\necho finished\n")
    with pytest.raises(SensorUnavailable) as error:
        runner(tree, clock, timeout=0.3).run(("hang",))
    assert error.value.reason == "hang timed out after 0.3 s"
    assert process_gone(int(pid_file.read_text()))


def test_outcomes_are_cached_for_command_cache_seconds(tree: Tree, clock: FakeClock) -> None:
    calls = tree.root / "calls"
    tree.program("count", f"echo x >> {calls}\necho 42\n")
    commands = runner(tree, clock, cache=60.0)
    assert commands.run(("count",)).stdout == "42\n"
    clock.advance(59)
    assert commands.run(("count",)).stdout == "42\n"
    assert len(calls.read_text().split()) == 1
    clock.advance(2)
    commands.run(("count",))
    assert len(calls.read_text().split()) == 2


def test_a_timeout_is_cached_too_so_a_hung_helper_is_not_waited_for_every_cycle(
    tree: Tree, clock: FakeClock
) -> None:
    calls = tree.root / "calls"
    tree.program("hang", f"echo x >> {calls}\nsleep 30\n")
    commands = runner(tree, clock, timeout=0.2)
    for _ in range(3):
        with pytest.raises(SensorUnavailable, match="timed out"):
            commands.run(("hang",))
    assert len(calls.read_text().split()) == 1


def test_a_missing_program_is_a_reason(tree: Tree, clock: FakeClock) -> None:
    with pytest.raises(SensorUnavailable) as error:
        runner(tree, clock).run(("no-such-helper", "--version"))
    assert error.value.reason == "no-such-helper not found"


def test_a_failing_program_returns_its_exit_status(tree: Tree, clock: FakeClock) -> None:
    tree.program("fail", "echo oops >&2\nexit 3\n")
    result = runner(tree, clock).run(("fail",))
    assert (result.ok, result.returncode, result.stderr) == (False, 3, "oops\n")

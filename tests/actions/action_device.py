"""A device for the action tests: a real store, real processes, and a PATH the test controls.

The programs an action may run (systemctl, am, termux-*, notify-send, apt-get...) are
small Python scripts written into ``bin/``, which is the *only* folder on the runner's
PATH, so a test can never reach the real ``systemctl reboot``. Each script appends its
program name and argv, as one JSON line, to ``calls.jsonl``, and can be told to fail,
print, wait for a gate file, hang, or SIGKILL its parent (the agent) as a reboot would.
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from support.clock import FakeClock

from edge_agent.actions import ActionRunner
from edge_agent.config import ActionsConfig
from edge_agent.model import Event
from edge_agent.store import Store

START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

PROGRAM = """#!{python}
import json, os, signal, sys, time
with open({log!r}, "a", encoding="utf-8") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
gate = {gate!r}
if gate:
    while not os.path.exists(gate):
        time.sleep(0.01)
if {hang!r}:
    time.sleep(3600)
if {kill_parent!r}:
    os.kill(os.getppid(), signal.SIGKILL)
sys.stdout.write({stdout!r})
sys.stderr.write({stderr!r})
sys.exit({exit_code!r})
"""


def write_program(
    bin_dir: Path,
    log: Path,
    name: str,
    *,
    exit_code: int = 0,
    stdout: str = "",
    stderr: str = "",
    gate: Optional[Path] = None,
    hang: bool = False,
    kill_parent: bool = False,
) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(
        PROGRAM.format(
            python=sys.executable,
            log=str(log),
            gate=str(gate) if gate else "",
            hang=hang,
            kill_parent=kill_parent,
            stdout=stdout,
            stderr=stderr,
            exit_code=exit_code,
        )
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def read_calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


class Device:
    """One device under test: its bin folder, call log, store, clock and the events it published."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.jsonl"
        self.store = Store(root / "agent.db")
        self.clock = FakeClock(START, monotonic=0.0)
        self.events: list[Event] = []
        # The device's own host root (/run/user, /tmp/.X11-unix, /etc/passwd, the desktop
        # sessions installed): empty, a headless device, unless a test writes into it.
        self.host = root / "host"
        self.host.mkdir()
        self.env: dict[str, str] = {
            "PATH": str(self.bin),
            "HOME": str(root),
            "EDGE_AGENT_HOST_ROOT": str(self.host),
        }

    def program(self, name: str, **behaviour: Any) -> Path:
        return write_program(self.bin, self.log, name, **behaviour)

    def runner(
        self,
        *,
        env: Optional[dict[str, str]] = None,
        on_event: Optional[Callable[[Event], None]] = None,
        poll_interval: float = 5.0,
        host_root: Optional[Path] = None,
        **config: Any,
    ) -> ActionRunner:
        """A runner on this device; ``on_event`` is called after the event is recorded in ``events``."""
        config.setdefault("profile", "raspberrypi")

        def record(event: Event) -> None:
            self.events.append(event)
            if on_event is not None:
                on_event(event)

        return ActionRunner(
            ActionsConfig(**config),
            self.store,
            self.clock,
            record,
            device_id="pi-lobby",
            env={**self.env, **(env or {})},
            token_for=lambda source: "t0k3n-secret" if source == "iptv" else None,
            sleep=self.clock.sleep,
            poll_interval=poll_interval,
            **({"host_root": host_root} if host_root is not None else {}),
        )

    def calls(self) -> list[list[str]]:
        return read_calls(self.log)

    def event_types(self, action_id: Optional[str]) -> list[str]:
        return [event.type for event in self.events if event.data.get("action_id") == action_id]

    def last_event(self, action_id: Optional[str]) -> dict[str, Any]:
        matching = [event for event in self.events if event.data.get("action_id") == action_id]
        assert matching, f"no event for {action_id}"
        return matching[-1].to_json()

    def state(self, action_id: str) -> str:
        entry = self.store.journal.get(action_id)
        assert entry is not None, f"{action_id} is not in the journal"
        return entry.state


def drain(runner: ActionRunner) -> None:
    """Run everything waiting, as the agent loop would, and return when it is all done."""
    asyncio.run(runner.drain())

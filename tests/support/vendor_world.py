"""The tests' vendor world, generated from the registry: no vendor is named here.

Every registered vendor's simulator (started by :mod:`edge_agent.demo.vendor_world`, the
generator the demo and the benchmarks share), a stand-in action program, and the agent's
config for them, beating fast. What the tests need to know of one vendor comes from its
folder's ``endpoint.py``: its endpoint name, its end-to-end :class:`Rehearsal` (what to
stage, wait for and check), the keys that make it fail fast (``FAST_FAILURES``), what its
documented server answers (``valid_reply``) and the readers of its replies (``decoders``).

Used by the end-to-end tests, the fault rig built on them, and the fuzz suite; a test
that must have every registered vendor in its world checks it with :func:`missing_vendors`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

from hypothesis import strategies as st

from edge_agent.demo.vendor_world import (
    SimulatedVendors,
    endpoint_module,
    endpoint_names,
    offline_tables,
    toml_keys,
    toml_string,
    toml_table,
)
from edge_agent.demo.world import free_port
from edge_agent.simulators.base import SimulatorServer
from edge_agent.vendors.place import Place
from edge_agent.vendors.registry import VENDOR_NAMES
from edge_agent.vendors.rehearsal import Expected, Observed, Rehearsal, Step
from edge_agent.vendors.types import HttpRequest, HttpResponse

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

T = TypeVar("T")

VENDORS: tuple[str, ...] = VENDOR_NAMES
ENDPOINTS: dict[str, str] = {name: vendor for vendor, name in endpoint_names().items()}
"""endpoint name (``[heartbeats.<name>]``) -> its vendor, for every registered vendor."""
DEVICE_ID = "e2e-1"
SERIAL = "E2E-SN-1"
"""The device's serial for every vendor that knows a device by one (the tests look it up)."""
INTERVAL = 1
"""Every endpoint beats this often (or at its vendor's ``MIN_INTERVAL``), so tests wait little."""
DEFAULTS_FOR = ("timeout", "response_timeout")
"""Keys the demo tunes short that the tests leave at the config's defaults: a loaded CI machine
must not turn a slow goodbye beat into a failed one."""
FAST_FAILURES = {"timeout": 1, "backoff_initial": 0.2, "backoff_max": 1, "forbidden_backoff": 2}
"""Every endpoint's keys for a fault test: a failure seen and recovered from within seconds."""

# The stand-in's commands: action type -> its argv after the program (placeholders filled in).
ACTION_ARGV: dict[str, tuple[str, ...]] = {
    "MESSAGE": ("message", "{message}"),
    "START_APP": ("start", "{app}"),
    "DUMP": ("dump",),
}

ACTION_PROGRAM = """#!/bin/sh
# Stands in for notify-send / am / termux-*: records each run, one JSON argv per line.
# One O_APPEND write per run, so two actions running at once never interleave their lines.
exec python3 -c '
import json, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, (json.dumps(sys.argv[2:]) + "\\n").encode())
' {log} "$@"
"""


def missing_vendors(vendors: Any) -> list[str]:
    """The registered vendors a world (any collection of vendor names) leaves out."""
    return [vendor for vendor in VENDOR_NAMES if vendor not in set(vendors)]


class VendorWorld:
    """Every vendor's server, seeded with demo credentials, and the agent's view of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.vendors = SimulatedVendors.start(interval=INTERVAL)
        self.servers: dict[str, SimulatorServer] = self.vendors.servers
        self.apps: dict[str, Any] = self.vendors.apps
        self.credentials: dict[str, dict[str, str]] = self.vendors.credentials
        self.report_port = free_port()
        self.action_log = workdir / "actions.log"
        self.action_program = workdir / "act"
        self.action_program.write_text(ACTION_PROGRAM.format(log=self.action_log))
        self.action_program.chmod(0o755)

    def close(self) -> None:
        self.vendors.close()

    @property
    def place(self) -> Place:
        return Place(device_id=DEVICE_ID, report_port=self.report_port, serial=SERIAL)

    def actions_run(self) -> list[list[str]]:
        if not self.action_log.exists():
            return []
        *complete, _unfinished = self.action_log.read_text().split("\n")
        return [json.loads(line) for line in complete if line]

    def url(self, vendor: str) -> str:
        return self.servers[vendor].url

    def rehearsals(self) -> dict[str, Rehearsal]:
        """vendor -> what the end-to-end run does with it (its ``endpoint.py``'s ``rehearsal``)."""
        return self.vendors.rehearsals(self.place)

    def config(
        self,
        broker_port: int,
        *,
        profile: str = "auto",
        reconnect_max: float = 0.5,
        endpoint_extra: Optional[Mapping[str, str]] = None,
    ) -> str:
        """The agent's config: every vendor against its simulator, every action to the stand-in.

        ``endpoint_extra`` holds TOML lines for the named heartbeat tables (endpoint names,
        see :data:`ENDPOINTS`); a key there replaces the table's own.
        """
        act = str(self.action_program)
        commands = "\n".join(
            f"{action_type} = [{', '.join(toml_string(part) for part in (act, *argv))}]"
            for action_type, argv in ACTION_ARGV.items()
        )
        extra = {name: tomllib.loads(lines) for name, lines in (endpoint_extra or {}).items()}
        return f"""
[device]
id = "{DEVICE_ID}"

[metrics]
interval = 1

[mqtt]
host = "127.0.0.1"
port = {broker_port}
keepalive = 5
reconnect_min = 0.1
reconnect_max = {reconnect_max}

[storage]
path = {toml_string(str(self.workdir / "agent.db"))}

[actions]
profile = "{profile}"
allow = [{", ".join(toml_string(action_type) for action_type in ACTION_ARGV)}]

[actions.commands]
{commands}

{self.vendors.heartbeat_toml(self.place, interval=INTERVAL, defaults_for=DEFAULTS_FOR, extra=extra)}"""

    def fast_failure_extra(self) -> dict[str, str]:
        """Per endpoint, the TOML lines that make it fail and recover fast (a fault test's config)."""
        extra = {}
        for vendor, name in endpoint_names().items():
            keys = {**FAST_FAILURES, **getattr(endpoint_module(vendor), "FAST_FAILURES", {})}
            extra[name] = toml_keys(keys)
        return extra


def argv_of(expected: Expected) -> list[str]:
    """What the stand-in program records for an action the vendor asked for."""
    return [part.format(**expected.params) for part in ACTION_ARGV[expected.type]]


def run_steps(vendor: str, steps: Sequence[Step], observed: Observed, wait: Callable[..., Any]) -> None:
    """Run a rehearsal's steps in order: do it, wait for it (``wait(what, check)``), or assert it now."""
    for step in steps:
        what = f"{vendor}: {step.what}"
        if step.kind == "do":
            step.probe(observed)
        elif step.kind == "wait":
            wait(what, lambda probe=step.probe: probe(observed))
        else:
            assert step.probe(observed), what


# -- the fuzz suite's side: replies and readers from each vendor's description ----------------


def offline_config(device_id: str, store: Path) -> str:
    """A config with every vendor's endpoint, named after its vendor, pointed at the discard port
    (127.0.0.1:9): a fuzz test hands the adapters its replies, nothing is ever sent."""
    tables = offline_tables(Place(device_id=device_id, report_port=9))
    parts = [f"[device]\nid = {toml_string(device_id)}\n", f"[storage]\npath = {toml_string(str(store))}\n"]
    parts += [toml_table(f"heartbeats.{vendor}", table) for vendor, table in tables.items()]
    return "\n".join(parts)


NUMBERS = st.one_of(
    st.integers(-10, 100_000), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), st.none()
)


class DrawPick:
    """A vendor's :class:`~edge_agent.vendors.pick.Pick`, each choice drawn by hypothesis."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self.draw = draw

    def text(self, *, min_size: int = 0, max_size: int = 20) -> str:
        return str(self.draw(st.text(min_size=min_size, max_size=max_size)))

    def integer(self, low: int, high: int) -> int:
        return int(self.draw(st.integers(low, high)))

    def boolean(self) -> bool:
        return bool(self.draw(st.booleans()))

    def one_of(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))  # type: ignore[no-any-return]

    def some_of(self, options: Sequence[T], *, max_size: int) -> list[T]:
        return list(self.draw(st.lists(st.sampled_from(options), max_size=max_size)))

    def uuid_hex(self) -> str:
        return str(self.draw(st.uuids()).hex)

    def hex_digits(self, count: int) -> str:
        return str(self.draw(st.from_regex(rf"[0-9a-f]{{{count}}}", fullmatch=True)))

    def number(self) -> Any:
        return self.draw(NUMBERS)


def valid_reply(vendor: str, request: HttpRequest, draw: Callable[[Any], Any]) -> Any:
    """What ``vendor``'s documents say a working server answers ``request`` with (bytes: not JSON)."""
    return endpoint_module(vendor).valid_reply(request, DrawPick(draw))


def decoders(request: HttpRequest) -> list[Callable[[HttpResponse], Any]]:
    """Every registered vendor's pure readers of replies (``request``: the one they answer)."""
    found: list[Callable[[HttpResponse], Any]] = []
    for vendor in VENDOR_NAMES:
        found += getattr(endpoint_module(vendor), "decoders", lambda request: [])(request)
    return found


def describers() -> list[tuple[Callable[[HttpResponse], Any], type]]:
    """Every vendor's helpers that describe a refusal, and the type each returns; they never fail."""
    found: list[tuple[Callable[[HttpResponse], Any], type]] = []
    for vendor in VENDOR_NAMES:
        found += getattr(endpoint_module(vendor), "describers", list)()
    return found

"""What every registered vendor must do, whoever wrote it: one suite, parametrized over the registry.

Each vendor runs against its own simulator over real HTTP, with the config its
``endpoint.py`` describes, over a real store. A new vendor joins these tests by its
registry line alone; it passes them or it is not done (docs/adding-a-vendor.md).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import json
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from vendor_helpers import FakeClock, sample_snapshot

from edge_agent.config import Config, parse_config
from edge_agent.config.heartbeats import HeartbeatConfig
from edge_agent.demo.vendor_world import toml_table
from edge_agent.errors import VendorError
from edge_agent.heartbeat.context import StoreContext
from edge_agent.heartbeat.transport import HttpTransport
from edge_agent.model import Event
from edge_agent.simulators import SIMULATORS
from edge_agent.simulators.base import SimulatorServer
from edge_agent.store import Store
from edge_agent.vendors import ADAPTERS
from edge_agent.vendors.place import Place
from edge_agent.vendors.registry import VENDOR_NAMES, VENDORS
from edge_agent.vendors.types import HttpRequest, HttpResponse

PACKAGE = Path(__file__).resolve().parents[2] / "edge_agent"
DEVICE_ID = "conformance-1"


@dataclass
class Bench:
    """One vendor's simulator, an endpoint pointed at it, and its adapter over a real store."""

    vendor: str
    server: SimulatorServer
    config: Config
    store: Store
    events: list[Event]
    clock: FakeClock

    @property
    def endpoint(self) -> Any:
        return self.config.heartbeats[self.vendor]

    def adapter(self) -> Any:
        context = StoreContext(self.store, self.vendor, self.clock, self.events.append, device_id=DEVICE_ID)
        return ADAPTERS[self.vendor](self.vendor, self.endpoint, context)

    def state(self) -> dict[str, Any]:
        return dict(self.store.state.items(f"heartbeat:{self.vendor}"))

    def beat(self, adapter: Any, *, final: bool = False, send: Any = None) -> Any:
        async def run() -> Any:
            transport = HttpTransport(self.endpoint)
            try:
                return await adapter.beat(sample_snapshot(self.clock), send or transport.send, final=final)
            finally:
                await transport.aclose()

        return asyncio.run(run())


@pytest.fixture(params=VENDOR_NAMES)
def bench(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bench]:
    vendor = request.param
    spec = VENDORS[vendor]
    simulator = spec.simulator_module()
    app = simulator.create()
    credentials = simulator.seed_demo(app)
    with SimulatorServer(app) as server:
        table = spec.endpoint_module().endpoint_table(server.url, credentials, Place(DEVICE_ID, 9))
        text = f"[device]\nid = {json.dumps(DEVICE_ID)}\n\n" + toml_table(f"heartbeats.{vendor}", table)
        config = parse_config(text, tmp_path / "edge-agent.toml")
        store = Store(tmp_path / "agent.db")
        try:
            yield Bench(vendor, server, config, store, [], FakeClock())
        finally:
            store.close()


def test_the_registries_agree() -> None:
    """One registry: the config Union, the adapters, the simulators and the folders all follow it."""
    union = typing.get_args(typing.get_args(HeartbeatConfig)[0])
    literals = [typing.get_args(model.model_fields["vendor"].annotation)[0] for model in union]
    assert literals == list(VENDOR_NAMES) == list(VENDORS) == list(SIMULATORS)
    assert {name: adapter.vendor for name, adapter in ADAPTERS.items()} == {name: name for name in VENDORS}
    folders = {path.parent.name for path in (PACKAGE / "vendors").glob("*/adapter.py")}
    assert folders == set(VENDORS), "a vendor folder without a registry line, or a line without a folder"
    for name, spec in VENDORS.items():
        simulator = spec.simulator_module()
        for convention in ("create", "describe", "seed_demo"):
            assert callable(getattr(simulator, convention)), f"{name}: simulator lacks {convention}()"
        endpoint = spec.endpoint_module()
        assert endpoint.ENDPOINT_NAME and callable(endpoint.demo_fact)
        for convention in ("endpoint_table", "valid_reply"):  # every world, and the fuzz suite, use them
            assert callable(getattr(endpoint, convention)), f"{name}: endpoint.py lacks {convention}()"


def test_a_beat_against_its_simulator_succeeds(bench: Bench) -> None:
    adapter = bench.adapter()
    reply = bench.beat(adapter)
    assert bench.server.requests, "a beat that sent nothing proves nothing"
    json.dumps(reply.summary, default=str)


def test_preview_sends_nothing(bench: Bench) -> None:
    adapter = bench.adapter()
    for final in (False, True):
        request, note = adapter.preview(sample_snapshot(bench.clock), final=final)
        assert isinstance(request, HttpRequest) and isinstance(note, str)
    adapter.preview(None)
    assert bench.server.requests == []
    assert bench.state() == {} and bench.events == []


def test_secrets_are_masked_in_the_preview(bench: Bench) -> None:
    secrets = [
        getattr(bench.endpoint, name).get_secret_value()
        for name in type(bench.endpoint).secret_fields
        if getattr(bench.endpoint, name, None) is not None
    ]
    adapter = bench.adapter()
    for final in (False, True):
        request, note = adapter.preview(sample_snapshot(bench.clock), final=final)
        shown = json.dumps(request.to_display()) + note
        for secret in secrets:
            assert secret not in shown, f"{bench.vendor}: a secret in the dry-run preview"


HOSTILE = {
    "garbage": b"\x00\xff<html>nope</html>\x81",
    "truncated": b'{"status": "ok", "data": [1, 2, {"a": ',
    "oversize": b'{"padding": "' + b"x" * 1_048_000,  # capped by the transport: cut mid-string
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "deep_object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "empty": b"",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_reply_is_only_ever_a_vendor_error(bench: Bench, kind: str) -> None:
    async def hostile(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, HOSTILE[kind], {"content-type": "application/json"})

    adapter = bench.adapter()
    if kind == "empty":  # some vendors answer success with nothing: a Reply, but one that asks for nothing
        try:
            reply = bench.beat(adapter, send=hostile)
        except VendorError as exc:
            assert str(exc), "an error a person reads must say something"
        else:
            assert reply.actions == ()
    else:
        with pytest.raises(VendorError) as raised:
            bench.beat(adapter, send=hostile)
        assert str(raised.value), "an error a person reads must say something"
    for event in bench.events:
        json.dumps(event.to_json(), allow_nan=False)


def test_the_final_beat_never_registers(bench: Bench) -> None:
    """A goodbye from a device that never said hello must not sign it up (or log it in) on the way out."""
    adapter = bench.adapter()
    if not type(adapter).sends_final:
        pytest.skip(f"{bench.vendor} sends no final beat")
    with contextlib.suppress(VendorError):
        bench.beat(adapter, final=True)
    assert bench.state() == {}, f"{bench.vendor}: the final beat left state behind: {bench.state()}"


# -- the worlds: generated from the registry, none names a vendor -----------------------------
# (The fault tests that exercise one vendor's own guarantees, e.g. the PBX reports under a
# broker outage, name it: they are that vendor's tests, not a world.)

ROOT = PACKAGE.parent
GENERATED_WORLDS = [
    "edge_agent/demo/vendor_world.py",  # the generator: simulators and endpoint tables
    "tests/support/vendor_world.py",  # the tests' world: e2e, the fault rig, the fuzz suite
    "tests/e2e/conftest.py",
    "tests/faults/test_fuzz_vendor_replies.py",
    "bench/agent_rig.py",
]


@pytest.mark.parametrize("path", GENERATED_WORLDS)
def test_the_worlds_name_no_vendor_by_hand(path: str) -> None:
    """What a world needs of one vendor is in the vendor's folder (docs/adding-a-vendor.md)."""
    tree = ast.parse((ROOT / path).read_text())
    named = {
        node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in VENDORS
    }
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for name in [node.module]
        if name.startswith("edge_agent.vendors.") and name.split(".")[2] in VENDORS
    }
    assert not (named | imported), f"{path} names {sorted(named | imported)}"


def _vendors_of(config_text: str, tmp_path: Path) -> list[str]:
    config = parse_config(config_text, tmp_path / "world.toml")
    return [endpoint.vendor for endpoint in config.heartbeats.values()]


def _demo_world(tmp_path: Path) -> list[str]:
    from edge_agent.demo.world import DemoWorld

    world = DemoWorld.start(tmp_path)
    try:
        return _vendors_of(world.config_text(), tmp_path)
    finally:
        world.close()


def _test_world(tmp_path: Path) -> list[str]:
    from support.vendor_world import VendorWorld

    world = VendorWorld(tmp_path)
    try:
        return _vendors_of(world.config(9, endpoint_extra=world.fast_failure_extra()), tmp_path)
    finally:
        world.close()


def _fuzz_world(tmp_path: Path) -> list[str]:
    from support.vendor_world import offline_config

    return _vendors_of(offline_config("fuzz-1", tmp_path / "fuzz.db"), tmp_path)


def _bench_world(tmp_path: Path) -> list[str]:
    bench = str(ROOT / "bench")
    sys.path.insert(0, bench)
    try:
        found = importlib.util.spec_from_file_location("agent_rig", ROOT / "bench" / "agent_rig.py")
        assert found is not None and found.loader is not None
        rig = importlib.util.module_from_spec(found)
        found.loader.exec_module(rig)
    finally:
        sys.path.remove(bench)
    sims = rig.Simulators(10)
    try:
        assert set(sims.servers) == set(VENDORS)
        path = rig.agent_config(tmp_path, 9, device_id="full", metrics_interval=10, sims=sims)
        return _vendors_of(path.read_text(), tmp_path)
    finally:
        sims.close()


WORLDS = {"demo": _demo_world, "e2e and faults": _test_world, "fuzz": _fuzz_world, "bench": _bench_world}


@pytest.mark.parametrize("world", sorted(WORLDS))
def test_every_world_holds_every_registered_vendor(world: str, tmp_path: Path) -> None:
    """A vendor's registry line brings it into the demo, e2e, fault, fuzz and bench worlds by itself."""
    vendors = WORLDS[world](tmp_path)
    assert vendors == list(VENDOR_NAMES), (
        f"the {world} world has {vendors}, the registry {list(VENDOR_NAMES)}"
    )

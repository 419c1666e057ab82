"""``edge-agent run`` validates with pydantic, then runs the agent without it (issue 15).

The validating interpreter replaces itself (same pid) with one that gets the config as
plain objects through a memory file: pydantic and the config models (about 12 MB on a
Pi Zero) are never loaded by the long-running process. These tests run the real command
and look at the process from the outside, as ``bench/agent_bench.py`` does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.cli import status_or_empty
from support.waiting import wait_until

from edge_agent.config import load_config
from edge_agent.plain_config import METHODS, Plain, Secret, dumps, loads, to_plain

TOKEN = "tx-token-not-for-logs-7f3a"


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "edge-agent.toml"
    config.write_text(
        f"""
[device]
id = "lean-1"

[metrics]
interval = 0.5

[storage]
path = "{tmp_path / "agent.db"}"

[heartbeats.iptv]
vendor = "telecomx"
url = "http://127.0.0.1:9/iptv/app/heartbeat"
token = "{TOKEN}"
interval = 1
"""
    )
    return config


def start(config: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "--log-level", "info", "run", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )


def running_as(config: Path, pid: int) -> bool:
    agent = status_or_empty(config).get("agent", {})
    return bool(agent.get("running")) and agent.get("pid") == pid


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no memfd_create on this platform")
def test_the_running_agent_never_loads_pydantic_and_keeps_its_pid(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    agent = start(config, tmp_path / "agent.log")
    try:
        wait_until(
            "the agent running under the pid it was started with", lambda: running_as(config, agent.pid)
        )
        wait_until(
            "a heartbeat outcome (the plain config drove the Telecom X endpoint)",
            lambda: (status_or_empty(config).get("heartbeats") or {}).get("iptv"),
        )
        maps = Path(f"/proc/{agent.pid}/maps").read_text()
        assert "pydantic" not in maps, "pydantic_core is mapped into the running agent"
        # the secret went through the memory file: not in the command line or the environment
        for what in ("cmdline", "environ"):
            assert TOKEN not in Path(f"/proc/{agent.pid}/{what}").read_text(errors="replace")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert TOKEN not in (tmp_path / "agent.log").read_text(errors="replace")


def test_lean_zero_keeps_the_validating_interpreter(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    agent = start(config, tmp_path / "agent.log", EDGE_AGENT_LEAN="0")
    try:
        wait_until("the agent running", lambda: running_as(config, agent.pid))
        assert "pydantic" in Path(f"/proc/{agent.pid}/maps").read_text()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)


def fields_of(value: Any) -> Any:
    """Every field of a validated model (or a Plain), recursively, as plain Python values."""
    names = getattr(type(value), "model_fields", None)
    if isinstance(value, Plain):
        names = [name for name in vars(value) if name != "_kind"]
    if names is not None:
        return {name: fields_of(getattr(value, name)) for name in names}
    if callable(getattr(value, "get_secret_value", None)):
        return ("secret", value.get_secret_value())
    if isinstance(value, dict):
        return {key: fields_of(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [fields_of(item) for item in value]
    return value


def test_the_plain_config_holds_every_validated_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped config (every option documented there) survives the trip field for field."""
    shipped = Path(__file__).resolve().parents[2] / "conf" / "edge-agent.toml"
    for variable in re.findall(r'^\w+_env = "(\w+)"', shipped.read_text(), re.MULTILINE):
        monkeypatch.setenv(variable, "x")  # a stand-in for every secret the shipped file names
    monkeypatch.setenv("TELECOMX_TOKEN", TOKEN)
    config = load_config(shipped)
    plain = loads(dumps(config))
    got = fields_of(plain)
    got.pop("source")  # the properties the agent reads, copied as values: checked below
    got["mqtt"].pop("uses_tls")
    for endpoint in got["heartbeats"].values():  # the methods the agent calls: checked below
        for name in METHODS:
            endpoint.pop(name)
    assert got == fields_of(config)
    for name, endpoint in config.heartbeats.items():
        for method in METHODS:  # a vendor's own answer (Telecom X watches apps, has a token)
            assert getattr(plain.heartbeats[name], method)() == getattr(endpoint, method)(), (name, method)
    assert plain.source == config.source
    assert plain.mqtt.uses_tls == config.mqtt.uses_tls
    token = plain.heartbeats["iptv"].token
    assert isinstance(token, Secret) and token.get_secret_value() == TOKEN
    assert TOKEN not in repr(plain) and TOKEN not in str(token)
    with pytest.raises(AttributeError):
        plain.device.id = "other"
    assert to_plain(config).heartbeats["iptv"].vendor == "telecomx"


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no memfd_create on this platform")
def test_without_tls_openssl_stays_out_and_a_reload_that_needs_it_brings_it(tmp_path: Path) -> None:
    """No heartbeat, no TLS: libcrypto is never mapped; SIGHUP to a config with a heartbeat
    (HTTP to a vendor, TLS possible) starts a fresh interpreter under the same pid that has it."""
    full = write_config(tmp_path).read_text()
    config = tmp_path / "edge-agent.toml"
    config.write_text(full.split("[heartbeats.iptv]")[0])
    agent = start(config, tmp_path / "agent.log")
    try:
        wait_until("the agent running", lambda: running_as(config, agent.pid))
        maps = Path(f"/proc/{agent.pid}/maps").read_text()
        assert "libcrypto" not in maps and "_ssl" not in maps and "_hashlib" not in maps
        config.write_text(full)
        agent.send_signal(signal.SIGHUP)
        wait_until(
            "a heartbeat outcome after the reload",
            lambda: (status_or_empty(config).get("heartbeats") or {}).get("iptv"),
        )
        assert running_as(config, agent.pid)
        maps = Path(f"/proc/{agent.pid}/maps").read_text()
        assert "_ssl" in maps and "pydantic" not in maps
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()

"""``edge-agent init``: a starter config that ``check`` accepts as written, never over a user's file.

Every test runs the real command in a subprocess, with HOME and the XDG folders pointed
into the test's own folder, so the platform rules (Termux, root, a user) are exercised
through the environment the way installers and users meet them.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.config import load_config
from edge_agent.config.paths import SYSTEM_CONFIG, SYSTEM_STORE, config_candidates, starter_store_path
from edge_agent.config.sections import DeviceConfig, device_id_from_hostname

TERMUX_PREFIX = "/data/data/com.termux/files/usr"
AS_ROOT = os.geteuid() == 0


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This machine's environment minus everything that picks a platform or a config file."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("EDGE_AGENT_CONFIG", "TERMUX_VERSION", "PREFIX", "STATE_DIRECTORY")
        and not key.startswith("XDG_")
    }
    env.update(HOME=str(home), **extra)
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, env=env, timeout=60
    )


def init_linux(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """init as a Linux user would run it, with the file and the store inside the test's folder."""
    target = tmp_path / "etc" / "edge-agent.toml"
    store = tmp_path / "state" / "edge-agent.db"
    result = cli("init", "-c", str(target), "--storage", str(store), *args, env=clean_env(tmp_path))
    return result, target


def test_init_then_check_passes_as_written(tmp_path: Path) -> None:
    result, target = init_linux(tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    checked = cli("check", "-c", str(target), env=clean_env(tmp_path))
    assert checked.returncode == 0, checked.stderr
    assert "ok" in checked.stdout
    assert not (tmp_path / "state").exists(), "check creates nothing to find out"


def test_the_written_file_round_trips_through_the_loader(tmp_path: Path) -> None:
    result, target = init_linux(tmp_path, "--mqtt", "broker.lan:8883")
    assert result.returncode == 0, result.stderr
    config = load_config(target)
    assert config.device.id == device_id_from_hostname(socket.gethostname())
    assert config.mqtt is not None
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.topic_prefix) == ("broker.lan", 8883, "edge")
    assert config.storage.path == tmp_path / "state" / "edge-agent.db"
    assert config.metrics.interval == 30.0
    assert config.heartbeats == {}
    text = target.read_text()
    assert "conf/edge-agent.toml" in text, "the starter points to the reference for the rest"


def test_without_mqtt_there_is_no_broker_table(tmp_path: Path) -> None:
    result, target = init_linux(tmp_path, "--device-id", "pi-lobby")
    assert result.returncode == 0, result.stderr
    config = load_config(target)
    assert config.mqtt is None and config.device.id == "pi-lobby"


def test_init_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "edge-agent.toml"
    target.parent.mkdir()
    target.write_text('[device]\nid = "mine"\n')
    result, _ = init_linux(tmp_path, "--mqtt", "broker.lan")
    assert result.returncode == 2
    assert str(target) in result.stderr and "--force" in result.stderr
    assert target.read_text() == '[device]\nid = "mine"\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["edge-agent.toml"], "no temporary left"


def test_force_replaces_the_file_atomically_with_a_private_mode(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "edge-agent.toml"
    target.parent.mkdir()
    target.write_text('[device]\nid = "mine"\n')
    target.chmod(0o644)
    result, _ = init_linux(tmp_path, "--force", "--mqtt", "10.0.0.5")
    assert result.returncode == 0, result.stderr
    config = load_config(target)
    assert config.mqtt is not None and (config.mqtt.host, config.mqtt.port) == ("10.0.0.5", 1883)
    expected = 0o640 if AS_ROOT else 0o600
    assert stat.S_IMODE(target.stat().st_mode) == expected
    assert sorted(p.name for p in target.parent.iterdir()) == ["edge-agent.toml"], "no temporary left"


@pytest.mark.parametrize(
    ("given", "host", "port"),
    [
        ("broker.lan", "broker.lan", 1883),
        ("broker.lan:8883", "broker.lan", 8883),
        ("192.0.2.7:1", "192.0.2.7", 1),
        ("[::1]:1884", "::1", 1884),
        ("fd00::7", "fd00::7", 1883),
    ],
)
def test_mqtt_takes_host_and_optional_port(tmp_path: Path, given: str, host: str, port: int) -> None:
    result, target = init_linux(tmp_path, "--mqtt", given)
    assert result.returncode == 0, result.stderr
    config = load_config(target)
    assert config.mqtt is not None and (config.mqtt.host, config.mqtt.port) == (host, port)


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("broker.lan:99999", "the port '99999' is not a number from 1 to 65535"),
        ("broker.lan:0", "the port '0' is not a number from 1 to 65535"),
        ("broker.lan:mqtt", "the port 'mqtt' is not a number from 1 to 65535"),
        ("mqtt://broker.lan:1883", "is a URL; give HOST or HOST:PORT"),
        (":1883", "is not a host name or IP address"),
    ],
)
def test_a_bad_mqtt_address_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, given: str, reason: str
) -> None:
    result, target = init_linux(tmp_path, "--mqtt", given)
    assert result.returncode == 2
    assert "--mqtt" in result.stderr and reason in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_a_bad_device_id_is_refused(tmp_path: Path) -> None:
    result, target = init_linux(tmp_path, "--device-id", "lobby/1")
    assert result.returncode == 2 and "--device-id" in result.stderr and "not a device id" in result.stderr
    assert not target.exists()


@pytest.mark.parametrize(
    "termux_env",
    [{"PREFIX": TERMUX_PREFIX}, {"TERMUX_VERSION": "0.118.1"}],
    ids=["PREFIX", "TERMUX_VERSION"],
)
def test_on_termux_config_and_store_live_under_home_and_check_finds_them(
    tmp_path: Path, termux_env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    env = clean_env(home, **termux_env)
    result = cli("init", env=env)
    assert result.returncode == 0, result.stderr
    written = home / ".config" / "edge-agent" / "edge-agent.toml"
    assert written.exists(), result.stdout
    config = load_config(written)
    assert config.storage.path == home / ".local" / "state" / "edge-agent" / "edge-agent.db"
    assert stat.S_IMODE(written.stat().st_mode) == (0o640 if AS_ROOT else 0o600)
    checked = cli("check", env=env)  # no -c: the same default path as init
    assert checked.returncode == 0, checked.stderr
    assert str(written) in checked.stdout


def test_xdg_folders_are_honoured_for_a_user(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": "/cfg", "XDG_STATE_HOME": "/state"}
    assert config_candidates(env, root=False, platform="linux") == [
        Path("/cfg/edge-agent/edge-agent.toml"),
        SYSTEM_CONFIG,
    ]
    assert starter_store_path(env, root=False, platform="linux") == Path("/state/edge-agent/edge-agent.db")


def test_root_on_linux_uses_the_system_folders(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert config_candidates(env, root=True, platform="linux") == [SYSTEM_CONFIG]
    assert starter_store_path(env, root=True, platform="linux") == SYSTEM_STORE
    # Termux has no /etc or /var an app may write: its home wins even for a root shell.
    assert (
        starter_store_path(env, root=True, platform="termux")
        == tmp_path / ".local/state/edge-agent/edge-agent.db"
    )


def test_edge_agent_config_names_the_file_for_init_and_check(tmp_path: Path) -> None:
    target = tmp_path / "custom.toml"
    env = clean_env(tmp_path, EDGE_AGENT_CONFIG=str(target))
    result = cli("init", "--storage", str(tmp_path / "db" / "x.db"), env=env)
    assert result.returncode == 0, result.stderr
    assert target.exists()
    checked = cli("check", env=env)
    assert checked.returncode == 0 and str(target) in checked.stdout


@pytest.mark.parametrize(
    ("hostname", "device_id"),
    [
        ("pi-lobby", "pi-lobby"),
        ("Pi Lobby 2", "Pi-Lobby-2"),
        ("café.local", "caf-.local"),
        ("x" * 200, "x" * 128),
        ("", "edge-device"),
        ("///", "edge-device"),
    ],
)
def test_the_device_id_is_the_hostname_made_valid(hostname: str, device_id: str) -> None:
    assert device_id_from_hostname(hostname) == device_id


def test_a_written_file_is_not_readable_by_others(tmp_path: Path) -> None:
    result, target = init_linux(tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) & 0o007 == 0


def test_a_file_that_cannot_be_written_is_exit_1_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "edge-agent.toml"
    result = cli("init", "-c", str(target), env=clean_env(tmp_path))
    assert result.returncode == 1
    assert f"cannot write {target}: Not a directory" in result.stderr and "Traceback" not in result.stderr


def test_a_config_without_a_device_id_takes_the_same_id_init_writes() -> None:
    assert DeviceConfig().id == device_id_from_hostname(socket.gethostname())

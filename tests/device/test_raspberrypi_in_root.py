"""deploy/install-raspberrypi.sh in each device root: install, the agent up, upgrade, uninstall.

The root is a fresh Debian image of the device's release and architecture (qemu for the
foreign ones), built by tools/device-roots. systemd cannot run in it: the installer must
say so and skip enable/start, and the test runs the installed unit's ExecStart itself, as
the unit's user, with the unit's environment. The agent's MQTT state is checked from a
plain subscriber on this host, through a mosquitto on this host's loopback.
"""

from __future__ import annotations

import json
import re
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from device_root import SLOW, DeviceRoot
from mqtt_brokers import BrokerProcess
from mqtt_watch import Seen, Watcher

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = [pytest.mark.slow, pytest.mark.device]

INSTALLER = "/src/edge-agent/deploy/install-raspberrypi.sh"
CONFIG = "/etc/edge-agent/edge-agent.toml"
ENV_FILE = "/etc/edge-agent/environment"
AGENT = "/opt/edge-agent/bin/edge-agent"
VENDORS = {"iptv": "telecomx", "hub": "xyte", "camera": "aibox", "pbx": "yeastar", "presence": "pubnub"}
SECRETS = ("TOKEN-SECRET-1", "HWKEY-SECRET-2", "PBX-SECRET-3", "PN-SECRET-4")
# Every vendor pointed at a loopback port nobody listens on: --dry-run sends nothing anyway.
VENDOR_CONFIG = """
[device]
id = "dry-run"

[heartbeats.iptv]
vendor = "telecomx"
url = "http://127.0.0.1:9/iptv/app/heartbeat"
token = "TOKEN-SECRET-1"

[heartbeats.hub]
vendor = "xyte"
entry_url = "http://127.0.0.1:9"
hardware_key = "HWKEY-SECRET-2"
sn = "SN-1"
mac = "02:00:00:00:00:01"
firmware_version = "0.9.0"

[heartbeats.camera]
vendor = "aibox"
url = "http://127.0.0.1:9/event"
serial_number = "SN-1"

[heartbeats.pbx]
vendor = "yeastar"
url = "http://127.0.0.1:9"
username = "api"
password_env = "PBX_PASSWORD"
report_ip = "127.0.0.1"
report_port = 9
report_bind = "127.0.0.1"

[heartbeats.presence]
vendor = "pubnub"
origin = "http://127.0.0.1:9"
subscribe_key = "sub-c-1"
publish_key = "pub-c-1"
secret_key = "PN-SECRET-4"
channels = ["lobby"]
"""


@pytest.fixture(scope="module")
def installed(root: DeviceRoot, module_broker: BrokerProcess) -> CompletedProcess[str]:
    """The installer run once, as on a fresh image, with the test's broker for `init --mqtt`."""
    started = time.monotonic()
    result = root.run(["bash", INSTALLER, "--mqtt", f"127.0.0.1:{module_broker.port}"], timeout=2 * SLOW)
    root.record("install_seconds", round(time.monotonic() - started, 1))
    root.record("install_method", _method(result.stdout))
    return result


@pytest.fixture(autouse=True)
def _timed(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    root = request.node.funcargs.get("root")
    if root is not None:
        root.record(f"seconds.{request.node.originalname}", round(time.monotonic() - started, 1))


def _method(stdout: str) -> str:
    found = re.search(r"dependencies: (.*)", stdout)
    return found.group(1) if found else "?"


def _device_topics(root: DeviceRoot) -> tuple[str, str]:
    config = tomllib.loads(root.file(CONFIG).read_text())
    return config["device"]["id"], config.get("mqtt", {}).get("topic_prefix", "edge")


def _run_agent_until_online(root: DeviceRoot, broker: BrokerProcess, log: Path) -> dict[str, object]:
    """Start the unit's ExecStart; wait for online and state, retained; stop it; the state seen."""
    device_id, prefix = _device_topics(root)
    status, state = f"{prefix}/{device_id}/status", f"{prefix}/{device_id}/state"
    live = Watcher(broker.port, [status, state])
    agent = root.start_unit(log)
    try:

        def up(seen: list[Seen]) -> bool:
            topics = {m.topic for m in seen if m.payload != b"offline"}
            return {status, state} <= topics or agent.poll() is not None

        live.wait_for("the agent online with its state", up, timeout=root.slow)
        assert agent.poll() is None, f"the agent exited {agent.returncode}:\n{log.read_text()}"
        # a subscriber arriving now must find both retained, as Home Assistant would
        late = Watcher(broker.port, [status, state])
        try:
            assert late.wait_retained(status, timeout=root.slow).payload == b"online"
            body = late.wait_retained(state, timeout=root.slow).json()
        finally:
            late.close()
        assert root.stop(agent) == 0, log.read_text()
        # a clean stop says goodbye: offline, retained
        live.wait_last(status, b"offline", timeout=root.slow)
        return dict(body)
    finally:
        live.close()


def test_a_fresh_install_writes_a_config_that_passes_check(
    root: DeviceRoot, installed: CompletedProcess[str]
) -> None:
    out = installed.stdout
    assert "systemd is not running here" in out
    assert "apt-get update" in out
    assert _method(out) in (
        "wheels from the package index",
        "psutil from Debian (python3-psutil, --system-site-packages), the rest wheels",
    ), out
    config = root.file(CONFIG)
    assert config.exists() and "wrote a starter config" in out
    group_of_agent = root.run(["id", "-g", "edge-agent"]).stdout.strip()
    assert str(config.stat().st_gid) == group_of_agent
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    env_file = root.file(ENV_FILE)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600 and env_file.stat().st_uid == 0
    unit = root.unit()
    assert root.file(unit["ExecStart"].split()[0]).exists()
    assert unit["EnvironmentFile"] == f"-{ENV_FILE}"
    assert "2" in unit["RestartPreventExitStatus"].split()  # a config error is not retried
    # the installed config passes check as the service runs it
    checked = root.run([AGENT, "check", "-c", CONFIG], user="edge-agent", env=root.service_env())
    assert ": ok" in checked.stdout
    # init never overwrites a config
    before = config.read_text()
    refused = root.run([AGENT, "init", "-c", CONFIG], check=False)
    assert refused.returncode != 0 and config.read_text() == before


def test_metrics_json_reads_the_device(root: DeviceRoot, installed: CompletedProcess[str]) -> None:
    result = root.run([AGENT, "metrics", "--json", "-c", CONFIG], user="edge-agent", env=root.service_env())
    snapshot = json.loads(result.stdout)
    assert snapshot["memory_total_bytes"] > 0 and 0 <= snapshot["cpu_percent"] <= 100
    assert snapshot["uptime_s"] > 0


def test_the_units_exec_start_brings_the_agent_online(
    root: DeviceRoot, installed: CompletedProcess[str], module_broker: BrokerProcess, tmp_path: Path
) -> None:
    state = _run_agent_until_online(root, module_broker, tmp_path / "agent.log")
    assert state["memory_total_bytes"] and "cpu_percent" in state
    store = root.file("/var/lib/edge-agent/edge-agent.db")
    assert store.exists(), "the store belongs in the unit's StateDirectory"
    assert str(store.stat().st_uid) == root.run(["id", "-u", "edge-agent"]).stdout.strip()
    # the validated config kept for the next start, in the unit's CacheDirectory, private
    entries = list(root.file("/var/cache/edge-agent").glob("config-*"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o077 == 0
    again = _run_agent_until_online(root, module_broker, tmp_path / "agent-restarted.log")
    assert again["memory_total_bytes"]
    assert "not validated again" in (tmp_path / "agent-restarted.log").read_text()


def test_a_config_error_exits_2_so_the_unit_stops(root: DeviceRoot, installed: CompletedProcess[str]) -> None:
    broken = "/etc/edge-agent/broken.toml"
    root.file(broken).write_text('[mqtt]\nport = "not a port"\n')
    result = root.run([AGENT, "run", "-c", broken], user="edge-agent", env=root.service_env(), check=False)
    assert result.returncode == 2, result.stderr
    assert "mqtt.port" in result.stderr


def test_heartbeat_dry_run_for_each_vendor(root: DeviceRoot, installed: CompletedProcess[str]) -> None:
    root.file("/etc/edge-agent/vendors.toml").write_text(VENDOR_CONFIG)
    for name, vendor in VENDORS.items():
        result = root.run(
            [AGENT, "heartbeat", name, "-c", "/etc/edge-agent/vendors.toml", "--dry-run"],
            env={"PBX_PASSWORD": "PBX-SECRET-3"},
        )
        preview = json.loads(result.stdout)
        assert preview["vendor"] == vendor and preview["url"].startswith("http://127.0.0.1:9/")
        for secret in SECRETS:
            assert secret not in result.stdout, f"{name} shows a secret"


def test_the_unit_tests_pass_in_the_roots_python(root: DeviceRoot, installed: CompletedProcess[str]) -> None:
    root.run(
        [
            "/opt/edge-agent/bin/python",
            "-m",
            "pip",
            "install",
            "-q",
            "--prefer-binary",
            "pytest",
            "hypothesis",
        ],
        timeout=SLOW,
    )
    result = root.run(
        [
            "/opt/edge-agent/bin/python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_config.py",
            "tests/collectors",
            "tests/actions",
        ],
        cwd="/src/edge-agent",
        timeout=3 * SLOW,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    root.record("unit_tests", summary)
    assert result.returncode == 0, result.stdout[-6000:]


def test_a_rerun_upgrades_and_keeps_the_users_config(
    root: DeviceRoot, installed: CompletedProcess[str], module_broker: BrokerProcess, tmp_path: Path
) -> None:
    config = root.file(CONFIG)
    config.write_text(config.read_text() + "# the user's own line\n")
    env_file = root.file(ENV_FILE)
    env_file.write_text(env_file.read_text() + "EXAMPLE_TOKEN=kept\n")
    before = (config.read_text(), env_file.read_text())
    # new code in the checkout: the upgrade must install it even though the version is the same
    source = root.file("/src/edge-agent/edge_agent/__init__.py")
    source.write_text(source.read_text() + "\n# upgraded-build-marker\n")
    started = time.monotonic()
    result = root.run(["bash", INSTALLER], timeout=2 * SLOW)
    root.record("upgrade_seconds", round(time.monotonic() - started, 1))
    assert "keeping your config" in result.stdout
    assert (config.read_text(), env_file.read_text()) == before
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    installed_file = root.run(
        ["/opt/edge-agent/bin/python", "-c", "import edge_agent; print(edge_agent.__file__)"]
    )
    assert installed_file.stdout.startswith("/opt/edge-agent/")
    assert "upgraded-build-marker" in root.file(installed_file.stdout.strip()).read_text()
    # the upgraded agent comes up again on the same store and config (what the restart would do)
    _run_agent_until_online(root, module_broker, tmp_path / "agent-upgraded.log")


def test_desktop_gives_the_unit_its_drop_in_and_a_sudo_rule_for_that_user_only(
    root: DeviceRoot, installed: CompletedProcess[str]
) -> None:
    """``--desktop USER``: what the display actions need under the hardened unit, and no more."""
    root.run(["useradd", "--create-home", "pi"])
    refused = root.run(["bash", INSTALLER, "--desktop", "nobody-here"], check=False, timeout=2 * SLOW)
    assert refused.returncode == 2 and "no such user" in refused.stderr
    root.run(["bash", INSTALLER, "--desktop", "pi"], timeout=2 * SLOW)
    dropin = root.file("/etc/systemd/system/edge-agent.service.d/desktop.conf")
    assert "NoNewPrivileges=no" in dropin.read_text()
    rule = root.file("/etc/sudoers.d/edge-agent-desktop")
    assert stat.S_IMODE(rule.stat().st_mode) == 0o440
    assert "edge-agent ALL=(pi) NOPASSWD: /usr/bin/env" in rule.read_text()
    assert root.run(["visudo", "-cf", "/etc/sudoers.d/edge-agent-desktop"]).returncode == 0
    # the service user may become pi, and only pi
    as_pi = root.run(
        ["runuser", "-u", "edge-agent", "--", "sudo", "-n", "-u", "pi", "--", "/usr/bin/env", "id", "-un"]
    )
    assert as_pi.stdout.strip() == "pi"
    as_root = root.run(
        ["runuser", "-u", "edge-agent", "--", "sudo", "-n", "--", "/usr/bin/env", "id"], check=False
    )
    assert as_root.returncode != 0


def test_uninstall_keeps_config_and_store_and_purge_removes_them(
    root: DeviceRoot, installed: CompletedProcess[str]
) -> None:
    root.run(["bash", INSTALLER, "--uninstall"])
    assert not root.file("/etc/systemd/system/edge-agent.service").exists()
    assert not root.file("/opt/edge-agent").exists()
    assert root.run(["id", "edge-agent"], check=False).returncode != 0
    assert root.file(CONFIG).exists() and root.file(ENV_FILE).exists()
    assert root.file("/var/lib/edge-agent").exists()
    root.run(["bash", INSTALLER, "--uninstall", "--purge"])
    assert not root.file("/etc/edge-agent").exists() and not root.file("/var/lib/edge-agent").exists()

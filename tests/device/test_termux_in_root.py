"""deploy/termux/install.sh and the boot script in the trixie roots, against a stand-in ``pkg``.

Termux runs Python 3.13 and ships psutil and pydantic-core prebuilt; Debian trixie does
too (python3-psutil, python3-pydantic-core), so the same pinning problem is real here: the
installer must pick the pydantic release that pins exactly the pydantic-core the system
installed, and build neither from source. The stand-in ``pkg`` maps Termux's package names
to Debian's and fakes termux-api's wake lock; HOME is a test home, as on a phone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from device_root import SLOW, DeviceRoot, wait_until
from mqtt_brokers import BrokerProcess
from mqtt_watch import Watcher

pytestmark = [pytest.mark.slow, pytest.mark.device]

HOME = "/home/phone"
VENV = f"{HOME}/.edge-agent"
CONFIG = f"{HOME}/.config/edge-agent/edge-agent.toml"
STATE = f"{HOME}/.local/state/edge-agent"
BOOT = f"{HOME}/.termux/boot/edge-agent"
# Termux's names -> Debian's: what `pkg install` would bring on a phone.
PKG = r"""#!/bin/sh
# Stand-in for Termux's pkg: the same packages, from Debian.
set -e
[ "$1" = install ] || { echo "stand-in pkg: only 'install'" >&2; exit 2; }
shift
debs=""
for name in "$@"; do
  case "$name" in
    -y) ;;
    python) debs="$debs python3 python3-venv" ;;
    python-psutil) debs="$debs python3-psutil" ;;
    python-pydantic-core) debs="$debs python3-pydantic-core" ;;
    termux-api)
      for tool in termux-wake-lock termux-wake-unlock; do
        printf '#!/bin/sh\necho "$(date +%%s) %s" >>"$HOME/termux-api.log"\n' "$tool" >/usr/local/bin/$tool
        chmod 0755 /usr/local/bin/$tool
      done ;;
    *) echo "stand-in pkg: unknown package $name" >&2; exit 1 ;;
  esac
done
apt-get update -qq || apt-get update -qq || echo "stand-in pkg: apt-get update had errors" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debs >/dev/null
"""
ENV = {"HOME": HOME}
BOOT_ENV = {
    **ENV,
    "EDGE_AGENT_RESTART_MIN": "1",
    "EDGE_AGENT_RESTART_MAX": "2",
    "EDGE_AGENT_POLL": "0.2",
    "EDGE_AGENT_LOG_MAX": "20000",
}


@pytest.fixture(scope="module")
def trixie(root_name: str) -> str:
    if not root_name.startswith("trixie-"):
        pytest.skip("Termux runs Python 3.13: its installer is exercised in the trixie roots")
    return root_name


@pytest.fixture(scope="module")
def phone(trixie: str, root: DeviceRoot, module_broker: BrokerProcess) -> Iterator[DeviceRoot]:
    """The root with the stand-in pkg, after the Termux installer's first run."""
    pkg = root.file("/usr/local/bin/pkg")
    pkg.write_text(PKG)
    pkg.chmod(0o755)
    root.file(HOME).mkdir(parents=True)
    started = time.monotonic()
    result = root.run(
        ["bash", "/src/edge-agent/deploy/termux/install.sh", "--mqtt", f"127.0.0.1:{module_broker.port}"],
        env=ENV,
        timeout=2 * SLOW,
    )
    root.record("termux_install_seconds", round(time.monotonic() - started, 1))
    root.termux_install = result  # type: ignore[attr-defined]
    yield root


def _dist(root: DeviceRoot, name: str) -> tuple[str, str]:
    """(version, location) of a distribution as the venv sees it."""
    out = root.run(
        [
            f"{VENV}/bin/python",
            "-c",
            "import sys; from importlib.metadata import distribution as d; x = d(sys.argv[1]); "
            "print(x.version); print(x.locate_file(''))",
            name,
        ],
        env=ENV,
    ).stdout.split("\n")
    return out[0].strip(), out[1].strip()


def test_pydantic_matches_the_systems_pydantic_core_and_nothing_was_built(phone: DeviceRoot) -> None:
    core, core_at = _dist(phone, "pydantic-core")
    psutil_version, psutil_at = _dist(phone, "psutil")
    # both come from the system's packages, not from a wheel or a build in the venv
    assert core_at.startswith("/usr/lib/python3/dist-packages"), core_at
    assert psutil_at.startswith("/usr/lib/python3/dist-packages"), psutil_at
    debian = phone.run(["dpkg-query", "-W", "-f", "${Version}", "python3-pydantic-core"]).stdout
    assert debian.startswith(core), (debian, core)
    requires = phone.run(
        [f"{VENV}/bin/python", "-c", "from importlib.metadata import requires; print(requires('pydantic'))"],
        env=ENV,
    ).stdout
    assert f"pydantic-core=={core}" in requires.replace(" ", ""), requires
    assert not list(phone.file(VENV).glob("lib/python3*/site-packages/pydantic_core*")), (
        "a second pydantic-core"
    )
    pydantic, _ = _dist(phone, "pydantic")
    phone.record("termux_pins", f"pydantic {pydantic} / pydantic-core {core} / psutil {psutil_version}")


def test_config_and_store_live_under_home(phone: DeviceRoot) -> None:
    result = phone.termux_install  # type: ignore[attr-defined]
    assert "pydantic-core" in result.stdout
    assert phone.file(CONFIG).exists()
    checked = phone.run([f"{VENV}/bin/edge-agent", "check", "-c", CONFIG], env=ENV)
    assert ": ok" in checked.stdout
    metrics = json.loads(
        phone.run([f"{VENV}/bin/edge-agent", "metrics", "--json", "-c", CONFIG], env=ENV).stdout
    )
    assert metrics["memory_total_bytes"] > 0
    assert phone.file(BOOT).exists() and os.access(phone.file(BOOT), os.X_OK)


def _agent_pid(phone: DeviceRoot, other_than: int = 0) -> int:
    def read() -> int:
        path = phone.file(f"{STATE}/agent.pid")
        text = path.read_text().strip() if path.exists() else ""
        pid = int(text) if text.isdigit() else 0
        return pid if pid and pid != other_than else 0

    return wait_until("the boot script's agent pid", read, timeout=SLOW)


def _log(phone: DeviceRoot) -> str:
    path = phone.file(f"{STATE}/agent.log")
    return path.read_text(errors="replace") if path.exists() else ""


def test_the_boot_script_restarts_with_backoff_rotates_and_stops_on_a_config_error(
    phone: DeviceRoot, module_broker: BrokerProcess, tmp_path: Path
) -> None:
    config = phone.file(CONFIG)
    device_id = re.search(r'id = "([^"]+)"', config.read_text()).group(1)  # type: ignore[union-attr]
    status = f"edge/{device_id}/status"
    watch = Watcher(module_broker.port, [status])
    boot = phone.start(["sh", BOOT], tmp_path / "boot.out", env=BOOT_ENV)
    try:
        online = lambda count: lambda seen: sum(m.payload == b"online" for m in seen) >= count  # noqa: E731
        watch.wait_for("the agent online", online(1), timeout=SLOW)
        assert "termux-wake-lock" in phone.file(f"{HOME}/termux-api.log").read_text()
        assert list(phone.file(HOME).rglob("*.db")), "the store belongs under $HOME"
        # killed agents come back, each time later, up to the cap
        pid = _agent_pid(phone)
        for count, delay in ((2, 1), (3, 2), (4, 2)):
            os.kill(pid, signal.SIGKILL)
            wait_until(
                f"restart #{count - 1}",
                lambda d=delay: f"exited with 137; restarting in {d} s" in _log(phone),
            )
            pid = _agent_pid(phone, other_than=pid)
            watch.wait_for(f"the agent online again ({count})", online(count), timeout=SLOW)
        lines = re.findall(r"restarting in (\d+) s", _log(phone))
        assert lines == ["1", "2", "2"], lines
        # the log is capped: past EDGE_AGENT_LOG_MAX it moves to agent.log.1
        with open(phone.file(f"{STATE}/agent.log"), "a") as log:
            log.write("x" * 30000 + "\n")
        # rotation copies to agent.log.1, then truncates, then notes it: wait for the note,
        # not for agent.log.1 (it exists before the truncation; CI once read 32,441 bytes)
        wait_until("the log rotated", lambda: "log rotated (" in _log(phone))
        assert phone.file(f"{STATE}/agent.log.1").exists()
        assert len(_log(phone)) < 20000
        # an upgrade restarts the running agent through the boot script
        upgrade = phone.run(["bash", "/src/edge-agent/deploy/termux/install.sh"], env=ENV, timeout=2 * SLOW)
        assert "keeping your config" in upgrade.stdout and "upgraded" in upgrade.stdout
        pid = _agent_pid(phone, other_than=pid)
        watch.wait_for("the upgraded agent online", online(5), timeout=SLOW)
        # a config error: no restart loop, a clear line, the boot script ends with 2
        config.write_text(config.read_text() + '\n[storage]\noutbox_max = "many"\n')
        os.kill(pid, signal.SIGTERM)
        assert boot.wait(timeout=SLOW) == 2
        assert "a config error" in _log(phone) and "not restarting" in _log(phone)
    finally:
        watch.close()
        if boot.poll() is None:
            boot.send_signal(signal.SIGTERM)
            try:
                boot.wait(timeout=60)
            except subprocess.TimeoutExpired:
                boot.kill()

"""Peer agents from PyPI that publish a device's metrics to MQTT, run beside edge-agent for comparison.

Each peer goes into a virtualenv of its own under ``--peer-dir`` (never the project's
``.venv``), made with the same Python and ``pip install`` the first time it is needed.
Tried and kept (they install and run here against a local mosquitto):

* ``linux2mqtt`` 1.7.0: CPU, memory, disk and temperatures to MQTT with Home Assistant
  discovery. It imports ``psutil._common.addr``, gone in psutil 7, so psutil is pinned
  below 7 in its venv.
* ``glances`` 4.5.8 with its MQTT export, limited to the plugins that match what
  edge-agent reads (cpu, mem, load, sensors, network, uptime, system, ip). Its MQTT
  export needs ``paho-mqtt`` and ``certifi``, which it does not declare.

Not on PyPI (``pip index versions`` finds nothing): rpi-mqtt-monitor (installed from
git), system-sensors, mqtt-system-monitor, psutil-mqtt, system2mqtt.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

from agent_rig import Measured

PACKAGES = {
    "linux2mqtt": ["linux2mqtt==1.7.0", "psutil<7"],
    "glances": ["glances==4.5.8", "paho-mqtt", "certifi"],
}
GLANCES_PLUGINS = "cpu,mem,load,sensors,network,uptime,system,ip"


def prepare(name: str, peer_dir: Path) -> tuple[Optional[Path], str]:
    """The venv's bin folder with ``name`` installed, or None and why not."""
    venv = peer_dir / f"{name}-venv"
    marker = venv / ".installed"
    if not marker.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", *PACKAGES[name]],
                check=True,
                capture_output=True,
                timeout=900,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            return None, f"could not install: {exc} {detail.decode(errors='replace')[-300:]}"
        marker.write_text(" ".join(PACKAGES[name]))
    return venv / "bin", ""


LINUX2MQTT_MIN_INTERVAL = 5
"""linux2mqtt refuses an ``--interval`` or ``--cpu`` interval below 5 s."""


def start_peer(name: str, bin_dir: Path, port: int, interval: int, workdir: Path, tag: str = "") -> Measured:
    """``name`` publishing to 127.0.0.1:``port`` every ``interval`` seconds.

    linux2mqtt publishes at most every 5 s: asked for less, it runs at 5 s, the closest it
    comes (a lower bound on what it would cost at the shorter interval).
    """
    log = workdir / f"{name}{tag}.log"
    if name == "linux2mqtt":
        argv = [
            str(bin_dir / "linux2mqtt"),
            *("--name", f"peer{tag}", "--client", f"peer{tag}-{port}"),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--interval", str(max(interval, LINUX2MQTT_MIN_INTERVAL))),
            f"--cpu={max(interval, LINUX2MQTT_MIN_INTERVAL)}",
            "--vm",
            "--du=/",
            "--temp",
        ]
        return Measured(name, argv, log)
    conf = workdir / f"glances{tag}.conf"
    conf.write_text(
        f"[mqtt]\nhost=127.0.0.1\nport={port}\ntls=false\ntopic=glances{tag}\ntopic_structure=per-metric\n"
    )
    argv = [
        str(bin_dir / "glances"),
        *("--export", "mqtt", "--quiet", "-C", str(conf), "-t", str(interval)),
        *("--disable-plugin", "all", "--enable-plugin", GLANCES_PLUGINS, "--disable-history"),
    ]
    return Measured(name, argv, log)


def first_topic(name: str, tag: str = "") -> str:
    """A topic filter that matches the peer's messages (for its first-message time)."""
    return f"linux/peer{tag}/#" if name == "linux2mqtt" else f"glances{tag}/#"

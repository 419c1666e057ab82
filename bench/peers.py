"""Peer agents from PyPI that publish a device's metrics to MQTT, run beside edge-agent for comparison.

Each peer goes into a virtualenv of its own under ``--peer-dir`` (never the project's
``.venv``), made with the same Python and ``pip install`` the first time it is needed.
Tried and kept (they install and run here against a local mosquitto):

* ``linux2mqtt`` 1.7.0: CPU, memory, disk and temperatures to MQTT with Home Assistant
  discovery. It imports ``psutil._common.addr``, gone in psutil 7, so psutil is pinned
  below 7 in its venv. It refuses an interval below 5 s; for the 1 s figure it runs
  with that minimum lifted (:data:`LIFT_MINIMUM`).
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

LIFT_MINIMUM = """
import sys
import linux2mqtt.linux2mqtt as app
import linux2mqtt.metrics as metrics
app.MIN_INTERVAL = app.MIN_CPU_INTERVAL = metrics.MIN_CPU_INTERVAL = 1
sys.argv[0] = "linux2mqtt"
sys.exit(app.main())
"""
"""linux2mqtt with its 5 s minimum lifted to 1 s, run as ``python -c`` in its venv.

Its ``main()`` builds the argparse ``choices=range(MIN_INTERVAL, ...)`` when called, and
``CPUMetrics.__init__`` and ``Linux2Mqtt.__init__`` compare with the module-level names
each module imported from ``linux2mqtt.const``: setting those names before ``main()``
is all the limit is. Nothing else in it depends on the interval being 5 s or more (its
loop sleeps one second at a time between publishes, and its CPU figure is
``psutil.cpu_times_percent(interval=...)`` over the interval, in a thread of its own)."""

LIFTED_NAMES = {
    "linux2mqtt.linux2mqtt": ("MIN_INTERVAL", "MIN_CPU_INTERVAL", "main"),
    "linux2mqtt.metrics": ("MIN_CPU_INTERVAL",),
}


def can_lift_minimum(bin_dir: Path) -> bool:
    """Whether the installed linux2mqtt still has the names :data:`LIFT_MINIMUM` sets."""
    check = "; ".join(
        f"import {module}; assert all(hasattr({module}, n) for n in {names!r})"
        for module, names in LIFTED_NAMES.items()
    )
    try:
        done = subprocess.run([str(bin_dir / "python"), "-c", check], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def linux2mqtt_label(interval: int, lifted: bool) -> str:
    """The name a linux2mqtt run at ``interval`` goes by in the figures (and the goal lines)."""
    if interval >= LINUX2MQTT_MIN_INTERVAL:
        return "linux2mqtt"
    if lifted:
        return f"linux2mqtt {interval} s (its {LINUX2MQTT_MIN_INTERVAL} s minimum lifted)"
    return f"linux2mqtt {interval} s (runs at {LINUX2MQTT_MIN_INTERVAL} s)"


def start_peer(
    name: str, bin_dir: Path, port: int, interval: int, workdir: Path, tag: str = "", lift: bool = False
) -> Measured:
    """``name`` publishing to 127.0.0.1:``port`` every ``interval`` seconds.

    linux2mqtt refuses less than 5 s. With ``lift`` (after :func:`can_lift_minimum`) it
    runs at ``interval`` through :data:`LIFT_MINIMUM`; without, it runs at 5 s, the
    closest it comes by itself (a lower bound on what it would cost at the shorter
    interval: the fallback if the wrapper cannot start).
    """
    log = workdir / f"{name}{tag}.log"
    if name == "linux2mqtt":
        every = interval if lift else max(interval, LINUX2MQTT_MIN_INTERVAL)
        options = [
            *("--name", f"peer{tag}", "--client", f"peer{tag}-{port}"),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--interval", str(every)),
            f"--cpu={every}",
            "--vm",
            "--du=/",
            "--temp",
        ]
        if lift and interval < LINUX2MQTT_MIN_INTERVAL:
            return Measured(name, [str(bin_dir / "python"), "-c", LIFT_MINIMUM, *options], log)
        return Measured(name, [str(bin_dir / "linux2mqtt"), *options], log)
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

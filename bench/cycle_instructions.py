"""Instructions per metrics cycle of the whole agent (MQTT only), counted by callgrind: the firm CPU figure.

Wall-clock CPU seconds at a 1 s interval move by 20 % or more between two-minute runs on
a shared machine; an instruction count does not (it moves with how many metrics changed,
so the messages per cycle are printed beside it). This starts a private mosquitto and
``python -m edge_agent run`` with MQTT only at ``--interval`` under
``valgrind --tool=callgrind --instr-atstart=no``, lets it warm up, counts instructions over
``--window`` seconds (``callgrind_control -i on``/``off``), and divides by the ``state``
messages a plain subscriber saw in that window. The process runs from a temporary
folder, so ``--agent-src`` (a folder holding an ``edge_agent`` package, e.g. from
``git archive <commit> edge_agent``) really is what runs.

Usage: ``.venv/bin/python bench/cycle_instructions.py [--agent-src DIR] [--warm-up 45] [--window 40]``
(about two minutes; needs valgrind).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent_rig import Mosquitto, Subscriber, agent_config

DEVICE = "cycles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agent-src", type=Path, help="run the edge_agent package found in this folder")
    parser.add_argument("--interval", type=float, default=1.0, help="metrics interval, s (default 1)")
    parser.add_argument("--warm-up", type=float, default=45.0, help="seconds before counting (default 45)")
    parser.add_argument("--window", type=float, default=40.0, help="seconds counted (default 40)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind (with callgrind_control) is not installed")

    env = dict(os.environ)
    if args.agent_src is not None:
        env["PYTHONPATH"] = str(args.agent_src.resolve())
    with tempfile.TemporaryDirectory(prefix="cycle-instructions-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir)
        config = agent_config(workdir, broker.port, device_id=DEVICE, metrics_interval=args.interval)
        watcher = Subscriber(broker.port, [f"edge/{DEVICE}/#"])
        out = workdir / "callgrind.out"
        argv = [
            *("valgrind", "--tool=callgrind", "--trace-children=yes", "--instr-atstart=no"),
            f"--callgrind-out-file={out}.%p",
            *(sys.executable, "-m", "edge_agent", "--log-level", "warning", "run", "-c", str(config)),
        ]
        with open(workdir / "agent.log", "wb") as log:
            # not the repository: `python -m` puts the working directory first on sys.path
            agent = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
        try:
            time.sleep(args.warm_up)
            states, messages = watcher.counts[f"edge/{DEVICE}/state"], watcher.total()
            control = ["callgrind_control", "-i"]
            subprocess.run([*control, "on", str(agent.pid)], capture_output=True, check=True)
            time.sleep(args.window)
            subprocess.run([*control, "off", str(agent.pid)], capture_output=True, check=True)
            cycles = watcher.counts[f"edge/{DEVICE}/state"] - states
            messages = watcher.total() - messages
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(120)
            watcher.close()
            broker.stop()
        total = sum(
            int(line.split()[1])
            for dump in workdir.glob("callgrind.out.*")
            for line in dump.read_text(errors="replace").splitlines()
            if line.startswith("totals:")
        )
    source = args.agent_src or "the installed edge_agent"
    if not cycles:
        raise SystemExit(f"{source}: no state message in the window")
    print(
        f"{source}: {cycles} cycles in {args.window:g} s, {total / 1e6:.1f} M instructions, "
        f"{total / cycles / 1e6:.3f} M per cycle, {messages / cycles:.2f} messages per cycle"
    )


if __name__ == "__main__":
    main()

"""What systemd and a log shipper see of `edge-agent run`: readiness, watchdog, JSON log lines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path


def test_run_tells_systemd_it_is_ready_and_alive_and_logs_json_lines(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[device]\nid = "svc-1"\n[metrics]\ninterval = 0.5\n[storage]\npath = "{tmp_path / "a.db"}"\n'
    )
    notify_path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        notify.settimeout(20)
        env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "1000000"}
        env.pop("WATCHDOG_PID", None)
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge_agent",
                "--log-json",
                "--log-level",
                "info",
                "run",
                "-c",
                str(config),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            messages = [notify.recv(4096).decode() for _ in range(3)]
            assert messages[0].startswith("READY=1")
            assert "WATCHDOG=1" in messages[1:]
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=20)
        finally:
            agent.kill()
    assert agent.returncode == 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "the agent logged nothing at info level"
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(entry)

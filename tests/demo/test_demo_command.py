"""`edge-agent demo` as a newcomer runs it, judged only by what it printed and what it left behind."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from edge_agent.demo.scenario import DEMO_APP, DEMO_MESSAGE
from edge_agent.demo.world import DEVICE_ID, ENDPOINTS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))

from mqtt_brokers import have_mosquitto, mosquitto, skip_without_amqtt

from edge_agent.mqtt.broker import amqtt_missing_reason

BASE = f"edge/{DEVICE_ID}"


def run_demo(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", "demo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def summary_of(output: str) -> str:
    marker = "== edge-agent demo summary"
    assert marker in output, output
    return output[output.index(marker) :]


def line(pattern: str, text: str) -> re.Match[str]:
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"no line matching {pattern!r} in:\n{text}"
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(text: str) -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if text in cmdline:
            found.append(cmdline)
    return found


def test_the_demo_shows_every_vendor_the_actions_metrics_and_topics_then_leaves_nothing_running() -> None:
    skip_without_amqtt()  # the demo's own broker; --broker is tested below
    result = run_demo("--duration", "12")

    assert result.returncode == 0, result.stderr
    output = result.stdout
    summary = summary_of(output)

    # while it ran, the plain-text frames (stdout is not a terminal) already showed heartbeats
    frames = output[: output.index("== edge-agent demo summary")].split("---- after ")[1:]
    assert len(frames) >= 2, output
    assert "Heartbeats (" in frames[-1]

    # every vendor answered, as the agent mirrored it on heartbeat/<name>
    for vendor, endpoint in ENDPOINTS.items():
        row = line(rf"^  {endpoint}\s+{vendor}\s+ok\s+200\s+.*\s(\d+) \((\d+) ok\)$", summary)
        assert int(row.group(2)) >= 1

    # the actions the simulators queued ran through the real runner and the stand-in program
    line(rf"^  MESSAGE\s+heartbeat:iptv\s+succeeded\s+exit 0\s+would show message: {DEMO_MESSAGE}$", summary)
    line(rf"^  START_APP\s+heartbeat:iptv\s+succeeded\s+exit 0\s+would start app {DEMO_APP}$", summary)
    line(r"^  DUMP\s+heartbeat:hub\s+succeeded\s+exit 0\s+would collect", summary)
    # ... and the Xyte command's result went back to Xyte
    line(r"^  xyte: registered as \S+; commands: dump done$", summary)

    # real metrics of this machine
    cpu = float(line(r"\bcpu (\d+\.\d) %", summary).group(1))
    assert 0.0 <= cpu <= 100.0
    line(r"\bmemory \d+\.\d % free of \d+\.\d GiB", summary)

    # the topics written, with how many messages each
    for topic in (f"{BASE}/state", f"{BASE}/events", f"{BASE}/status", f"{BASE}/heartbeat/iptv"):
        assert int(line(rf"^  {re.escape(topic)}\s+(\d+)$", summary).group(1)) >= 1
    line(rf"^  {re.escape(BASE)}/pbx/pbx\s+1$", summary)  # the PBX report, once

    # it stopped the agent as `edge-agent run` stops: goodbye beats, logout
    line(r"^  telecomx: the last heartbeat said turnedOff$", summary)
    line(r"^  yeastar: 1 event report\(s\) delivered; logged out$", summary)

    # nothing it opened still listens: the broker port it printed first of all
    broker_port = int(line(r"^  broker\s+127\.0\.0\.1:(\d+) embedded", output).group(1))
    assert not listening(broker_port)
    ports = {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", output)}
    assert len(ports) >= 7  # broker, five simulators, the PBX report listener
    assert [port for port in ports if listening(port)] == []

    # its folder is gone, and no program it started (they all ran from that folder's log) remains
    folder = line(r"^  folder\s+(\S+)", output).group(1)
    assert not Path(folder).exists()
    assert processes_mentioning(folder) == []


@pytest.mark.skipif(not have_mosquitto(), reason="mosquitto is not installed (.ci/run installs it)")
def test_with_a_broker_given_the_demo_uses_it_and_leaves_it_running(tmp_path: Path) -> None:
    broker = mosquitto(tmp_path).start()
    try:
        result = run_demo("--duration", "6", "--broker", f"127.0.0.1:{broker.port}")

        assert result.returncode == 0, result.stderr
        output = result.stdout
        line(rf"^  broker\s+127\.0\.0\.1:{broker.port} external", output)
        summary = summary_of(output)
        for vendor, endpoint in ENDPOINTS.items():
            line(rf"^  {endpoint}\s+{vendor}\s+ok\s", summary)
        assert "embedded broker" not in summary
        assert listening(broker.port), "the demo must not stop a broker it did not start"
    finally:
        broker.kill()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--broker", "localhost"], "is not HOST:PORT"),
        (["--duration", "0"], "above 0"),
        (["--duration", "soon"], "is not a number of seconds"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(args: list[str], complaint: str) -> None:
    result = run_demo(*args, timeout=30)

    assert result.returncode == 2
    assert complaint in result.stderr
    assert result.stdout == ""


def test_without_amqtt_the_demo_says_why_and_offers_broker(tmp_path: Path) -> None:
    """What a user sees where amqtt is missing; on 3.10+ the test blocks its import to get there."""
    block = "" if amqtt_missing_reason() is not None else "sys.modules['amqtt'] = None; "
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; {block}from edge_agent.cli import main; sys.exit(main(['demo']))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert "edge-agent demo --broker 127.0.0.1:1883" in result.stderr
    if sys.version_info < (3, 10):
        assert "needs Python 3.10 or newer and this is Python 3.9" in result.stderr
        assert "pip install" not in result.stderr  # they just did: it cannot help on 3.9
    else:
        assert "pip install 'edge-agent[broker]'" in result.stderr


def test_on_python_3_9_the_reason_names_the_python_needed_not_a_pip_command() -> None:
    blocked = sys.modules.get("amqtt", ...)
    sys.modules["amqtt"] = None  # type: ignore[assignment]  # as if not installed
    try:
        old = amqtt_missing_reason((3, 9, 18))
        new = amqtt_missing_reason((3, 12, 1))
    finally:
        if blocked is ...:
            del sys.modules["amqtt"]
        else:
            sys.modules["amqtt"] = blocked
    assert old is not None and "needs Python 3.10 or newer and this is Python 3.9.18" in old
    assert "nothing more to install" in old
    assert (
        new
        == "the embedded MQTT broker needs amqtt, which is not installed: pip install 'edge-agent[broker]'"
    )

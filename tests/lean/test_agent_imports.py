"""An agent loads the MQTT side only as far as its config asks (issues 14 and 15).

``assembly.py`` hands the agent its publisher and its facilities: without ``[mqtt]`` a null
publisher, so paho (and the mirror over it) is never imported; without ``embedded_broker``
no broker, so amqtt is never imported. Checked in a fresh interpreter, as the agent runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from pathlib import Path
from edge_agent.assembly import build_agent
from edge_agent.config import load_config
from edge_agent.assembly import AfterFirstSnapshot
agent = build_agent(load_config(Path(sys.argv[1])))
if sys.argv[2:] == ["made"]:  # what the agent does once its first snapshot is out
    for service in agent._services:
        if isinstance(service, AfterFirstSnapshot):
            service.service()
print(json.dumps({"publisher": type(agent.publisher).__name__,
                  "facilities": [type(f).__name__ for f in agent.facilities],
                  "modules": sorted(sys.modules)}))
agent.store.close()
"""


def built(config: Path, *moment: str) -> dict[str, object]:
    """What a fresh interpreter loaded to build the agent of ``config`` (``"made"``: and make its
    deferred services, as the running agent does after its first snapshot)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), *moment],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def loaded(report: dict[str, object], *roots: str) -> list[str]:
    modules = report["modules"]
    assert isinstance(modules, list)
    return sorted(name for name in modules if name.split(".")[0] in roots or name in roots)


def test_without_mqtt_the_agent_has_a_null_publisher_and_no_paho(tmp_path: Path) -> None:
    config = tmp_path / "edge-agent.toml"
    config.write_text(f'[device]\nid = "d1"\n\n[storage]\npath = "{tmp_path / "agent.db"}"\n')
    report = built(config)
    assert report["publisher"] == "NullPublisher"
    assert report["facilities"] == []
    assert loaded(report, "paho", "amqtt", "edge_agent.mqtt.mirror", "edge_agent.mqtt.broker") == []


def test_with_mqtt_the_mirror_and_with_embedded_broker_the_broker(tmp_path: Path) -> None:
    config = tmp_path / "edge-agent.toml"
    mqtt = '[mqtt]\nhost = "127.0.0.1"\nport = 1\n'
    config.write_text(f'[device]\nid = "d1"\n\n[storage]\npath = "{tmp_path / "agent.db"}"\n\n{mqtt}')
    report = built(config)
    assert report["publisher"] == "MqttMirror" and report["facilities"] == []
    assert loaded(report, "paho") != []
    assert loaded(report, "amqtt", "edge_agent.mqtt.broker") == []

    config.write_text(config.read_text() + "embedded_broker = true\n")
    report = built(config)
    assert report["publisher"] == "MqttMirror" and report["facilities"] == ["EmbeddedBroker"]
    assert loaded(report, "amqtt") == [], "amqtt is imported only when the broker starts"


def test_an_agent_without_heartbeats_loads_no_http_and_one_with_them_no_httpx(tmp_path: Path) -> None:
    """The vendors' HTTP is h11 under our own transport (issue 15: httpx, httpcore and anyio
    were 3.5 MB); a plain http:// vendor does not even load the CA roots' certifi."""
    config = tmp_path / "edge-agent.toml"
    base = f'[device]\nid = "d1"\n\n[storage]\npath = "{tmp_path / "agent.db"}"\n'
    config.write_text(base + '\n[mqtt]\nhost = "127.0.0.1"\nport = 1\n')
    assert loaded(built(config), "h11", "httpx", "edge_agent.heartbeat") == []

    vendor = '\n[heartbeats.iptv]\nvendor = "telecomx"\nurl = "http://127.0.0.1:9/hb"\ntoken = "t0k3n"\n'
    config.write_text(base + vendor)
    report = built(config, "made")
    assert loaded(report, "h11") != [] and loaded(report, "edge_agent.heartbeat.transport") != []
    assert loaded(report, "httpx", "httpcore", "anyio", "sniffio", "certifi") == []


def test_the_heartbeat_engine_is_loaded_after_the_first_snapshot_not_to_build_the_agent(
    tmp_path: Path,
) -> None:
    """A restart's first retained state does not wait for the HTTP transport and the vendors."""
    config = tmp_path / "edge-agent.toml"
    config.write_text(
        f'[device]\nid = "d1"\n\n[storage]\npath = "{tmp_path / "agent.db"}"\n'
        '\n[heartbeats.iptv]\nvendor = "telecomx"\nurl = "http://127.0.0.1:9/hb"\ntoken = "t0k3n"\n'
    )
    assert loaded(built(config), "h11", "edge_agent.heartbeat.engine", "edge_agent.heartbeat.transport") == []
    assert loaded(built(config, "made"), "edge_agent.heartbeat.engine") != []

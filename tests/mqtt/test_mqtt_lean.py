"""An agent whose config needs no TLS runs without OpenSSL (issue 15), and MQTT works as before.

``edge-agent run`` leaves ``ssl`` out of such an agent (about 5 MB on a Pi Zero). paho
imports ssl optionally, yet names ``ssl.SSLWantReadError`` when a read finds nothing:
this checks, against a real mosquitto, that many cycles of publishing and reading PUBACKs
leave no error in the log and no OpenSSL in the process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_mqtt_agent import STATE, STATUS, agent_config


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no memfd_create: the agent keeps ssl")
def test_an_agent_without_tls_runs_without_openssl_and_without_errors(
    mosquitto_only, tmp_path: Path, start_agent, watch
) -> None:
    broker = mosquitto_only()
    agent = start_agent(agent_config(tmp_path, broker.port))
    watcher = watch(broker.port, ["edge/dev-1/#"])
    watcher.wait_last(STATUS, b"online")
    watcher.wait_for(
        "ten states (five seconds of cycles)", lambda seen: len([m for m in seen if m.topic == STATE]) >= 10
    )
    maps = Path(f"/proc/{agent.process.pid}/maps").read_text()
    assert "libssl" not in maps and "_ssl." not in maps and "pydantic" not in maps
    assert agent.terminate() == 0
    log = agent.text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]

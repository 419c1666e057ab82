"""What needs mosquitto's features: MQTT 5 request/response, TLS listeners, password files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mqtt_agent_process import agent_config
from mqtt_brokers import free_port
from support.pki import make_pki

STATUS = "edge/dev-1/status"
CMD = "edge/dev-1/cmd"


def test_an_mqtt5_command_is_answered_on_its_response_topic_with_its_correlation_data(
    mosquitto_only, tmp_path: Path, start_agent, watch
) -> None:
    broker = mosquitto_only()
    config = agent_config(tmp_path, broker.port, mqtt_extra='protocol = "5"\ncommand_expiry = 120')
    operator = watch(broker.port, ["replies/#", STATUS], protocol="5")
    start_agent(config)
    operator.wait_last(STATUS, b"online")

    operator.publish(
        CMD,
        json.dumps({"id": "op-1", "type": "MESSAGE"}).encode(),
        response_topic="replies/console",
        correlation_data=b"req-41",
    )
    operator.publish(
        CMD,
        json.dumps({"type": "MESSAGE"}).encode(),
        response_topic="replies/console",
        correlation_data=b"req-42",
    )

    def first_reply_to(seen, correlation: bytes):
        replies = (m for m in seen if m.topic == "replies/console" and m.correlation_data == correlation)
        return next(replies, None)

    operator.wait_for(
        "both replies", lambda seen: first_reply_to(seen, b"req-41") and first_reply_to(seen, b"req-42")
    )
    accepted = first_reply_to(operator.seen, b"req-41")
    refused = first_reply_to(operator.seen, b"req-42")
    # the receipt comes first; the action runner may answer again later with the result
    assert accepted.json() == {"id": "op-1", "status": "received"}
    assert refused.json()["status"] == "rejected" and '"id"' in refused.json()["reason"]
    assert all(m.message_expiry is not None and 0 < m.message_expiry <= 120 for m in (accepted, refused))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Proper CAs (keyUsage, as Python 3.13's strict checks want) and one without keyUsage.

    ``ca`` signed the broker's certificate (for 127.0.0.1) and a client's; ``other-ca``
    is unrelated; ``bare-ca`` lacks keyUsage and signed ``bare-server``. Only options that
    OpenSSL 1.1.1 (Debian Bullseye) also knows are used.

    Made once for the module: six RSA keys cost about 1.5 s, and no test writes to them
    (each test starts its own broker on its own ports with these files, read-only).
    """
    return make_pki(
        tmp_path_factory.mktemp("pki"),
        [("ca", "proper_ca"), ("other-ca", "proper_ca"), ("bare-ca", "bare_ca")],
        [
            ("server", "/CN=127.0.0.1", "ca", "server"),
            ("bare-server", "/CN=127.0.0.1", "bare-ca", "server"),
            ("client", "/CN=dev-1", "ca", "client"),
        ],
    )


def _tls_broker(
    mosquitto_only, certificates: dict[str, Path], extra: str = "", server: str = "server", ca: str = "ca"
) -> tuple[int, int]:
    tls_port = free_port()
    broker = mosquitto_only(
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {certificates[ca + '.pem']}\n"
        f"certfile {certificates[server + '.pem']}\n"
        f"keyfile {certificates[server + '.key']}\n" + extra
    )
    return broker.port, tls_port


def test_tls_with_the_right_ca_connects(
    mosquitto_only, certificates, tmp_path: Path, start_agent, watch
) -> None:
    plain_port, tls_port = _tls_broker(mosquitto_only, certificates)
    watcher = watch(plain_port, [STATUS])
    start_agent(
        agent_config(tmp_path, tls_port, mqtt_extra=f'tls = true\nca_file = "{certificates["ca.pem"]}"')
    )
    watcher.wait_last(STATUS, b"online")


def test_tls_with_a_wrong_ca_is_refused_with_a_clear_error_and_never_downgraded(
    mosquitto_only, certificates, tmp_path: Path, start_agent, watch
) -> None:
    plain_port, tls_port = _tls_broker(mosquitto_only, certificates)
    watcher = watch(plain_port, [STATUS])
    agent = start_agent(
        agent_config(tmp_path, tls_port, mqtt_extra=f'tls = true\nca_file = "{certificates["other-ca.pem"]}"')
    )
    log = agent.wait_log(f"TLS verification of the broker 127.0.0.1:{tls_port} failed: ")
    # OpenSSL's own reason, in 3.x's words or 1.1.1's (Debian Bullseye, Python 3.9)
    assert re.search(r"self[- ]signed certificate in certificate chain", log), log
    agent.wait_log("retrying")  # it keeps trying (the broker's certificate may be fixed), never in clear
    assert watcher.last(STATUS) is None
    assert "connected to the broker" not in agent.text()


def test_a_ca_without_key_usage_is_refused_under_strict_checks_with_the_cause_and_the_fix(
    mosquitto_only, certificates, tmp_path: Path, start_agent, watch
) -> None:
    """Python 3.13's default; forced here with tls_strict = true so every Python shows it."""
    plain_port, tls_port = _tls_broker(mosquitto_only, certificates, server="bare-server", ca="bare-ca")
    watcher = watch(plain_port, [STATUS])
    extra = f'tls = true\nca_file = "{certificates["bare-ca.pem"]}"\ntls_strict = true'
    agent = start_agent(agent_config(tmp_path, tls_port, mqtt_extra=extra))
    log = agent.wait_log("retrying")
    assert f"TLS verification of the broker 127.0.0.1:{tls_port} failed: " in log
    assert "CA cert does not include key usage extension" in log  # OpenSSL's words
    assert "the CA certificate has no keyUsage extension" in log  # the cause
    assert "VERIFY_X509_STRICT, on by default from Python 3.13" in log
    assert "re-issue the CA with keyUsage = critical, keyCertSign, cRLSign" in log  # the fix
    assert "basicConstraints = critical, CA:TRUE" in log
    assert "tls_strict = false" in log  # and the way out
    assert watcher.last(STATUS) is None


def test_tls_strict_false_accepts_a_ca_without_key_usage_and_still_verifies_it(
    mosquitto_only, certificates, tmp_path: Path, start_agent, watch
) -> None:
    plain_port, tls_port = _tls_broker(mosquitto_only, certificates, server="bare-server", ca="bare-ca")
    watcher = watch(plain_port, ["edge/+/status"])
    lenient = f'tls = true\nca_file = "{certificates["bare-ca.pem"]}"\ntls_strict = false'
    start_agent(agent_config(tmp_path, tls_port, device_id="dev-1", mqtt_extra=lenient))
    watcher.wait_last(STATUS, b"online")
    wrong = f'tls = true\nca_file = "{certificates["other-ca.pem"]}"\ntls_strict = false'
    stranger = start_agent(agent_config(tmp_path, tls_port, device_id="dev-2", mqtt_extra=wrong))
    log = stranger.wait_log("retrying")  # the chain is still checked ...
    refusal = log[log.index("TLS verification of the broker") :].splitlines()[0]
    assert "certificate" in refusal and "tls_strict" not in refusal  # ... and no strict hint misleads
    assert watcher.last("edge/dev-2/status") is None


def test_tls_insecure_connects_to_a_broker_it_cannot_verify_only_when_asked(
    mosquitto_only, certificates, tmp_path: Path, start_agent, watch
) -> None:
    plain_port, tls_port = _tls_broker(mosquitto_only, certificates)
    watcher = watch(plain_port, [STATUS])
    extra = f'tls = true\nca_file = "{certificates["other-ca.pem"]}"\ntls_insecure = true'
    start_agent(agent_config(tmp_path, tls_port, mqtt_extra=extra))
    watcher.wait_last(STATUS, b"online")


def test_a_broker_that_requires_a_client_certificate_accepts_the_configured_one(
    mosquitto_only, certificates, tmp_path: Path, start_agent, watch
) -> None:
    plain_port, tls_port = _tls_broker(mosquitto_only, certificates, "require_certificate true\n")
    watcher = watch(plain_port, ["edge/+/status"])
    ca = f'tls = true\nca_file = "{certificates["ca.pem"]}"'
    without = start_agent(agent_config(tmp_path, tls_port, device_id="no-cert", mqtt_extra=ca))
    client = f'\ncert_file = "{certificates["client.pem"]}"\nkey_file = "{certificates["client.key"]}"'
    start_agent(agent_config(tmp_path, tls_port, device_id="dev-1", mqtt_extra=ca + client))
    watcher.wait_last(STATUS, b"online")
    without.wait_log("retrying")
    assert watcher.last("edge/no-cert/status") is None


@pytest.fixture
def password_broker(mosquitto_only, tmp_path: Path):
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("mosquitto_passwd is not installed")
    users = tmp_path / "users"
    subprocess.run([passwd, "-c", "-b", str(users), "device", "s3cret pass"], check=True, capture_output=True)
    subprocess.run([passwd, "-b", str(users), "watcher", "w"], check=True, capture_output=True)
    return mosquitto_only(f"allow_anonymous false\npassword_file {users}\n")


def test_the_password_can_come_from_a_file(password_broker, tmp_path: Path, start_agent, watch) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret pass\n")
    watcher = watch(password_broker.port, [STATUS], username="watcher", password="w")
    extra = f'username = "device"\npassword_file = "{secret}"'
    start_agent(agent_config(tmp_path, password_broker.port, mqtt_extra=extra))
    watcher.wait_last(STATUS, b"online")


def test_a_wrong_password_is_refused_with_the_brokers_reason(
    password_broker, tmp_path: Path, start_agent, watch, monkeypatch
) -> None:
    watcher = watch(password_broker.port, [STATUS], username="watcher", password="w")
    monkeypatch.setenv("EDGE_TEST_MQTT_PASSWORD", "wrong")
    extra = 'username = "device"\npassword_env = "EDGE_TEST_MQTT_PASSWORD"'
    agent = start_agent(agent_config(tmp_path, password_broker.port, mqtt_extra=extra))
    log = agent.wait_log("refused the connection")
    assert "Not authorized" in log or "not authorised" in log.lower()
    assert watcher.last(STATUS) is None

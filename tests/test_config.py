"""The config file: the reference parses, every key is documented, and mistakes are explained."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import Config, load_config
from edge_agent.config.heartbeats import AiBoxConfig, PubNubConfig, TelecomXConfig, XyteConfig, YeastarConfig
from edge_agent.config.sections import ActionsConfig, DeviceConfig, MetricsConfig, MqttConfig, StorageConfig
from edge_agent.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "conf" / "edge-agent.toml"
REFERENCE_ENV = {"TELECOMX_TOKEN": "t0k3n", "XYTE_HARDWARE_KEY": "hw", "YEASTAR_PASSWORD": "pw"}


def run_cli(*args: str, env: Any = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, env=env, timeout=60
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge-agent.toml"
    path.write_text(text)
    return path


def test_the_reference_config_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REFERENCE_ENV.items():
        monkeypatch.setenv(name, value)
    config = load_config(REFERENCE)
    assert config.device.id == "pi-lobby"
    assert {hb.vendor for hb in config.heartbeats.values()} == {
        "telecomx",
        "xyte",
        "aibox",
        "yeastar",
        "pubnub",
    }
    assert config.heartbeats["iptv"].token.get_secret_value() == "t0k3n"  # type: ignore[union-attr]
    assert config.heartbeats["presence"].interval == 149.0


def _documented_keys(text: str) -> dict[str, set[str]]:
    """Keys written (or shown commented out) under each table header of the reference."""
    keys: dict[str, set[str]] = {}
    table = ""
    for line in text.splitlines():
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            table = header.group(1)
            continue
        key = re.match(r"^#?\s?([a-z_0-9]+) = ", line)
        if key:
            keys.setdefault(table, set()).add(key.group(1))
    return keys


SECRET_SPELLINGS = {"token", "password", "hardware_key", "secret_key", "auth_key", "mqtt_secret"}


def _normalised(keys: set[str]) -> set[str]:
    return {
        re.sub(r"_(file|env)$", "", key) if re.sub(r"_(file|env)$", "", key) in SECRET_SPELLINGS else key
        for key in keys
    }


@pytest.mark.parametrize(
    ("table", "model"),
    [
        ("device", DeviceConfig),
        ("metrics", MetricsConfig),
        ("mqtt", MqttConfig),
        ("storage", StorageConfig),
        ("actions", ActionsConfig),
        ("heartbeats.iptv", TelecomXConfig),
        ("heartbeats.hub", XyteConfig),
        ("heartbeats.camera", AiBoxConfig),
        ("heartbeats.pbx", YeastarConfig),
        ("heartbeats.presence", PubNubConfig),
    ],
)
def test_every_option_is_documented_in_the_reference(table: str, model: Any) -> None:
    documented = _normalised(_documented_keys(REFERENCE.read_text()).get(table, set()))
    if table == "actions":
        documented.add("commands")  # its own [actions.commands] table
    common = {
        "enabled",
        "timeout",
        "backoff_initial",
        "backoff_max",
        "forbidden_backoff",
        "max_response_bytes",
        "tls_insecure",
        "ca_file",
    }
    if table.startswith("heartbeats.") and table != "heartbeats.iptv":
        documented |= common  # documented once, on the first endpoint
    assert set(model.model_fields) - documented == set()


def test_a_three_line_config_works(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[device]\nid = "pi-1"\n[mqtt]\n'))
    assert config.mqtt is not None and config.mqtt.port == 1883 and config.mqtt.topic_prefix == "edge"
    assert config.metrics.interval == 30 and config.heartbeats == {}


def test_an_empty_config_uses_the_hostname_and_no_broker(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.device.id and config.mqtt is None


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.problems


def test_an_error_names_file_key_reason_and_line(tmp_path: Path) -> None:
    text = '[device]\nid = "a"\n\n[heartbeats.lobby]\nvendor = "telecomx"\ntoken = "x"\ninterval = -5\n'
    (problem,) = problems_of(tmp_path, text)
    assert str(tmp_path / "edge-agent.toml") in problem
    assert "heartbeats.lobby.interval" in problem
    assert "greater than 0" in problem
    assert "(line 7)" in problem


def test_an_unknown_key_is_an_error_not_a_default(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "[mqtt]\nhost = 'b'\nprot = 1884\n")
    assert "mqtt.prot" in problem and "unknown key" in problem and "(line 3)" in problem


def test_an_unknown_vendor_lists_the_known_ones(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[heartbeats.x]\nvendor = "acme"\n')
    assert "heartbeats.x" in problem and "telecomx, xyte, aibox, yeastar, pubnub" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "[metrics]\ninterval = 0\nrtt_targets = ['nohost']\n[mqtt]\nqos = 3\n")
    assert len(problems) == 3


def test_invalid_toml_gives_the_line(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "[device\nid = 1\n")
    assert "invalid TOML" in problem and "line 1" in problem


def test_secrets_come_from_a_file_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("HUB_KEY", "from-env")
    config = load_config(
        write(
            tmp_path,
            (
                '[heartbeats.iptv]\nvendor = "telecomx"\ntoken_file = "token"\n'
                '[heartbeats.hub]\nvendor = "xyte"\nhardware_key_env = "HUB_KEY"\nsn = "1"\nmac = "m"\n'
                'firmware_version = "1.0.0"\n'
            ),
        )
    )
    assert config.heartbeats["iptv"].token.get_secret_value() == "from-file"  # type: ignore[union-attr]
    assert config.heartbeats["hub"].hardware_key.get_secret_value() == "from-env"  # type: ignore[union-attr]
    assert "from-file" not in repr(config) and "from-env" not in repr(config)


def test_a_secret_given_twice_is_an_error(tmp_path: Path) -> None:
    (problem,) = problems_of(
        tmp_path, '[heartbeats.iptv]\nvendor = "telecomx"\ntoken = "a"\ntoken_env = "B"\n'
    )
    assert "token" in problem and "only one" in problem


def test_a_missing_secret_file_names_it(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[heartbeats.iptv]\nvendor = "telecomx"\ntoken_file = "nope"\n')
    assert "token_file" in problem and "nope" in problem


def test_host_root_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_AGENT_HOST_ROOT", str(tmp_path))
    assert Config().metrics.host_root == tmp_path


def test_check_exits_0_for_a_valid_file() -> None:
    import os

    result = run_cli("check", "-c", str(REFERENCE), env={**os.environ, **REFERENCE_ENV})
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_check_exits_2_with_every_error_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "[mqtt]\nport = 99999\n[metrics]\nintervall = 3\n")
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 2
    assert "mqtt.port" in result.stderr and "metrics.intervall" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_is_printed() -> None:
    from edge_agent import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout

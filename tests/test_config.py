"""The config file: the reference parses, every key is documented, and mistakes are explained."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import Config, load_config
from edge_agent.config.heartbeats import MODELS, VENDOR_NAMES
from edge_agent.config.sections import ActionsConfig, DeviceConfig, MetricsConfig, MqttConfig, StorageConfig
from edge_agent.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "conf" / "edge-agent.toml"
REFERENCE_ENV = {"TELECOMX_TOKEN": "t0k3n", "XYTE_HARDWARE_KEY": "hw", "YEASTAR_PASSWORD": "pw"}
# every other secret the reference reads from the environment (a new vendor's) gets a stand-in
REFERENCE_ENV.update(
    {name: "x" for name in re.findall(r'^[a-z_]+_env = "([A-Z0-9_]+)"', REFERENCE.read_text(), re.M)}
    | REFERENCE_ENV
)


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
    assert {hb.vendor for hb in config.heartbeats.values()} == set(VENDOR_NAMES), (
        "a vendor without a table here"
    )
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


SECRET_SPELLINGS = {"mqtt_secret"} | {name for model in MODELS.values() for name in model.secret_fields}


def _vendor_tables(text: str) -> dict[str, str]:
    """vendor name -> the ``[heartbeats.<name>]`` table of the reference that shows it."""
    found = re.findall(r'^\[(heartbeats\.[^\]]+)\]\nvendor = "([a-z0-9]+)"', text, flags=re.M)
    return {vendor: table for table, vendor in found}


VENDOR_TABLES = _vendor_tables(REFERENCE.read_text())


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
        *(
            (VENDOR_TABLES.get(vendor, f"heartbeats.<no table for {vendor}>"), model)
            for vendor, model in MODELS.items()
        ),
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
    assert "heartbeats.x" in problem and ", ".join(VENDOR_NAMES) in problem


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


# -- strict types: TOML says what a value is, and the config does not guess -------------------


def test_a_number_written_as_a_string_is_an_error_naming_key_and_line(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[mqtt]\nhost = "b"\nport = "1883"\n')
    assert str(tmp_path / "edge-agent.toml") in problem
    assert "mqtt.port:" in problem and "(line 3)" in problem
    assert 'expected an integer, got the string "1883"' in problem and "without quotes" in problem


def test_a_boolean_written_as_a_string_is_an_error(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[mqtt]\ntls = "yes"\n')
    assert "mqtt.tls:" in problem and "(line 2)" in problem
    assert 'expected true or false, got the string "yes"' in problem


@pytest.mark.parametrize(
    ("text", "key", "line", "reason"),
    [
        ('[metrics]\ninterval = "30"\n', "metrics.interval", 2, 'expected a number, got the string "30"'),
        ("[mqtt]\nkeepalive = 60.0\n", "mqtt.keepalive", 2, "expected an integer, got the float 60.0"),
        ("[mqtt]\nqos = true\n", "mqtt.qos", 2, "got the boolean true"),
        ("[actions]\ndry_run = 1\n", "actions.dry_run", 2, "expected true or false, got the integer 1"),
        ('[actions]\nallow = "MESSAGE"\n', "actions.allow", 2, "expected an array"),
        ("[storage]\npath = 5\n", "storage.path", 2, "got the integer 5"),
        ("[device]\nid = 7\n", "device.id", 2, "expected a string in quotes, got the integer 7"),
        (
            '[heartbeats.iptv]\nvendor = "telecomx"\ntoken = "t"\nno_events = "false"\n',
            "heartbeats.iptv.no_events",
            4,
            'got the string "false" (write false without quotes)',
        ),
        (
            '[heartbeats.pbx]\nvendor = "yeastar"\nurl = "https://pbx:8088"\nusername = "api"\n'
            'password = "p"\nreport_ip = "192.0.2.1"\nreport_port = "8260"\n',
            "heartbeats.pbx.report_port",
            7,
            "expected an integer",
        ),
    ],
)
def test_toml_types_are_not_coerced(tmp_path: Path, text: str, key: str, line: int, reason: str) -> None:
    (problem,) = problems_of(tmp_path, text)
    assert f"{key}:" in problem and f"(line {line})" in problem and reason in problem, problem


def test_a_toml_integer_is_a_fine_float(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "[metrics]\ninterval = 10\n[mqtt]\nreconnect_min = 1\n"
            '[heartbeats.iptv]\nvendor = "telecomx"\ntoken = "t"\ninterval = 60\ntimeout = 5\n'
            "[actions]\ntimeouts = { VIDEO = 3600 }\n",
        )
    )
    assert config.metrics.interval == 10.0 and isinstance(config.metrics.interval, float)
    assert config.heartbeats["iptv"].interval == 60.0
    assert config.actions.timeouts == {"VIDEO": 3600.0}


# -- action types: only known ones, with the closest suggested ---------------------------------


def test_an_unknown_action_type_in_allow_lists_the_valid_ones_and_suggests_one(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[device]\nid = "a"\n[actions]\nallow = ["MESAGE", "VIDEO"]\n')
    assert "actions.allow:" in problem and "(line 4)" in problem
    assert "'MESAGE'" in problem and "did you mean 'MESSAGE'?" in problem
    assert "DUMP, MESSAGE, REBOOT, START_APP, UPDATE_APP, UPDATE_FIRMWARE, VIDEO" in problem


def test_an_unknown_action_type_in_timeouts_is_an_error(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "[actions]\ntimeout = 60\ntimeouts = { VIDOE = 3600 }\n")
    assert "actions.timeouts:" in problem and "(line 3)" in problem
    assert "did you mean 'VIDEO'?" in problem


def test_a_misspelt_built_in_in_commands_points_at_its_own_line(tmp_path: Path) -> None:
    text = (
        '[actions]\nallow = ["MESSAGE"]\n\n[actions.commands]\nVIDEO = ["cvlc", "{video}"]\nMESAGE = ["x"]\n'
    )
    (problem,) = problems_of(tmp_path, text)
    assert "actions.commands.MESAGE:" in problem and "(line 6)" in problem
    assert "did you mean 'MESSAGE'?" in problem and "allow" in problem


def test_a_variant_that_does_not_exist_is_an_error_on_its_line(tmp_path: Path) -> None:
    text = '[actions.commands]\nMESSAGE = ["a", "{message}"]\n"MESSAGE/LOUD" = ["b", "{message}"]\n'
    (problem,) = problems_of(tmp_path, text)
    assert "actions.commands.MESSAGE/LOUD:" in problem and "(line 3)" in problem
    assert "MESSAGE/READ, MESSAGE/SOUND" in problem


def test_custom_commands_stay_valid_allowed_or_not(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[actions]\nallow = ["MESSAGE", "backup"]\ntimeouts = { BACKUP = 600 }\n'
            '[actions.commands]\nBACKUP = ["backup-job"]\nRESTART_PLAYER = ["systemctl", "restart", "p"]\n'
            '"MESSAGE/SOUND" = ["beep", "{message}"]\n',
        )
    )
    assert set(config.actions.commands) == {"BACKUP", "RESTART_PLAYER", "MESSAGE/SOUND"}


def test_allowing_a_custom_type_without_a_command_is_an_error(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[actions]\nallow = ["BACKUP"]\n')
    assert "actions.allow:" in problem and "'BACKUP' is not a known action type" in problem
    assert "custom command defined in [actions.commands]" in problem


def test_the_config_knows_the_action_types_the_schema_knows() -> None:
    from edge_agent.actions.schema import FIELDS, normalise_type
    from edge_agent.config.checks import BUILTIN_ACTION_TYPES, normalise_action_type

    assert set(BUILTIN_ACTION_TYPES) == set(FIELDS)
    for name in ("message", "restart-player", "Update.Firmware", "x_1"):
        assert normalise_action_type(name) == normalise_type(name)


# -- URLs and hosts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "value", "reason"),
    [
        ('vendor = "telecomx"\ntoken = "t"', "url", "htp://api.example.com/hb", "did you mean 'http'?"),
        ('vendor = "telecomx"\ntoken = "t"', "url", "https:///hb", "has no host"),
        ('vendor = "telecomx"\ntoken = "t"', "url", "ftp://api.example.com/hb", "http:// or https://"),
        ('vendor = "aibox"\nserial_number = "S"', "url", "platform.example.com/event", "has no scheme"),
        (
            'vendor = "pubnub"\nsubscribe_key = "s"\nchannels = ["c"]',
            "origin",
            "ps.pndsn.com",
            "has no scheme",
        ),
        (
            'vendor = "xyte"\nhardware_key = "k"\nsn = "1"\nmac = "m"\nfirmware_version = "1.0.0"',
            "entry_url",
            "https://entry.xyte.io:99999",
            "not a valid URL",
        ),
    ],
)
def test_a_vendor_url_needs_http_or_https_and_a_host(
    tmp_path: Path, table: str, key: str, value: str, reason: str
) -> None:
    text = f'[heartbeats.ep]\n{table}\n{key} = "{value}"\n'
    line = text.count("\n")
    (problem,) = problems_of(tmp_path, text)
    assert f"heartbeats.ep.{key}:" in problem and f"(line {line})" in problem and reason in problem, problem


def test_an_mqtt_host_is_not_a_url(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[mqtt]\nhost = "mqtt://broker.lan"\n')
    assert "mqtt.host:" in problem and "(line 2)" in problem and "is a URL" in problem


# -- secret files: the error is on the key's own line ---------------------------------------------


def test_a_missing_secret_file_points_at_its_key_not_the_table(tmp_path: Path) -> None:
    text = '[heartbeats.iptv]\nvendor = "telecomx"\ninterval = 60\ntoken_file = "nope"\n'
    (problem,) = problems_of(tmp_path, text)
    assert "heartbeats.iptv.token_file:" in problem and "(line 4)" in problem
    assert str(tmp_path / "nope") in problem and "No such file" in problem


def test_an_unset_secret_variable_points_at_its_key(tmp_path: Path) -> None:
    text = '[mqtt]\nusername = "u"\npassword_env = "EDGE_AGENT_TEST_UNSET_VARIABLE"\n'
    (problem,) = problems_of(tmp_path, text)
    assert "mqtt.password_env:" in problem and "(line 3)" in problem and "not set" in problem


def test_an_oversized_secret_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    text = '[heartbeats.iptv]\nvendor = "telecomx"\ntoken_file = "/dev/zero"\n'
    (problem,) = problems_of(tmp_path, text)
    assert "heartbeats.iptv.token_file:" in problem and "(line 3)" in problem and "larger than" in problem


# -- check: the paths the config names are usable, and nothing is created to find out ----------


def test_check_refuses_a_store_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    store = tmp_path / "a-file" / "state" / "edge-agent.db"
    path = write(tmp_path, f'[device]\nid = "a"\n\n[storage]\npath = "{store}"\n')
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 2
    assert f"{path}: storage.path:" in result.stderr and "(line 5)" in result.stderr
    assert "is a file, not a folder" in result.stderr


def check_as_nobody(config: Path) -> tuple[int, str]:
    """``edge-agent check`` in a child that has dropped root, so permissions mean something."""
    import os

    from edge_agent.cli import build_parser, main

    build_parser()  # import every subcommand now: the child cannot read a Python under /root
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            sys.stdout = sys.stderr = os.fdopen(write_end, "w", encoding="utf-8")
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = main(["check", "-c", str(config)])
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as reader:
        output = reader.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


def test_check_refuses_a_store_folder_this_user_cannot_write() -> None:
    import os
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="edge-agent-check-"))
    try:
        folder.chmod(0o755)  # readable (the config) but not writable by others
        path = folder / "edge-agent.toml"
        path.write_text(f'[device]\nid = "a"\n[storage]\npath = "{folder / "state" / "x.db"}"\n')
        path.chmod(0o644)
        if os.geteuid() == 0:
            code, output = check_as_nobody(path)
        else:
            folder.chmod(0o555)
            result = run_cli("check", "-c", str(path))
            code, output = result.returncode, result.stderr
        assert code == 2, output
        assert f"{path}: storage.path:" in output and "(line 4)" in output
        assert "cannot be created" in output and f"cannot write in '{folder}'" in output
        assert not (folder / "state").exists()
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_check_names_a_missing_ca_file_on_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, f'[mqtt]\nhost = "b"\ntls = true\nca_file = "ca.pem"\n[storage]\npath = "{tmp_path}/x.db"\n'
    )
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 2
    assert f"{path}: mqtt.ca_file:" in result.stderr and "(line 4)" in result.stderr
    assert f"'{tmp_path / 'ca.pem'}' does not exist" in result.stderr


def test_check_passes_and_creates_nothing_for_a_store_still_to_be_made(tmp_path: Path) -> None:
    store = tmp_path / "new" / "deeper" / "edge-agent.db"
    path = write(tmp_path, f'[storage]\npath = "{store}"\n')
    result = run_cli("check", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "new").exists()


# -- global options, before or after the subcommand --------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--log-level", "info", "check"],
        ["check", "--log-level", "info"],
        ["check", "--log-json"],
        ["--log-json", "check", "--log-level", "debug"],
    ],
)
def test_global_options_work_before_or_after_the_subcommand(tmp_path: Path, args: list[str]) -> None:
    path = write(tmp_path, f'[storage]\npath = "{tmp_path}/x.db"\n')
    result = run_cli(*args, "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_an_option_after_the_subcommand_wins_over_the_same_before_it() -> None:
    from edge_agent.cli import build_parser

    args = build_parser().parse_args(["--log-level", "error", "check", "--log-level", "debug"])
    assert args.log_level == "debug"
    args = build_parser().parse_args(["--log-level", "error", "check"])
    assert args.log_level == "error", "a subcommand's own default must not reset the global option"


# -- run: one start line at the default level ---------------------------------------------------


def test_run_logs_one_start_line_at_the_default_level(tmp_path: Path) -> None:
    import os
    import queue
    import signal
    import threading

    path = write(
        tmp_path,
        f'[device]\nid = "pi-start"\n[metrics]\ninterval = 3600\n[storage]\npath = "{tmp_path}/x.db"\n'
        '[heartbeats.iptv]\nvendor = "telecomx"\nurl = "http://127.0.0.1:9/hb"\ntoken = "sekret-token"\n'
        "enabled = false\n",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "-c", str(path)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EDGE_AGENT_CONFIG": ""},
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True)  # type: ignore[union-attr]
    reader.start()
    seen: list[str] = []
    try:
        while not any("starting" in line for line in seen):
            seen.append(lines.get(timeout=30))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get())
    (start,) = [line for line in seen if "starting" in line]
    from edge_agent import __version__

    assert "INFO edge_agent.run" in start
    assert f"edge-agent {__version__} starting" in start and "device pi-start" in start
    assert "no broker" in start and "heartbeats: iptv (telecomx, disabled)" in start
    assert "sekret-token" not in "".join(seen)


def test_run_start_line_names_the_broker(tmp_path: Path) -> None:
    from edge_agent.cli.run import describe

    config = load_config(
        write(tmp_path, '[device]\nid = "d"\n[mqtt]\nhost = "broker.lan"\nport = 8883\ntls = true\n')
    )
    line = describe(config, tmp_path / "edge-agent.toml")
    assert "device d; broker broker.lan:8883 (TLS), prefix edge; heartbeats: none" in line


def test_run_refuses_a_store_it_cannot_create_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    path = write(tmp_path, f'[device]\nid = "a"\n[storage]\npath = "{tmp_path / "a-file" / "x.db"}"\n')
    result = run_cli("run", "-c", str(path))
    assert result.returncode == 2, result.stderr
    assert f"{path}: storage.path:" in result.stderr and "(line 4)" in result.stderr
    assert "is a file, not a folder" in result.stderr and "Traceback" not in result.stderr


def test_check_says_when_the_unusable_store_is_the_default(tmp_path: Path) -> None:
    import os

    (tmp_path / "state-file").write_text("")
    path = write(tmp_path, '[device]\nid = "a"\n[storage]\noutbox_max = 100\n')
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state-file"), "STATE_DIRECTORY": ""}
    result = run_cli("check", "-c", str(path), env=env)
    assert result.returncode == 2
    assert f"{path}: storage.path:" in result.stderr and "(not set: the default)" in result.stderr
    assert "(line" not in result.stderr


def test_an_allowed_url_scheme_is_a_scheme_not_a_prefix(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, '[actions]\nallowed_url_schemes = ["https", "rtsp://"]\n')
    assert "actions.allowed_url_schemes:" in problem and "(line 2)" in problem
    assert "'rtsp://' is not a URL scheme" in problem

"""``edge-agent run`` reuses the config it validated at an earlier start, and only then (issue 15).

Each test starts ``run`` in a fresh interpreter, as the command runs, with the agent itself
replaced by a report of what it was given (the config's values, and whether pydantic was
ever imported) and the lean exec left out, so that a run that validated (pydantic loaded)
is told from one that reused the cache (never loaded). One test runs the real agent.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.cli import status_or_empty
from support.waiting import wait_until

import edge_agent

TOKEN = "cache-token-not-for-logs-5e1b"

PROBE = """
import json, sys
import edge_agent.cli.run as run

async def report(config, path, words=None):
    token = config.heartbeats["iptv"].token if config.heartbeats else None
    print("REPORT " + json.dumps({
        "pydantic": any(name.split(".")[0] in ("pydantic", "pydantic_core") for name in sys.modules),
        "device": config.device.id,
        "host_root": str(config.metrics.host_root),
        "store": str(config.storage.path),
        "token": token.get_secret_value() if token is not None else None,
        "ssl": repr(sys.modules.get("ssl", "absent")),
    }))

run._run = report
run._run_lean = lambda data, words: None
from edge_agent.cli import main
sys.exit(main())
"""


class Run:
    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.code = result.returncode
        self.stderr = result.stderr
        lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
        self.report: dict[str, Any] = json.loads(lines[-1][len("REPORT ") :]) if lines else {}

    @property
    def validated(self) -> bool:
        assert self.code == 0, self.stderr
        return bool(self.report["pydantic"])


class World:
    """One config file, its cache folder and the environment ``run`` is started with."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.cache = tmp_path / "cache"
        self.config = tmp_path / "etc" / "edge-agent.toml"
        self.config.parent.mkdir()
        self.env = {
            **os.environ,
            "XDG_CACHE_HOME": str(self.cache),
            "HOME": str(tmp_path / "home"),
            "EDGE_AGENT_LEAN": "1",
        }
        for name in ("CACHE_DIRECTORY", "STATE_DIRECTORY", "XDG_STATE_HOME", "EDGE_AGENT_HOST_ROOT"):
            self.env.pop(name, None)
        self.write()

    def write(
        self, device: str = "cache-1", heartbeat: str = f'token = "{TOKEN}"', storage: bool = True
    ) -> None:
        store = f'[storage]\npath = "{self.tmp / "agent.db"}"\n' if storage else ""
        self.config.write_text(
            f'[device]\nid = "{device}"\n\n{store}\n'
            f'[heartbeats.iptv]\nvendor = "telecomx"\nurl = "http://127.0.0.1:9/hb"\n{heartbeat}\n'
        )
        self.config.chmod(0o600)

    def run(self, *extra: str, **env: str) -> Run:
        result = subprocess.run(
            [sys.executable, "-c", PROBE, "--log-level", "debug", "run", "-c", str(self.config), *extra],
            capture_output=True,
            text=True,
            timeout=60,
            env={**self.env, **env},
        )
        return Run(result)

    def entries(self) -> list[Path]:
        folder = self.cache / "edge-agent"
        return sorted(folder.glob("config-*")) if folder.is_dir() else []

    def entry(self) -> Path:
        entries = self.entries()
        assert len(entries) == 1, entries
        return entries[0]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_second_run_of_the_same_config_never_imports_pydantic(world: World) -> None:
    first = world.run()
    assert first.validated and first.report["token"] == TOKEN
    entry = world.entry()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    second = world.run()
    assert not second.validated
    assert second.report == {**first.report, "pydantic": False}
    assert "not validated again" in second.stderr
    assert TOKEN.encode() not in entry.read_bytes().split(b"\n")[1]  # the manifest: digests only


def test_a_hit_with_no_tls_leaves_openssl_out_as_the_handed_over_run_does(world: World) -> None:
    world.config.write_text(
        '[device]\nid = "no-tls"\n\n[storage]\npath = "' + str(world.tmp / "a.db") + '"\n'
    )
    assert world.run().validated
    second = world.run()
    assert not second.validated and second.report["ssl"] == "None"


def change_config(world: World, env: dict[str, str]) -> str:
    world.write(device="cache-2")
    return "cache-2"


def change_secret_file(world: World, env: dict[str, str]) -> str:
    (world.tmp / "etc" / "token").write_text("second-token\n")
    return "second-token"


def change_secret_variable(world: World, env: dict[str, str]) -> str:
    env["IPTV_TOKEN"] = "third-token"
    return "third-token"


def change_host_root(world: World, env: dict[str, str]) -> str:
    other = world.tmp / "other-root"
    other.mkdir()
    env["EDGE_AGENT_HOST_ROOT"] = str(other)
    return str(other)


def change_state_directory(world: World, env: dict[str, str]) -> str:
    state = world.tmp / "state"
    state.mkdir()
    env["STATE_DIRECTORY"] = str(state)
    return str(state / "edge-agent.db")


def change_home(world: World, env: dict[str, str]) -> str:
    home = world.tmp / "home2"
    home.mkdir()
    env["HOME"] = str(home)
    return str(home / ".local" / "state" / "edge-agent" / "edge-agent.db")


# what the first run's config says, the change, and the report field the change shows in
CHANGES = {
    "the config file's bytes": ({}, change_config, "device"),
    "a secret file's content": ({"heartbeat": 'token_file = "token"'}, change_secret_file, "token"),
    "a *_env variable's value": ({"heartbeat": 'token_env = "IPTV_TOKEN"'}, change_secret_variable, "token"),
    "EDGE_AGENT_HOST_ROOT": ({}, change_host_root, "host_root"),
    "STATE_DIRECTORY": ({"storage": False}, change_state_directory, "store"),
    "HOME": ({"storage": False}, change_home, "store"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_to_anything_validation_read_is_validated_again(world: World, change: str) -> None:
    config, make_change, field = CHANGES[change]
    world.write(**config)  # type: ignore[arg-type]
    (world.tmp / "etc" / "token").write_text("first-token\n")
    env = {"IPTV_TOKEN": "first-token"}
    assert world.run(**env).validated
    assert not world.run(**env).validated  # cached
    expected = make_change(world, env)
    changed = world.run(**env)
    assert changed.validated, f"a change to {change} was not validated"
    assert changed.report[field] == expected
    again = world.run(**env)
    assert not again.validated and again.report == {**changed.report, "pydantic": False}


def test_a_change_to_the_code_is_validated_again(world: World) -> None:
    assert world.run().validated
    assert not world.run().validated
    source = Path(edge_agent.__file__).parent / "config" / "checks.py"
    before = source.stat()
    try:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        assert world.run().validated, "an edit of edge_agent's code was not noticed"
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_config_that_became_invalid_is_refused_though_an_old_entry_exists(world: World) -> None:
    assert world.run().validated
    world.config.write_text(world.config.read_text().replace('id = "cache-1"', 'id = "bad id!"'))
    refused = world.run()
    assert refused.code == 2 and "device.id" in refused.stderr and refused.report == {}


def test_an_invalid_config_is_never_kept(world: World) -> None:
    world.config.write_text('[device]\nid = "x"\nunknown = 1\n')
    assert world.run().code == 2
    assert world.entries() == []


def test_the_path_checks_run_on_a_hit(world: World) -> None:
    assert world.run().validated
    (world.tmp / "agent.db").mkdir()  # the store's path is now a folder
    refused = world.run()
    assert refused.code == 2 and "storage.path" in refused.stderr and refused.report == {}
    assert "not validated again" in refused.stderr  # the cached config, checked against the world now


def test_the_inline_secret_warning_is_given_on_a_hit(world: World) -> None:
    assert world.run().validated
    world.config.chmod(0o640)
    hit = world.run()
    assert not hit.validated
    assert "holds secrets inline (heartbeats.iptv.token)" in hit.stderr


def test_a_config_that_fails_the_path_checks_is_not_kept(world: World) -> None:
    (world.tmp / "agent.db").mkdir()
    assert world.run().code == 2
    assert world.entries() == []


def test_config_cache_zero_validates_every_time_and_keeps_nothing(world: World) -> None:
    assert world.run(EDGE_AGENT_CONFIG_CACHE="0").validated
    assert world.run(EDGE_AGENT_CONFIG_CACHE="0").validated
    assert world.entries() == []


def test_lean_zero_keeps_to_the_validating_interpreter(world: World) -> None:
    assert world.run().validated
    assert world.run(EDGE_AGENT_LEAN="0").validated


def rewrite_payload(entry: Path, payload: bytes) -> None:
    """Replace the pickled config of ``entry``, with a manifest that vouches for it."""
    head, manifest_line, _ = entry.read_bytes().split(b"\n", 2)
    manifest = json.loads(manifest_line)
    manifest["payload"] = {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    entry.write_bytes(head + b"\n" + json.dumps(manifest).encode() + b"\n" + payload)


class Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_an_entry_with_a_malicious_pickle_is_refused_without_running_it(world: World) -> None:
    assert world.run().validated
    marker = world.tmp / "pwned"
    rewrite_payload(world.entry(), pickle.dumps(Exploit(str(marker))))
    refused = world.run()
    assert refused.validated and not marker.exists()
    assert "is not part of a plain config" in refused.stderr
    assert not world.run().validated  # written again at the miss


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data.replace(b"edge-agent config cache 1", b"edge-agent config cache 0"),  # old format
        lambda data: data[:-20] + b"\x00" * 20,  # corrupt payload
        lambda data: b"",
    ],
    ids=["truncated", "another format", "corrupt", "empty"],
)
def test_a_damaged_entry_is_a_miss_and_is_written_again(world: World, damage: Any) -> None:
    assert world.run().validated
    entry = world.entry()
    entry.write_bytes(damage(entry.read_bytes()))
    assert world.run().validated
    assert not world.run().validated


def test_an_entry_open_to_its_group_is_ignored(world: World) -> None:
    assert world.run().validated
    world.entry().chmod(0o640)
    refused = world.run()
    assert refused.validated and "open to its group or others" in refused.stderr
    assert stat.S_IMODE(world.entry().stat().st_mode) == 0o600  # replaced by a private one


def test_a_cache_folder_open_to_others_is_not_read(world: World) -> None:
    assert world.run().validated
    world.entry().parent.chmod(0o755)
    assert world.run().validated  # refused; the folder is closed again when the entry is written
    assert stat.S_IMODE(world.entry().parent.stat().st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user takes root")
def test_an_entry_owned_by_another_user_is_ignored(world: World) -> None:
    assert world.run().validated
    os.chown(world.entry(), 65534, -1)
    refused = world.run()
    assert refused.validated and "belongs to uid 65534" in refused.stderr


def test_a_symlinked_entry_is_ignored(world: World) -> None:
    assert world.run().validated
    entry = world.entry()
    elsewhere = world.tmp / "elsewhere"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)
    refused = world.run()
    assert refused.validated and "is not used" in refused.stderr


def test_an_oversized_entry_is_ignored(world: World) -> None:
    assert world.run().validated
    entry = world.entry()
    entry.write_bytes(entry.read_bytes() + b"\x00" * (1 << 20))
    refused = world.run()
    assert refused.validated and "larger than" in refused.stderr


@pytest.mark.parametrize("where", ["under a file", "a read-only folder", "a read-only file system"])
def test_a_cache_folder_that_cannot_be_written_still_runs(world: World, where: str) -> None:
    blocker = world.tmp / "blocker"
    cache = blocker
    if where == "under a file":
        blocker.write_text("not a folder")
    elif where == "a read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes in a read-only folder (the file-system case covers root)")
        blocker.mkdir(mode=0o500)
    else:
        cache = Path("/proc")  # no one, root included, makes a folder there
    for _ in range(2):
        result = world.run(XDG_CACHE_HOME=str(cache))
        assert result.validated and result.report["device"] == "cache-1"
        assert "cannot keep the validated config" in result.stderr


def test_no_secret_reaches_the_log(world: World) -> None:
    world.write(heartbeat='token_env = "IPTV_TOKEN"')
    runs = [world.run(IPTV_TOKEN=TOKEN) for _ in range(2)]
    world.entry().chmod(0o644)
    runs.append(world.run(IPTV_TOKEN=TOKEN))
    runs.append(world.run(IPTV_TOKEN="changed-" + TOKEN))
    assert [run.validated for run in runs] == [True, False, True, True]
    for run in runs:
        assert TOKEN not in run.stderr


# -- the real agent ---------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no memfd_create on this platform")
def test_a_restarted_agent_runs_from_the_cache_without_pydantic(world: World) -> None:
    log = world.tmp / "agent.log"

    def running(agent: subprocess.Popen[bytes]) -> bool:
        return (status_or_empty(world.config).get("agent") or {}).get("pid") == agent.pid

    for start in ("first", "restart"):
        with open(log, "ab") as out:
            agent = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "--log-level", "info", "run", "-c", str(world.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=world.env,
            )
        try:
            wait_until(f"the {start} agent running", functools.partial(running, agent))
            maps = Path(f"/proc/{agent.pid}/maps").read_text()
            assert "pydantic" not in maps, f"pydantic is mapped into the {start} agent"
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=30) == 0
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    text = log.read_text(errors="replace")
    assert text.count("not validated again") == 1, text  # the restart, not the first start
    assert TOKEN not in text


METRICS_PROBE = """
import sys
from edge_agent.cli import main
code = main()
loaded = any(name.split(".")[0] in ("pydantic", "pydantic_core") for name in sys.modules)
print("PYDANTIC " + str(loaded), file=sys.stderr)
sys.exit(code)
"""


def metrics(world: World) -> tuple[subprocess.CompletedProcess[str], bool]:
    """``edge-agent metrics --json`` on the world's config, and whether it loaded pydantic."""
    result = subprocess.run(
        [sys.executable, "-c", METRICS_PROBE, "metrics", "--json", "-c", str(world.config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=world.env,
    )
    return result, "PYDANTIC True" in result.stderr


def test_metrics_reads_the_config_run_kept_without_pydantic(world: World) -> None:
    world.write(heartbeat='token = "x"\n\n[metrics]\napps = ["kodi"]')
    assert world.run().validated
    result, loaded = metrics(world)
    assert result.returncode == 0, result.stderr
    assert not loaded
    assert "kodi" in json.loads(result.stdout)["apps"]  # the kept [metrics] section, not defaults


def test_metrics_validates_and_keeps_the_config_when_nothing_is_kept(world: World) -> None:
    first, loaded_first = metrics(world)
    assert first.returncode == 0 and loaded_first
    assert len(world.entries()) == 1
    second, loaded_second = metrics(world)
    assert second.returncode == 0 and not loaded_second
    assert not world.run().validated  # run finds what metrics kept


def test_metrics_reports_a_config_that_became_invalid_though_an_entry_exists(world: World) -> None:
    assert metrics(world)[0].returncode == 0
    world.config.write_text('[device]\nid = "x"\nport = 1\n')
    result, _ = metrics(world)
    assert result.returncode == 2
    assert "device.port: unknown key" in result.stderr

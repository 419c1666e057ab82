"""The parts of the config cache, in-process: what validation notes, what an entry may hold.

The whole cache, through ``edge-agent run`` processes, is in ``test_config_cache_run.py``.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest

from edge_agent.config import load_config
from edge_agent.config.cache import ConfigCache, cache_folder
from edge_agent.config.permissions import inline_secret_keys, secret_names
from edge_agent.config.preflight import filesystem_problems
from edge_agent.config.sources import Reads, recording_environ, text_digest
from edge_agent.plain_config import dumps, loads, loads_restricted

SHIPPED = Path(__file__).resolve().parents[2] / "conf" / "edge-agent.toml"


def test_the_recording_environment_notes_every_way_a_variable_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.setenv("SET_ONE", "value")
    monkeypatch.delenv("UNSET_ONE", raising=False)
    reads = Reads()
    real = os.environ
    with recording_environ(reads):
        assert os.getenv("SET_ONE") == "value"
        assert os.environ.get("UNSET_ONE") is None
        assert Path("~/x").expanduser() == Path("/home/someone/x")
    assert os.environ is real
    assert reads.env == {
        "SET_ONE": text_digest("value"),
        "UNSET_ONE": None,
        "HOME": text_digest("/home/someone"),
    }
    assert reads.complete


def test_a_validation_that_reads_the_whole_environment_is_not_complete() -> None:
    reads = Reads()
    with recording_environ(reads):
        dict(os.environ)
    assert not reads.complete


def test_loading_with_reads_notes_the_config_its_secret_files_and_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_TEST_SECRET", "s3cret")
    (tmp_path / "key").write_text("hardware-key\n")
    config = tmp_path / "edge-agent.toml"
    config.write_text(
        '[mqtt]\nusername = "u"\npassword_env = "CACHE_TEST_SECRET"\n\n'
        '[heartbeats.x]\nvendor = "xyte"\nsn = "1"\nfirmware_version = "1"\nmac = "aa:bb"\n'
        'hardware_key_file = "key"\n'
    )
    reads = Reads()
    load_config(config, reads)
    assert set(reads.files) == {str(config), str(tmp_path / "key")}
    assert reads.env["CACHE_TEST_SECRET"] == text_digest("s3cret")
    assert "s3cret" not in repr(reads) and "hardware-key" not in repr(reads)


def test_an_entry_holds_only_the_plain_configs_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in re.findall(r'^\w+_env = "(\w+)"', SHIPPED.read_text(), re.MULTILINE):
        monkeypatch.setenv(variable, "x")
    data = dumps(load_config(SHIPPED))
    assert loads_restricted(data) == loads(data)  # every option the shipped file documents
    with pytest.raises(pickle.UnpicklingError):
        loads_restricted(pickle.dumps(os.system))
    with pytest.raises(pickle.UnpicklingError):
        loads_restricted(b"\x80\x05cposix\nsystem\n(S'true'\ntR.")


def test_the_path_checks_say_the_same_of_a_plain_config(tmp_path: Path) -> None:
    config = tmp_path / "edge-agent.toml"
    (tmp_path / "store").mkdir()
    config.write_text(f'[storage]\npath = "{tmp_path / "store"}"\n\n[metrics]\nhost_root = "/nonexistent"\n')
    validated = load_config(config)
    problems = filesystem_problems(validated, config)
    assert len(problems) == 2
    assert filesystem_problems(loads(dumps(validated)), config) == problems


def test_the_inline_secret_keys_are_the_same_with_the_names_the_cache_keeps() -> None:
    assert inline_secret_keys(SHIPPED, secret_names()) == inline_secret_keys(SHIPPED)


def test_the_cache_lives_where_systemd_then_xdg_then_home_say() -> None:
    assert cache_folder({"CACHE_DIRECTORY": "/var/cache/edge-agent", "HOME": "/h"}) == Path(
        "/var/cache/edge-agent"
    )
    assert cache_folder({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/edge-agent")
    assert cache_folder({"XDG_CACHE_HOME": "relative", "HOME": "/h"}) == Path("/h/.cache/edge-agent")
    assert cache_folder({"HOME": "/data/data/com.termux/files/home"}) == Path(
        "/data/data/com.termux/files/home/.cache/edge-agent"
    )
    assert ConfigCache.for_config(Path("/etc/x.toml"), {"EDGE_AGENT_CONFIG_CACHE": "0", "HOME": "/h"}) is None


def test_one_entry_per_config_path(tmp_path: Path) -> None:
    first = ConfigCache(tmp_path / "a.toml", tmp_path)
    assert ConfigCache(tmp_path / "a.toml", tmp_path).entry == first.entry
    assert ConfigCache(tmp_path / "b.toml", tmp_path).entry != first.entry


def pickled_path(module: bytes) -> bytes:
    """A pickle of ``PosixPath("/a")`` that names its class in ``module``."""
    return b"\x80\x04\x8c" + bytes([len(module)]) + module + b"\x94\x8c\tPosixPath\x94\x93\x8c\x02/a\x85R."


def test_paths_are_read_back_as_python_313_names_them() -> None:
    """Python 3.13 pickles ``PosixPath`` as ``pathlib._local.PosixPath``; another module is refused."""
    assert loads_restricted(pickled_path(b"pathlib")) == Path("/a")
    assert loads_restricted(pickled_path(b"pathlib._local")) == Path("/a")
    for module in (b"pathlib.evil", b"posixpath", b"os"):
        with pytest.raises(pickle.UnpicklingError):
            loads_restricted(pickled_path(module))

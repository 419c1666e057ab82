"""Marks the suites that start processes, brokers and whole agents as ``slow``.

The fast inner loop (``pytest -m "not slow"``, named in the README) is everything else: the
unit tests of each layer against fixture trees, fake programs, simulators and brokers
started for one in-process mirror. Marking by folder keeps the rule in one place: a new
test in one of these folders is slow without anyone having to remember the marker. The
few modules (or single tests, ``module::name``) outside them that are integration tests of
the same kind are named below, each with what makes it one; the full run
(``python -m pytest``) still runs them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

SLOW_FOLDERS = frozenset({"faults", "compat", "e2e", "fleet", "demo", "device"})
SLOW_TESTS = {
    "mqtt/test_mqtt_bridge_keepalive.py::test_an_idle_connection_is_pinged_and_stays_up": (
        "a real mosquitto and a 1 s keepalive: waits for three pings (about 3 s)"
    ),
    "mqtt/test_mqtt_bridge_keepalive.py::test_a_broker_that_stops_answering_is_noticed": (
        "a real mosquitto behind a forwarder that goes silent: waits out a keepalive (about 2 s)"
    ),
    "actions/test_action_once.py::test_a_reboot_across_a_sigkill_restart_runs_once": (
        "three runs of the harness agent process, the first killed with SIGKILL by its reboot"
    ),
    "actions/test_action_once.py::"
    "test_an_action_running_when_the_agent_died_is_reported_interrupted_not_rerun": (
        "three runs of the harness agent process, the first killed with SIGKILL mid-action"
    ),
    "lean/test_lean_run.py::test_the_running_agent_never_loads_pydantic_and_keeps_its_pid": (
        "an `edge-agent run` process watched through `edge-agent status` processes"
    ),
    "lean/test_lean_run.py::test_lean_zero_keeps_the_validating_interpreter": (
        "an `edge-agent run` process watched through `edge-agent status` processes"
    ),
    "lean/test_lean_run.py::test_without_tls_openssl_stays_out_and_a_reload_that_needs_it_brings_it": (
        "an `edge-agent run` process reloaded with SIGHUP, watched through `edge-agent status`"
    ),
    "lean/test_config_cache_run.py": "`edge-agent run` processes started two to four times per test",
    "mqtt/test_mqtt_agent.py": "whole `edge-agent run` processes against both brokers, killed and restarted",
    "mqtt/test_mqtt_mosquitto.py": "`edge-agent run` processes against TLS and password brokers",
    "mqtt/test_mqtt_lean.py": "an `edge-agent run` process watched through five seconds of cycles",
    "mqtt/test_mqtt_outbox.py": "brokers killed with SIGKILL and started again under a live mirror",
    "vendors/test_aibox_power_cut.py": "three `edge-agent heartbeat` runs, the first killed with SIGKILL",
    "mqtt/test_mqtt_bridge_window.py": "real mosquittos taking bursts of 45 QoS 2 messages on 3.1.1 and 5",
    "vendors/test_telecomx_format.py::test_any_json_reply_gives_a_reply_or_a_protocol_error_never_a_crash": (
        "hypothesis fuzzing, 300 generated replies (about 3.5 s)"
    ),
    "vendors/test_aibox_format.py::test_a_hostile_ack_is_either_a_confirmation_or_a_vendor_error": (
        "hypothesis fuzzing, 300 generated acks (about 3.3 s)"
    ),
    "vendors/test_xyte_format.py::test_any_json_gives_flags_or_a_protocol_error": (
        "hypothesis fuzzing, 300 generated replies (about 2.2 s)"
    ),
}
TESTS_ROOT = Path(__file__).parent


@pytest.fixture(autouse=True, scope="session")
def _config_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every `edge-agent run` a test starts keeps its config cache in this session's own
    folder, never in the user's ~/.cache (each test's config is a new file: a new entry)."""
    saved = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", "CACHE_DIRECTORY")}
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ.pop("CACHE_DIRECTORY", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """Under exactly ``-m "not slow"`` a slow folder is not even imported: every test in it
    would be deselected, and importing its modules (hypothesis profiles, worlds) costs ~1 s."""
    slow_folder = collection_path.parent == TESTS_ROOT and collection_path.name in SLOW_FOLDERS
    if slow_folder and str(config.getoption("markexpr", "")).strip() == "not slow":
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            relative = Path(str(item.fspath)).relative_to(TESTS_ROOT)
        except ValueError:
            continue
        module = relative.as_posix()
        test = f"{module}::{getattr(item, 'originalname', item.name)}"
        if relative.parts[0] in SLOW_FOLDERS or module in SLOW_TESTS or test in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)

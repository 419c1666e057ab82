"""The MQTT side's rules that need no broker: command shapes, backoff bounds, discovery, imports."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.actions.envelope import Command, RejectedCommand, parse_command
from edge_agent.loops import ReconnectBackoff
from edge_agent.mqtt.discovery import discovery_messages
from edge_agent.mqtt.topics import LEVEL_MAX_CHARS, Topics, topic_level, topic_levels

PACKAGE = Path(__file__).resolve().parents[2] / "edge_agent"


def test_a_command_needs_an_id_and_a_type_and_keeps_its_whole_body() -> None:
    command = parse_command(b'{"id": "op-1", "type": "VIDEO", "url": "rtsp://cam/1"}', correlation_data=b"c")
    assert command == Command(
        "op-1", "VIDEO", {"id": "op-1", "type": "VIDEO", "url": "rtsp://cam/1"}, None, b"c"
    )
    assert parse_command(b'{"type": "VIDEO"}') == RejectedCommand('the command has no "id"')
    no_type = parse_command(b'{"id": "op-2"}')
    assert isinstance(no_type, RejectedCommand) and no_type.command_id == "op-2"


def test_what_is_not_a_command_object_is_rejected_with_a_reason() -> None:
    for payload, reason in [
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"id": 7, "type": "X"}', '"id" must be'),
        (b'{"id": "", "type": "X"}', '"id" must be'),
        (b"x" * 70000, "larger than"),
    ]:
        rejected = parse_command(payload)
        assert isinstance(rejected, RejectedCommand) and reason in rejected.reason, payload[:20]


def test_a_retained_command_is_refused_so_it_cannot_run_on_every_reconnect() -> None:
    rejected = parse_command(b'{"id": "op-1", "type": "REBOOT"}', retained=True)
    assert isinstance(rejected, RejectedCommand) and "retained" in rejected.reason


@given(st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), min_size=1, max_size=60))
def test_reconnect_delays_stay_between_the_configured_bounds(draws: list[float]) -> None:
    randomness = iter(draws)
    backoff = ReconnectBackoff(0.5, 30.0, lambda: next(randomness))
    delays = [backoff.next_delay() for _ in draws]
    assert all(0.5 <= delay <= 30.0 for delay in delays)


def test_reconnect_delays_grow_to_the_cap_while_failures_go_on_and_start_over_after_reset() -> None:
    backoff = ReconnectBackoff(1.0, 20.0, lambda: 1.0)
    assert [backoff.next_delay() for _ in range(5)] == [3.0, 9.0, 20.0, 20.0, 20.0]
    backoff.reset()
    assert backoff.next_delay() == 3.0


def test_discovery_makes_one_entity_per_metric_of_one_device_with_the_status_as_availability() -> None:
    topics = Topics("edge", "pi.kitchen", "homeassistant")
    messages = dict(
        discovery_messages(topics, ["charging", "new_metric"], device_name="Kitchen", version="1.2")
    )
    charging = json.loads(messages["homeassistant/binary_sensor/pi_kitchen/charging/config"])
    assert charging["state_topic"] == "edge/pi.kitchen/metrics/charging"
    assert (charging["payload_on"], charging["payload_off"]) == ("true", "false")
    assert charging["availability_topic"] == "edge/pi.kitchen/status"
    newcomer = json.loads(messages["homeassistant/sensor/pi_kitchen/new_metric/config"])
    assert newcomer["device"] == charging["device"]
    assert newcomer["unique_id"] != charging["unique_id"]


def test_a_zone_name_becomes_one_topic_level_that_cannot_split_or_match_a_wildcard() -> None:
    assert topic_level("coretemp Package id 0") == "coretemp_Package_id_0"
    assert topic_level("cpu-thermal") == "cpu-thermal"
    for hostile in ["a/b", "+", "#", "tab\tname", "new\nline", "nul\x00", "é", "", "$SYS", "x" * 500]:
        level = topic_level(hostile)
        assert level and len(level) <= LEVEL_MAX_CHARS, hostile
        assert not set(level) & set("/+#$ \t\n\x00"), hostile
        assert level.isascii(), hostile


def test_two_zone_names_that_sanitise_alike_get_distinct_levels() -> None:
    assert topic_levels(["tsens tz", "tsens/tz", "tsens_tz"]) == {
        "tsens tz": "tsens_tz",
        "tsens/tz": "tsens_tz_2",
        "tsens_tz": "tsens_tz_3",
    }


def test_a_zone_entity_is_a_temperature_named_as_the_kernel_names_it() -> None:
    topics = Topics("edge", "pi.kitchen", "homeassistant")
    key = "temperature/coretemp_Package_id_0"
    messages = dict(
        discovery_messages(
            topics, [key], device_name="Kitchen", version="1", labels={key: "coretemp Package id 0"}
        )
    )
    config = json.loads(messages["homeassistant/sensor/pi_kitchen/temperature_coretemp_Package_id_0/config"])
    assert config["name"] == "Temperature coretemp Package id 0"
    assert config["state_topic"] == "edge/pi.kitchen/metrics/temperature/coretemp_Package_id_0"
    assert config["device_class"] == "temperature" and config["state_class"] == "measurement"


def _importers_of(library: str) -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == library or name.startswith(library + ".") for name in names):
                found.add(path.relative_to(PACKAGE).as_posix())
    return found

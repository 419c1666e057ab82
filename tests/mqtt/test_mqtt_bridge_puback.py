"""The bridge's cheaper PUBACK tells ``on_publish`` exactly what paho's own decoding tells it.

``mqtt/bridge.py`` gives paho's client a shortcut for the MQTT 3.1.1 PUBACK (issue 15: it
was the largest share of the per-cycle CPU after the reads). Each case feeds the same
incoming packet to paho's client and to the bridge's, with one message in flight, and
compares what ``on_publish`` got, what the handler returned and raised, and what is left
in flight. The end-to-end publish futures are covered against real brokers elsewhere.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge_agent.mqtt.paho_client import PahoClient

PUBACK = 0x40


def outcome(client_class: type[paho.Client], protocol: MQTTProtocolVersion, packet: bytes) -> dict[str, Any]:
    """What happens when ``packet`` (a PUBACK's variable part) arrives with message 1 in flight."""
    client = client_class(CallbackAPIVersion.VERSION2, client_id="puback-test", protocol=protocol)
    calls: list[tuple[int, str, int, bool, Any]] = []
    client.on_publish = lambda _client, _userdata, mid, reason, properties: calls.append(
        (mid, str(reason), reason.value, reason.is_failure, properties.json())
    )
    info = client.publish("edge/dev/state", b"{}", qos=1)
    assert info.mid == 1
    client._in_packet["command"] = PUBACK
    client._in_packet["packet"] = packet
    try:
        returned: Any = client._handle_pubackcomp("PUBACK")
    except Exception as exc:  # paho's MalformedPacket: what its loop turns into a lost connection
        returned = (type(exc).__name__, str(exc))
    return {"calls": calls, "returned": returned, "in flight": sorted(client._out_messages)}


@pytest.mark.parametrize(
    ("protocol", "packet"),
    [
        pytest.param(MQTTProtocolVersion.MQTTv311, b"\x00\x01", id="3.1.1 PUBACK of the message in flight"),
        pytest.param(MQTTProtocolVersion.MQTTv311, b"\x00\x07", id="3.1.1 PUBACK of an unknown message"),
        pytest.param(MQTTProtocolVersion.MQTTv311, b"\x00\x01\x10", id="3.1.1 PUBACK of the wrong size"),
        pytest.param(MQTTProtocolVersion.MQTTv311, b"\x00", id="3.1.1 PUBACK too short"),
        pytest.param(MQTTProtocolVersion.MQTTv5, b"\x00\x01", id="MQTT 5 PUBACK, success"),
        pytest.param(
            MQTTProtocolVersion.MQTTv5, b"\x00\x01\x10", id="MQTT 5 PUBACK, no matching subscribers"
        ),
        pytest.param(MQTTProtocolVersion.MQTTv5, b"\x00\x01\x87", id="MQTT 5 PUBACK, not authorized"),
    ],
)
def test_a_puback_tells_on_publish_what_paho_itself_tells_it(
    protocol: MQTTProtocolVersion, packet: bytes
) -> None:
    assert outcome(PahoClient, protocol, packet) == outcome(paho.Client, protocol, packet)


def test_the_shared_success_is_never_changed_by_a_puback() -> None:
    """The shortcut hands one ReasonCode and one Properties to every PUBACK: still "Success", still empty."""
    for _ in range(3):
        outcome(PahoClient, MQTTProtocolVersion.MQTTv311, b"\x00\x01")
    assert str(PahoClient._SUCCESS) == "Success" and not PahoClient._SUCCESS.is_failure
    assert PahoClient._NO_PROPERTIES.json() == {}

"""The PubNub Presence simulator: its signer against the published vectors, then the endpoint over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Optional

import httpx
import pytest
from support.http import loopback_client

from edge_agent.simulators.base import SimClock, SimulatorServer
from edge_agent.vendors.pubnub.simulator import PubNubSimulator
from edge_agent.vendors.pubnub.simulator_signature import enc, hmac_sha256_urlsafe, sign_v2, string_to_sign

# -- the signer, against every vector of protocols.md 5.5 ------------------------------------

JS_PNSDK = "PubNub-JS-Nodejs/suchJavascript"
S4_BODY = (
    '{"ttl":1440,"permissions":{"resources":{"channels":{},"groups":{},"uuids":{"user1":1},"users":{},'
    '"spaces":{}},"patterns":{"channels":{},"groups":{},"uuids":{".*":1},"users":{},"spaces":{}},"meta":{}}}'
)


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "expected"),
    [
        pytest.param(
            "GET",
            "/v2/auth/audit/sub-key/mySubscribeKey",
            {"timestamp": "1317427200", "channel": "ch1", "uuid": "myUUID", "pnsdk": JS_PNSDK},
            "",
            "v2.I7AFqanrAAtwVfvLHyKECTWw7UcZmwbRnwENpXdGB9E",
            id="S-1",
        ),
        pytest.param(
            "GET",
            "/v2/auth/audit/sub-key/mySubscribeKey",
            {"timestamp": "1317427200", "channel-group": "cg1", "uuid": "myUUID", "pnsdk": JS_PNSDK},
            "",
            "v2.2hdDeYpF_Hoo4XLK2CMlZApcLin5lJxh6vsKMQnTet8",
            id="S-2",
        ),
        pytest.param(
            "GET",
            "/v2/auth/grant/sub-key/mySubscribeKey",
            {
                "timestamp": "1317427200",
                "channel": "ch1,ch2",
                "auth": "key1,key2",
                "uuid": "myUUID",
                "pnsdk": JS_PNSDK,
                **dict.fromkeys(["r", "w", "m", "d", "g", "j", "u"], "0"),
            },
            "",
            "v2.LEJCwKOBTApWy5jcdXPmtN1_N2aaJx0ZN3krPY6oLu8",
            id="S-3",
        ),
        pytest.param(
            "POST",
            "/v3/pam/mySubscribeKey/grant",
            {"uuid": "myUUID", "pnsdk": "PubNub-JS-Nodejs/testVersion", "timestamp": "1571360790"},
            S4_BODY,
            "v2.A1ldFjcfAiD0rw7-kFKKwY5j0Mpq1R5u8JDeej7P3jo",
            id="S-4",
        ),
        pytest.param(
            "GET",
            "/v2/presence/sub-key/mySubscribeKey/channel/ch1,ch2/heartbeat",
            {"heartbeat": "300", "uuid": "myUUID", "pnsdk": JS_PNSDK, "timestamp": "1317427200"},
            "",
            "v2.bkFoLUHw8PSe89HuGAF-KS4p-pH9rt2pmb96jcjlVLA",
            id="S-HB-1",
        ),
        pytest.param(
            "GET",
            "/v2/presence/sub-key/mySubscribeKey/channel/ch1/heartbeat",
            {
                "heartbeat": "300",
                "uuid": "myUUID",
                "pnsdk": JS_PNSDK,
                "timestamp": "1317427200",
                "channel-group": "cg1,cg2",
                "state": '{"status":"online"}',
                "auth": "myAuthKey",
            },
            "",
            "v2.SyNhhTCETV4tSnSt-ZckoED5JfmIl6H-2vkLAN5FsMY",
            id="S-HB-2",
        ),
        pytest.param(
            "GET",
            "/v2/presence/sub-key/mySubscribeKey/channel/ch1/heartbeat",
            {
                "heartbeat": "300",
                "uuid": "myUUID",
                "pnsdk": "PubNub-Python/10.4.0",
                "timestamp": "1317427200",
                "state": '{"status": "online"}',
            },
            "",
            "v2.EWzf8OlzWD9YG7VzI1si8ynt08KpNSo09lq_Rm6UcFE",
            id="S-5-canonical",
        ),
    ],
)
def test_the_signer_reproduces_the_published_signatures(
    method: str, path: str, params: dict[str, str], body: str, expected: str
) -> None:
    assert sign_v2(method, "myPublishKey", path, params, body, "mySecretKey") == expected


def test_the_string_to_sign_of_s1_is_the_published_one() -> None:
    params = {"timestamp": "1317427200", "channel": "ch1", "uuid": "myUUID", "pnsdk": JS_PNSDK}
    assert string_to_sign("get", "myPublishKey", "/v2/auth/audit/sub-key/mySubscribeKey", params) == (
        "GET\nmyPublishKey\n/v2/auth/audit/sub-key/mySubscribeKey\n"
        "channel=ch1&pnsdk=PubNub-JS-Nodejs%2FsuchJavascript&timestamp=1317427200&uuid=myUUID\n"
    )


def test_the_signed_query_of_s_hb_2_encodes_commas_and_json() -> None:
    params = {
        "auth": "myAuthKey",
        "channel-group": "cg1,cg2",
        "state": '{"status":"online"}',
        "signature": "x",
    }
    assert string_to_sign("GET", "p", "/", params).split("\n")[3] == (
        "auth=myAuthKey&channel-group=cg1%2Ccg2&state=%7B%22status%22%3A%22online%22%7D"
    )


@pytest.mark.parametrize(
    ("key", "message", "expected"),
    [
        pytest.param("key", "data", "UDH-PZicbRU3oBP6bnOdojRj_a7DtwE32Cjjas4iG9A=", id="H-1"),
        pytest.param(
            "my_key",
            "sub-c-7ba2ac4c-4836-11e6-85a4-0619f8945a4f\npub-c-98863562-19a6-4760-bf0b-d537d1f5c582\ngrant\n"
            "channel=asyncio-pam-FI2FCS0A&pnsdk=PubNub-Python-Asyncio%252F4.0.4&r=1&timestamp=1468409553"
            "&uuid=a4dbf92e-e5cb-428f-b6e6-35cce03500a2&w=1",
            "zXtkplNSczgpsfhaYajoEfQnIgRTUCgE9AE6Y0mS_J8=",
            id="H-2",
        ),
    ],
)
def test_the_hmac_reproduces_the_published_digests(key: str, message: str, expected: str) -> None:
    assert hmac_sha256_urlsafe(key, message) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("~user/1_2.3-4", "%7Euser%2F1_2.3-4"), ("£13.37", "%C2%A313.37"), ("a b+c*", "a%20b%2Bc%2A")],
    ids=["E-1", "E-2", "space-plus-star"],
)
def test_enc_leaves_only_unreserved_characters_literal(value: str, expected: str) -> None:
    assert enc(value) == expected


# -- the endpoint over HTTP -------------------------------------------------------------------

VECTOR_TIME = datetime.fromtimestamp(1317427200, timezone.utc)
SUB, PUB, SECRET = "mySubscribeKey", "myPublishKey", "mySecretKey"


class Presence:
    """The simulator behind a real loopback server, and a client that builds wire URLs."""

    def __init__(self, sim: PubNubSimulator, server: SimulatorServer, client: httpx.Client) -> None:
        self.sim, self.server, self.client = sim, server, client

    def get(self, raw_path: str, params: dict[str, str], secret: Optional[str] = SECRET) -> httpx.Response:
        """GET with every value encoded by ``enc`` (as the JS SDK does), signed when ``secret`` is set."""
        if secret is not None:
            params = {**params, "signature": sign_v2("GET", PUB, raw_path, params, "", secret)}
        query = "&".join(f"{key}={enc(value)}" for key, value in params.items())
        return self.client.get(f"{self.server.url}{raw_path}?{query}")

    def heartbeat(
        self, uuid: str = "myUUID", channels: str = "ch1", secret: Optional[str] = SECRET, **extra: str
    ) -> httpx.Response:
        params = {"uuid": uuid, "heartbeat": "300", "timestamp": self.now(), **extra}
        return self.get(f"/v2/presence/sub-key/{SUB}/channel/{channels}/heartbeat", params, secret)

    def now(self) -> str:
        return str(int(self.sim.clock.timestamp()))


@pytest.fixture
def clock() -> SimClock:
    return SimClock(VECTOR_TIME)


@pytest.fixture
def presence(clock: SimClock) -> Iterator[Presence]:
    """The service with the vectors' keyset (signed), its clock at the vectors' timestamp."""
    sim = PubNubSimulator(clock)
    sim.add_keyset(SUB, PUB, SECRET)
    with SimulatorServer(sim) as server, loopback_client() as client:
        yield Presence(sim, server, client)


def assert_ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.text == '{"status": 200, "message": "OK", "service": "Presence"}'
    assert response.headers["content-type"] == 'text/javascript; charset="UTF-8"'


def assert_signature_refused(response: httpx.Response) -> None:
    assert response.status_code == 403
    assert response.json() == {
        "message": "Signature does not match",
        "error": True,
        "service": "Access Manager",
        "status": 403,
    }


def test_a_correctly_signed_heartbeat_is_answered_exactly_as_the_live_service(presence: Presence) -> None:
    assert_ok(presence.heartbeat())


def test_the_s_hb_1_request_on_the_wire_is_accepted(presence: Presence) -> None:
    path = "/v2/presence/sub-key/mySubscribeKey/channel/ch1,ch2/heartbeat"
    query = (
        "heartbeat=300&pnsdk=PubNub-JS-Nodejs%2FsuchJavascript&timestamp=1317427200&uuid=myUUID"
        "&signature=v2.bkFoLUHw8PSe89HuGAF-KS4p-pH9rt2pmb96jcjlVLA"
    )
    assert_ok(presence.client.get(f"{presence.server.url}{path}?{query}"))
    assert presence.sim.occupants("ch1") == presence.sim.occupants("ch2") == ["myUUID"]


def test_the_python_state_is_decoded_once_before_signing(presence: Presence) -> None:
    path = "/v2/presence/sub-key/mySubscribeKey/channel/ch1/heartbeat"
    query = (
        "heartbeat=300&uuid=myUUID&pnsdk=PubNub-Python%2F10.4.0&timestamp=1317427200"
        "&state=%7B%22status%22%3A%20%22online%22%7D&signature=v2.EWzf8OlzWD9YG7VzI1si8ynt08KpNSo09lq_Rm6UcFE"
    )
    response = presence.client.get(f"{presence.server.url}{path}?{query}")
    assert presence.sim.signature_failures == []  # the vector's signature is the canonical one
    # ...but its state is the unkeyed form, which the state rule then refuses.
    assert response.status_code == 400 and "keyed by the channels" in response.json()["message"]


def test_the_python_sdk_double_encoded_state_signature_is_refused(presence: Presence) -> None:
    path = "/v2/presence/sub-key/mySubscribeKey/channel/ch1/heartbeat"
    query = (
        "heartbeat=300&uuid=myUUID&pnsdk=PubNub-Python%2F10.4.0&timestamp=1317427200"
        "&state=%7B%22status%22%3A%20%22online%22%7D&signature=v2.POvdxsrjQzp3hgr-8sKbu16NGhp6RYhNYEVGLEouBk4"
    )
    assert_signature_refused(presence.client.get(f"{presence.server.url}{path}?{query}"))


def test_an_unsigned_heartbeat_to_a_keyset_with_a_secret_is_refused(presence: Presence) -> None:
    assert_signature_refused(presence.heartbeat(secret=None))
    assert presence.sim.occupants("ch1") == []
    assert "required" in presence.sim.signature_failures[0].reason


def test_a_signature_made_with_another_secret_is_refused(presence: Presence) -> None:
    assert_signature_refused(presence.heartbeat(secret="not-the-secret"))
    assert presence.sim.signature_failures[0].signed is not None


def test_a_parameter_changed_after_signing_is_refused(presence: Presence) -> None:
    path = f"/v2/presence/sub-key/{SUB}/channel/ch1/heartbeat"
    params = {"uuid": "myUUID", "heartbeat": "300", "timestamp": presence.now()}
    signature = sign_v2("GET", PUB, path, params, "", SECRET)
    query = f"uuid=intruder&heartbeat=300&timestamp={params['timestamp']}&signature={signature}"
    assert_signature_refused(presence.client.get(f"{presence.server.url}{path}?{query}"))


def test_the_signed_path_is_the_raw_path_as_sent(presence: Presence) -> None:
    encoded = f"/v2/presence/sub-key/{SUB}/channel/room%20one/heartbeat"
    assert_ok(presence.get(encoded, {"uuid": "myUUID", "timestamp": presence.now()}))
    assert presence.sim.occupants("room one") == ["myUUID"]
    decoded_path_signature = sign_v2(
        "GET",
        PUB,
        f"/v2/presence/sub-key/{SUB}/channel/room one/heartbeat",
        {"uuid": "u", "timestamp": presence.now()},
        "",
        SECRET,
    )
    query = f"uuid=u&timestamp={presence.now()}&signature={decoded_path_signature}"
    assert_signature_refused(presence.client.get(f"{presence.server.url}{encoded}?{query}"))


@pytest.mark.parametrize(("skew", "accepted"), [(60, True), (-60, True), (61, False), (-61, False)])
def test_the_timestamp_must_be_within_60_seconds_of_the_server_clock(
    presence: Presence, clock: SimClock, skew: int, accepted: bool
) -> None:
    timestamp = str(int(clock.timestamp()) + skew)
    response = presence.heartbeat(timestamp=timestamp)
    if accepted:
        assert_ok(response)
    else:
        assert_signature_refused(response)
        assert "60 s" in presence.sim.signature_failures[0].reason


def test_a_replayed_signature_is_refused_when_the_keyset_asks(presence: Presence) -> None:
    presence.sim.add_keyset(SUB, PUB, SECRET, reject_replays=True)
    path = f"/v2/presence/sub-key/{SUB}/channel/ch1/heartbeat"
    params = {"uuid": "myUUID", "timestamp": presence.now()}
    assert_ok(presence.get(path, params))
    assert_signature_refused(presence.get(path, params))


def test_a_keyset_without_a_secret_takes_unsigned_heartbeats(presence: Presence) -> None:
    presence.sim.add_keyset("open-sub", "open-pub")
    response = presence.client.get(
        f"{presence.server.url}/v2/presence/sub-key/open-sub/channel/lobby/heartbeat?uuid=u1"
    )
    assert_ok(response)
    assert presence.sim.occupants("lobby", sub_key="open-sub") == ["u1"]


def test_an_unknown_sub_key_is_a_bad_request(presence: Presence) -> None:
    response = presence.client.get(
        f"{presence.server.url}/v2/presence/sub-key/nope/channel/ch1/heartbeat?uuid=u"
    )
    assert response.status_code == 400
    assert response.json()["error"] is True


@pytest.mark.parametrize("uuid", ["", "x" * 93])
def test_a_missing_or_overlong_uuid_is_a_bad_request(presence: Presence, uuid: str) -> None:
    assert presence.heartbeat(uuid=uuid).status_code == 400


def test_only_get_is_answered(presence: Presence) -> None:
    response = presence.client.post(
        f"{presence.server.url}/v2/presence/sub-key/{SUB}/channel/ch1/heartbeat?uuid=u"
    )
    assert response.status_code == 405


def test_another_path_is_not_found(presence: Presence) -> None:
    response = presence.client.get(
        f"{presence.server.url}/v2/presence/sub-key/{SUB}/channel/ch1/leave?uuid=u"
    )
    assert response.status_code == 404


def test_the_first_heartbeat_is_a_join_and_the_next_ones_are_not(presence: Presence) -> None:
    assert_ok(presence.heartbeat())
    assert_ok(presence.heartbeat())
    events = presence.sim.presence_events()
    assert [(e.action, e.name, e.uuid) for e in events] == [("join", "ch1", "myUUID")]


def test_silence_past_the_heartbeat_window_is_a_timeout_and_the_next_heartbeat_rejoins(
    presence: Presence, clock: SimClock
) -> None:
    assert_ok(presence.heartbeat(heartbeat="60"))
    clock.advance(59)
    assert presence.sim.occupants("ch1") == ["myUUID"]
    clock.advance(1)
    assert presence.sim.occupants("ch1") == []
    assert_ok(presence.heartbeat())
    events = presence.sim.presence_events()
    assert [e.action for e in events] == ["join", "timeout", "join"]
    assert events[1].at == datetime.fromtimestamp(1317427200 + 60, timezone.utc)


def test_the_default_presence_timeout_is_300_seconds(presence: Presence, clock: SimClock) -> None:
    path = f"/v2/presence/sub-key/{SUB}/channel/ch1/heartbeat"
    assert_ok(presence.get(path, {"uuid": "myUUID", "timestamp": presence.now()}))
    clock.advance(299)
    presence.sim.check_timeouts()
    assert presence.sim.occupants("ch1") == ["myUUID"]
    clock.advance(1)
    presence.sim.check_timeouts()
    assert [e.action for e in presence.sim.presence_events()] == ["join", "timeout"]


@pytest.mark.parametrize("heartbeat", ["0", "abc", "-5"])
def test_a_heartbeat_period_that_is_not_a_positive_integer_is_a_bad_request(
    presence: Presence, heartbeat: str
) -> None:
    assert presence.heartbeat(heartbeat=heartbeat).status_code == 400


def test_state_is_stored_per_channel(presence: Presence) -> None:
    state = json.dumps({"ch1": {"mood": "calm"}, "ch2": {"mood": "busy"}})
    assert_ok(presence.heartbeat(channels="ch1,ch2", state=state))
    assert presence.sim.state("ch1", "myUUID") == {"mood": "calm"}
    assert presence.sim.state("ch2", "myUUID") == {"mood": "busy"}


def test_state_for_one_channel_is_still_keyed_by_that_channel(presence: Presence) -> None:
    assert_ok(presence.heartbeat(channels="ch1", state=json.dumps({"ch1": {"mood": "calm"}})))
    assert presence.sim.state("ch1", "myUUID") == {"mood": "calm"}


def test_state_is_keyed_by_channel_group_too(presence: Presence) -> None:
    state = json.dumps({"ch1": {"mood": "calm"}, "cg1": {"mood": "grouped"}})
    assert_ok(presence.heartbeat(channels="ch1", state=state, **{"channel-group": "cg1"}))
    assert presence.sim.state("ch1", "myUUID") == {"mood": "calm"}
    assert presence.sim.state("cg1", "myUUID", kind="channel-group") == {"mood": "grouped"}


@pytest.mark.parametrize(
    "state",
    [
        pytest.param({"mood": "calm"}, id="the-old-unkeyed-form"),
        pytest.param({"ch1": {"mood": "calm"}, "other": {"mood": "x"}}, id="a-key-not-in-the-request"),
        pytest.param({"ch1": "calm"}, id="a-channel-state-that-is-not-an-object"),
    ],
)
def test_state_not_keyed_by_the_requests_channels_is_a_pubnub_style_bad_request(
    presence: Presence, state: dict[str, object]
) -> None:
    response = presence.heartbeat(channels="ch1", state=json.dumps(state))
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["error"] is True and body["service"] == "Presence"
    assert body["message"].startswith("Invalid Arguments: ")
    assert presence.sim.occupants("ch1") == [] and presence.sim.state("ch1", "myUUID") is None


def test_every_answer_carries_a_date_header_from_the_simulated_clock(presence: Presence) -> None:
    answers = [
        presence.heartbeat(),
        presence.heartbeat(secret="wrong"),
        presence.client.get(presence.server.url),
    ]
    for response in answers:
        assert response.headers.get_list("date") == ["Sat, 01 Oct 2011 00:00:00 GMT"]  # 1317427200, not today


@pytest.mark.parametrize("state", ["{not json", "[1, 2]"])
def test_state_that_is_not_a_json_object_is_a_bad_request(presence: Presence, state: str) -> None:
    response = presence.heartbeat(state=state)
    assert response.status_code == 400
    assert presence.sim.occupants("ch1") == []


def test_a_channel_group_only_heartbeat_uses_the_comma_segment(presence: Presence) -> None:
    assert_ok(presence.heartbeat(channels=",", **{"channel-group": "cg1,cg2"}))
    assert presence.sim.occupants("cg1", kind="channel-group") == ["myUUID"]
    assert presence.sim.occupants("cg2", kind="channel-group") == ["myUUID"]


def test_a_heartbeat_naming_no_channel_or_group_is_a_bad_request(presence: Presence) -> None:
    assert presence.heartbeat(channels=",").status_code == 400


def test_an_auth_key_not_granted_a_channel_is_forbidden(presence: Presence) -> None:
    presence.sim.grant(SUB, "good-auth", channels=("ch1",))
    response = presence.heartbeat(channels="ch1,ch2", auth="good-auth")
    assert response.status_code == 403
    assert response.json() == {
        "message": "Forbidden",
        "payload": {"channels": ["ch2"]},
        "error": True,
        "service": "Access Manager",
        "status": 403,
    }
    assert presence.sim.occupants("ch1") == []


def test_an_auth_key_granted_every_channel_is_let_through(presence: Presence) -> None:
    presence.sim.grant(SUB, "good-auth", channels=("ch1", "ch2"))
    assert_ok(presence.heartbeat(channels="ch1,ch2", auth="good-auth"))
    assert presence.heartbeat(channels="ch1", auth="other-auth").status_code == 403

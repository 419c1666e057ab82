"""The agent's PubNub v2 signer against every vector of protocols.md 5.5 (pure: no sockets)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.vendors.pubnub.signature import (
    hmac_sha256_b64,
    message_to_sign,
    pam_encode,
    signature_v2,
    signed_query,
)

JS_SDK = "PubNub-JS-Nodejs/suchJavascript"
TIMESTAMP = "1317427200"
AUDIT = "/v2/auth/audit/sub-key/mySubscribeKey"


def test_s1_audit_of_a_channel() -> None:
    params = {"timestamp": TIMESTAMP, "channel": "ch1", "uuid": "myUUID", "pnsdk": JS_SDK}
    assert message_to_sign("GET", "myPublishKey", AUDIT, params) == (
        "GET\nmyPublishKey\n/v2/auth/audit/sub-key/mySubscribeKey\n"
        "channel=ch1&pnsdk=PubNub-JS-Nodejs%2FsuchJavascript&timestamp=1317427200&uuid=myUUID\n"
    )
    assert signature_v2("mySecretKey", "GET", "myPublishKey", AUDIT, params) == (
        "v2.I7AFqanrAAtwVfvLHyKECTWw7UcZmwbRnwENpXdGB9E"
    )


def test_s2_audit_of_a_channel_group() -> None:
    params = {"timestamp": TIMESTAMP, "channel-group": "cg1", "uuid": "myUUID", "pnsdk": JS_SDK}
    assert signature_v2("mySecretKey", "GET", "myPublishKey", AUDIT, params) == (
        "v2.2hdDeYpF_Hoo4XLK2CMlZApcLin5lJxh6vsKMQnTet8"
    )


def test_s3_grant_encodes_commas_in_values() -> None:
    params = {
        "timestamp": TIMESTAMP, "channel": "ch1,ch2", "auth": "key1,key2", "uuid": "myUUID", "pnsdk": JS_SDK,
        "r": "0", "w": "0", "m": "0", "d": "0", "g": "0", "j": "0", "u": "0",
    }  # fmt: skip
    assert signed_query(params) == (
        "auth=key1%2Ckey2&channel=ch1%2Cch2&d=0&g=0&j=0&m=0&pnsdk=PubNub-JS-Nodejs%2FsuchJavascript"
        "&r=0&timestamp=1317427200&u=0&uuid=myUUID&w=0"  # protocols.md's query text drops the w=0 it signs
    )
    path = "/v2/auth/grant/sub-key/mySubscribeKey"
    assert signature_v2("mySecretKey", "GET", "myPublishKey", path, params) == (
        "v2.LEJCwKOBTApWy5jcdXPmtN1_N2aaJx0ZN3krPY6oLu8"
    )


def test_s4_post_appends_the_body_verbatim() -> None:
    body = (
        '{"ttl":1440,"permissions":{"resources":{"channels":{},"groups":{},"uuids":{"user1":1},"users":{},'
        '"spaces":{}},"patterns":{"channels":{},"groups":{},"uuids":{".*":1},"users":{},"spaces":{}},'
        '"meta":{}}}'
    )
    params = {"uuid": "myUUID", "pnsdk": "PubNub-JS-Nodejs/testVersion", "timestamp": "1571360790"}
    path = "/v3/pam/mySubscribeKey/grant"
    assert signature_v2("mySecretKey", "POST", "myPublishKey", path, params, body) == (
        "v2.A1ldFjcfAiD0rw7-kFKKwY5j0Mpq1R5u8JDeej7P3jo"
    )


def test_s_hb_1_heartbeat_on_two_channels_signs_the_path_with_its_literal_comma() -> None:
    path = "/v2/presence/sub-key/mySubscribeKey/channel/ch1,ch2/heartbeat"
    params = {"heartbeat": "300", "uuid": "myUUID", "pnsdk": JS_SDK, "timestamp": TIMESTAMP}
    assert message_to_sign("GET", "myPublishKey", path, params) == (
        "GET\nmyPublishKey\n/v2/presence/sub-key/mySubscribeKey/channel/ch1,ch2/heartbeat\n"
        "heartbeat=300&pnsdk=PubNub-JS-Nodejs%2FsuchJavascript&timestamp=1317427200&uuid=myUUID\n"
    )
    assert signature_v2("mySecretKey", "GET", "myPublishKey", path, params) == (
        "v2.bkFoLUHw8PSe89HuGAF-KS4p-pH9rt2pmb96jcjlVLA"
    )


def test_s_hb_2_heartbeat_with_groups_state_and_auth() -> None:
    path = "/v2/presence/sub-key/mySubscribeKey/channel/ch1/heartbeat"
    params = {
        "heartbeat": "300", "uuid": "myUUID", "pnsdk": JS_SDK, "timestamp": TIMESTAMP,
        "channel-group": "cg1,cg2", "state": '{"status":"online"}', "auth": "myAuthKey",
    }  # fmt: skip
    assert signed_query(params) == (
        "auth=myAuthKey&channel-group=cg1%2Ccg2&heartbeat=300&pnsdk=PubNub-JS-Nodejs%2FsuchJavascript"
        "&state=%7B%22status%22%3A%22online%22%7D&timestamp=1317427200&uuid=myUUID"
    )
    assert signature_v2("mySecretKey", "GET", "myPublishKey", path, params) == (
        "v2.SyNhhTCETV4tSnSt-ZckoED5JfmIl6H-2vkLAN5FsMY"
    )


def test_s5_the_canonical_signature_of_a_python_sdk_state_signs_the_decoded_value_once() -> None:
    path = "/v2/presence/sub-key/mySubscribeKey/channel/ch1/heartbeat"
    state = json.dumps({"status": "online"})  # the Python SDK's spacing
    params = {"heartbeat": "300", "uuid": "myUUID", "pnsdk": "PubNub-Python/10.4.0", "timestamp": TIMESTAMP}
    params["state"] = state
    assert pam_encode(state) == "%7B%22status%22%3A%20%22online%22%7D"  # as it is on the wire
    signature = signature_v2("mySecretKey", "GET", "myPublishKey", path, params)
    assert signature == "v2.EWzf8OlzWD9YG7VzI1si8ynt08KpNSo09lq_Rm6UcFE"
    assert signature != "v2.POvdxsrjQzp3hgr-8sKbu16NGhp6RYhNYEVGLEouBk4"  # the SDK's double encoding


def test_h1_and_h2_the_hmac_building_block_keeps_its_padding() -> None:
    assert hmac_sha256_b64("key", "data") == "UDH-PZicbRU3oBP6bnOdojRj_a7DtwE32Cjjas4iG9A="
    legacy = (
        "sub-c-7ba2ac4c-4836-11e6-85a4-0619f8945a4f\npub-c-98863562-19a6-4760-bf0b-d537d1f5c582\ngrant\n"
        "channel=asyncio-pam-FI2FCS0A&pnsdk=PubNub-Python-Asyncio%252F4.0.4&r=1&timestamp=1468409553"
        "&uuid=a4dbf92e-e5cb-428f-b6e6-35cce03500a2&w=1"
    )
    assert hmac_sha256_b64("my_key", legacy) == "zXtkplNSczgpsfhaYajoEfQnIgRTUCgE9AE6Y0mS_J8="


@pytest.mark.parametrize(
    ("value", "encoded"),
    [("~user/1_2.3-4", "%7Euser%2F1_2.3-4"), ("£13.37", "%C2%A313.37"), ("a b+c*", "a%20b%2Bc%2A")],
)
def test_e1_e2_only_letters_digits_and_underscore_dot_dash_stay_literal(value: str, encoded: str) -> None:
    assert pam_encode(value) == encoded


@given(st.text(max_size=40))
def test_encoding_is_reversible_and_leaves_nothing_unsafe(value: str) -> None:
    from urllib.parse import unquote

    encoded = pam_encode(value.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    assert all(ch.isascii() and (ch.isalnum() or ch in "_.-%") for ch in encoded)
    assert unquote(encoded) == value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def test_signature_is_left_out_of_the_signed_query() -> None:
    assert signed_query({"signature": "v2.x", "uuid": "u"}) == "uuid=u"

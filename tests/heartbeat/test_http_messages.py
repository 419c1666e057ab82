"""The request line and headers built from an adapter's HttpRequest (pure: no socket)."""

from __future__ import annotations

import pytest

from edge_agent.heartbeat.messages import request_headers, request_target, response_headers, where_to
from edge_agent.vendors.types import HttpRequest


def headers_for(url: str, method: str = "GET") -> dict[str, str]:
    split, origin = where_to(url)
    built = request_headers(split, origin, HttpRequest(method=method, url=url), None, {})
    return {name.decode(): value.decode() for name, value in built}


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://Vendor.Example:80/hb", "vendor.example"),
        ("https://vendor.example:443/hb", "vendor.example"),
        ("https://vendor.example:8443/hb", "vendor.example:8443"),
        ("http://[::1]:8080/hb", "[::1]:8080"),
        ("https://[fe80::1]/hb", "[fe80::1]"),
    ],
)
def test_host_names_the_port_only_when_it_is_not_the_schemes_and_brackets_ipv6(url: str, host: str) -> None:
    assert headers_for(url)["Host"] == host


def test_where_to_connects() -> None:
    assert where_to("https://[::1]/x")[1] == ("https", "::1", 443)
    assert where_to("HTTP://127.0.0.1:8080")[1] == ("http", "127.0.0.1", 8080)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://h", "/"),
        ("http://h/a b/ü?q=1 2&r=%7E#fragment", "/a%20b/%C3%BC?q=1%202&r=%7E"),
        ("http://h/publish/%22hi%22?uuid=d&auth=a%2Bb", "/publish/%22hi%22?uuid=d&auth=a%2Bb"),
    ],
)
def test_the_target_is_percent_encoded_once_and_keeps_what_is_encoded(url: str, target: str) -> None:
    assert request_target(where_to(url)[0]) == target


def test_a_body_gets_its_length_and_a_post_without_one_says_zero() -> None:
    assert "Content-Length" not in headers_for("http://h/x")
    assert headers_for("http://h/x", method="POST")["Content-Length"] == "0"
    split, origin = where_to("http://h/x")
    built = request_headers(split, origin, HttpRequest(method="PUT", url="http://h/x"), b"abc", {})
    assert (b"Content-Length", b"3") in built


def test_userinfo_in_the_url_becomes_basic_auth() -> None:
    assert headers_for("http://user:p%40ss@h/x")["Authorization"] == "Basic dXNlcjpwQHNz"


def test_reply_headers_are_lower_case_and_repeated_ones_joined() -> None:
    head = [(b"Content-Type", b"application/json"), (b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2")]
    assert response_headers(head) == {"content-type": "application/json", "set-cookie": "a=1, b=2"}

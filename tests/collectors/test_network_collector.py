"""Primary IP and MAC from /proc/net/route, /proc/net/fib_trie and /sys/class/net."""

from __future__ import annotations

from collector_helpers import HOSTS, Tree, collector_for

ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def route(interface: str, destination: str, gateway: str, flags: str, metric: int, mask: str) -> str:
    return f"{interface}\t{destination}\t{gateway}\t{flags}\t0\t0\t{metric}\t{mask}\t0\t0\t0\n"


def trie(*addresses: str) -> str:
    lines = ["Local:", "  +-- 0.0.0.0/0 3 0 5"]
    for address in addresses:
        lines += [f"     |-- {address}", "        /32 host LOCAL"]
    return "\n".join(lines) + "\n"


def test_the_default_route_interface_wins_over_a_docker_bridge() -> None:
    snapshot = collector_for(HOSTS / "x86-hwmon").collect()
    assert (snapshot.ip, snapshot.mac) == ("192.168.10.42", "1c:69:7a:0e:5b:21")


def test_the_default_route_with_the_lowest_metric_is_primary(tree: Tree) -> None:
    tree.write(
        "proc/net/route",
        ROUTE_HEADER
        + route("wlan0", "00000000", "0101A8C0", "0003", 600, "00000000")
        + route("eth0", "00000000", "0100000A", "0003", 100, "00000000")
        + route("wlan0", "0001A8C0", "00000000", "0001", 600, "00FFFFFF")
        + route("eth0", "0000000A", "00000000", "0001", 100, "0000FFFF"),
    )
    tree.write("proc/net/fib_trie", trie("127.0.0.1", "192.168.1.20", "10.0.3.7"))
    tree.write("sys/class/net/eth0/address", "B8:27:EB:00:00:01\n")
    tree.write("sys/class/net/wlan0/address", "b8:27:eb:00:00:02\n")
    snapshot = collector_for(tree.root).collect()
    assert (snapshot.ip, snapshot.mac) == ("10.0.3.7", "b8:27:eb:00:00:01")


def test_android_policy_routing_uses_the_connected_interface() -> None:
    snapshot = collector_for(HOSTS / "android-tablet").collect()
    assert (snapshot.ip, snapshot.mac) == ("10.0.0.88", "94:65:2d:8a:10:3f")


def test_offline_still_reports_the_mac_of_the_first_real_interface(tree: Tree) -> None:
    tree.write("proc/net/route", ROUTE_HEADER)
    tree.write("sys/class/net/lo/address", "00:00:00:00:00:00\n")
    tree.write("sys/class/net/tun0/address", "\n")
    tree.write("sys/class/net/wlan0/address", "dc:a6:32:00:00:09\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.ip is None
    assert snapshot.unavailable["ip"] == "no route in /proc/net/route"
    assert snapshot.mac == "dc:a6:32:00:00:09"


def test_a_closed_proc_net_on_a_fixture_is_a_reason_not_the_test_machine_address() -> None:
    snapshot = collector_for(HOSTS / "android-phone-termux").collect()
    assert (snapshot.ip, snapshot.mac) == (None, None)
    assert snapshot.unavailable["ip"] == "permission denied: /proc/net/route"


def test_an_address_whose_leaf_lists_other_prefixes_first_is_still_found(tree: Tree) -> None:
    tree.write("proc/net/route", ROUTE_HEADER + route("ptp0", "0000000A", "00000000", "0001", 0, "FEFFFFFF"))
    tree.write(
        "proc/net/fib_trie",
        "Local:\n  +-- 10.0.0.0/31 2 0 2\n     |-- 10.0.0.0\n        /31 link UNICAST\n"
        "        /32 host LOCAL\n     |-- 10.0.0.1\n        /32 link BROADCAST\n",
    )
    tree.write("sys/class/net/ptp0/address", "02:00:5e:10:00:01\n")
    assert collector_for(tree.root).collect().ip == "10.0.0.0"


def test_a_changed_route_or_address_is_seen_on_the_next_cycle(tree: Tree) -> None:
    """The parsed routes and addresses are kept between cycles only while the files say the same."""
    tree.write(
        "proc/net/route", ROUTE_HEADER + route("eth0", "0000000A", "00000000", "0001", 100, "0000FFFF")
    )
    tree.write("proc/net/fib_trie", trie("127.0.0.1", "10.0.3.7"))
    tree.write("sys/class/net/eth0/address", "b8:27:eb:00:00:01\n")
    tree.write("sys/class/net/wlan0/address", "b8:27:eb:00:00:02\n")
    collector = collector_for(tree.root)
    assert (collector.collect().ip, collector.collect().ip) == ("10.0.3.7", "10.0.3.7")
    tree.write("proc/net/fib_trie", trie("127.0.0.1", "10.0.3.8"))
    assert collector.collect().ip == "10.0.3.8"
    tree.write(
        "proc/net/route", ROUTE_HEADER + route("wlan0", "0001A8C0", "00000000", "0001", 600, "00FFFFFF")
    )
    tree.write("proc/net/fib_trie", trie("127.0.0.1", "192.168.1.20"))
    snapshot = collector.collect()
    assert (snapshot.ip, snapshot.mac) == ("192.168.1.20", "b8:27:eb:00:00:02")

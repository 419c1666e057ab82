"""Wi-Fi signal from /proc/net/wireless and link speed from iw or termux-api."""

from __future__ import annotations

from pathlib import Path

import pytest
from collector_helpers import HOSTS, Tree, collector_for

from edge_agent.collectors.host import HostPaths
from edge_agent.collectors.wifi import WirelessInterfaces

HEADER = (
    "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
    " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"
)


def wireless(tree: Tree, level: str) -> None:
    tree.write(
        "proc/net/wireless",
        HEADER + f" wlan0: 0000   40.  {level}  -256        0      0      0      0      0        0\n",
    )


def test_pi_signal_and_link_speed() -> None:
    snapshot = collector_for(HOSTS / "pi4").collect()
    assert (snapshot.wifi_signal_dbm, snapshot.wifi_link_mbps) == (-54.0, 433.3)


@pytest.mark.parametrize(
    ("level", "dbm", "reason"),
    [
        ("-71.", -71.0, None),
        ("200.", -56.0, None),
        ("40.", None, "wlan0 reports a relative level (40), not dBm"),
        ("0", None, "wlan0 is not associated"),
    ],
)
def test_level_column_becomes_dbm_or_a_reason(level: str, dbm: object, reason: object, tree: Tree) -> None:
    wireless(tree, level)
    snapshot = collector_for(tree.root).collect()
    assert snapshot.wifi_signal_dbm == dbm
    assert snapshot.unavailable.get("wifi_signal_dbm") == reason


def test_iw_not_connected_keeps_the_signal(tree: Tree) -> None:
    wireless(tree, "-60.")
    tree.program("iw", "echo 'Not connected.'\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.wifi_signal_dbm == -60.0
    assert snapshot.unavailable["wifi_link_mbps"] == "wlan0 is not connected"


def test_missing_iw_is_a_reason(tree: Tree) -> None:
    wireless(tree, "-60.")
    assert collector_for(tree.root).collect().unavailable["wifi_link_mbps"] == "iw not found"


def test_sysfs_finds_the_interface_when_proc_net_wireless_is_absent(tree: Tree) -> None:
    tree.write("sys/class/net/wlp2s0/phy80211/name", "phy0\n")
    tree.write("sys/class/net/enp3s0/address", "1c:69:7a:0e:5b:21\n")
    tree.program("iw", '[ "$2" = wlp2s0 ] && printf "Connected to x\\n\\ttx bitrate: 72.2 MBit/s MCS 7\\n"\n')
    snapshot = collector_for(tree.root).collect()
    assert snapshot.wifi_link_mbps == 72.2
    assert snapshot.unavailable["wifi_signal_dbm"] == "/proc/net/wireless not found"


def test_no_wireless_interface_runs_no_program(tree: Tree) -> None:
    marker = tree.root / "ran"
    tree.write("sys/class/net/eth0/address", "1c:69:7a:0e:5b:21\n")
    tree.program("iw", f"touch {marker}\n")
    snapshot = collector_for(tree.root, extra_path="/usr/bin:/bin").collect()
    assert snapshot.unavailable["wifi_link_mbps"] == "no wireless interface"
    assert not marker.exists()


def test_termux_reads_rssi_and_speed_from_termux_api_when_proc_net_is_closed() -> None:
    snapshot = collector_for(HOSTS / "android-phone-termux").collect()
    assert (snapshot.wifi_signal_dbm, snapshot.wifi_link_mbps) == (-67.0, 144.0)


def test_termux_disconnected_says_so(tree: Tree) -> None:
    tree.write("system/build.prop", "ro.build.version.sdk=33\n")
    tree.program(
        "termux-wifi-connectioninfo",
        """echo '{"link_speed_mbps": -1, "rssi": -127, "supplicant_state": "DISCONNECTED"}'\n""",
    )
    snapshot = collector_for(tree.root).collect()
    assert snapshot.unavailable["wifi_link_mbps"] == "Wi-Fi is not connected"
    assert snapshot.unavailable["wifi_signal_dbm"] == "/proc/net/wireless not found; Wi-Fi is not connected"


def test_an_interface_plugged_in_or_out_is_seen_at_the_next_cycle(tree: Tree) -> None:
    tree.write("sys/class/net/eth0/address", "1c:69:7a:0e:5b:21\n")
    tree.program("iw", '[ "$2" = wlx0c ] && printf "Connected to x\\n\\ttx bitrate: 72.2 MBit/s MCS 7\\n"\n')
    collector = collector_for(tree.root)
    assert collector.collect().unavailable["wifi_link_mbps"] == "no wireless interface"
    dongle = tree.write("sys/class/net/wlx0c/phy80211/name", "phy0\n")
    assert collector.collect().wifi_link_mbps == 72.2
    dongle.unlink()
    dongle.parent.rmdir()
    dongle.parent.parent.rmdir()
    assert collector.collect().unavailable["wifi_link_mbps"] == "no wireless interface"


class CountingHost(HostPaths):
    """Counts the ``exists`` checks: how often the interfaces were examined."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.checks = 0

    def exists(self, device_path: str) -> bool:
        self.checks += 1
        return super().exists(device_path)


def test_interfaces_are_examined_again_only_when_the_listing_changes_or_time_passes(tree: Tree) -> None:
    tree.write("sys/class/net/eth0/address", "1c:69:7a:0e:5b:21\n")
    tree.write("sys/class/net/wlan0/address", "0c:00:00:00:00:01\n")
    host, now = CountingHost(tree.root), [0.0]
    interfaces = WirelessInterfaces(host, monotonic=lambda: now[0])
    assert interfaces.current() == []
    examined = host.checks
    assert examined > 0
    assert interfaces.current() == []
    assert host.checks == examined  # same listing: nothing examined

    # wlan0's driver finished registering after the listing was examined: seen at the re-examination
    tree.write("sys/class/net/wlan0/phy80211/name", "phy0\n")
    now[0] = WirelessInterfaces.REEXAMINE_S - 1
    assert interfaces.current() == []
    now[0] = WirelessInterfaces.REEXAMINE_S
    assert interfaces.current() == ["wlan0"]

    tree.write("sys/class/net/wlan1/wireless/.keep", "")
    checks = host.checks
    assert interfaces.current() == ["wlan0", "wlan1"]  # a new name: examined at once
    assert host.checks > checks


def test_proc_net_wireless_still_decides_first(tree: Tree) -> None:
    tree.write("sys/class/net/wlp2s0/phy80211/name", "phy0\n")
    interfaces = WirelessInterfaces(HostPaths(tree.root))
    assert interfaces.current() == ["wlp2s0"]
    wireless(tree, "-60.")
    assert interfaces.current() == ["wlan0"]

"""Wi-Fi signal from /proc/net/wireless and link speed from iw or termux-api."""

from __future__ import annotations

import pytest
from collector_helpers import HOSTS, Tree, collector_for

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

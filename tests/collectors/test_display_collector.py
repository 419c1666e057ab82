"""Awake or standby from the DRM connectors' DPMS state (/sys/class/drm/*/dpms)."""

from __future__ import annotations

import pytest
from collector_helpers import HOSTS, Tree, collector_for


def connector(tree: Tree, name: str, dpms: str, status: str = "connected") -> None:
    tree.write(f"sys/class/drm/{name}/dpms", f"{dpms}\n")
    tree.write(f"sys/class/drm/{name}/status", f"{status}\n")


def test_the_pi4_fixture_is_awake_on_its_connected_hdmi_port() -> None:
    snapshot = collector_for(HOSTS / "pi4").collect()
    assert snapshot.awake is True and "awake" not in snapshot.unavailable


@pytest.mark.parametrize(
    ("dpms", "awake"), [("On", True), ("Off", False), ("Standby", False), ("Suspend", False)]
)
def test_the_dpms_state_of_the_connected_display_says_awake_or_standby(
    tree: Tree, dpms: str, awake: bool
) -> None:
    connector(tree, "card1-HDMI-A-1", dpms)
    connector(tree, "card1-HDMI-A-2", "Off", status="disconnected")  # an empty port is not asleep
    assert collector_for(tree.root, platform="linux").collect().awake is awake


def test_a_headless_device_leaves_awake_out_with_the_reason(tree: Tree) -> None:
    connector(tree, "card1-HDMI-A-1", "Off", status="disconnected")
    connector(tree, "card1-Writeback-1", "Off", status="unknown")  # a Pi 5's, never a display
    snapshot = collector_for(tree.root, platform="linux").collect()
    assert snapshot.awake is None
    assert snapshot.unavailable["awake"] == "no display connected (card1-HDMI-A-1, card1-Writeback-1)"


def test_no_drm_at_all_and_android_say_why(tree: Tree) -> None:
    assert collector_for(tree.root, platform="linux").collect().unavailable["awake"] == (
        "no display connector in /sys/class/drm"
    )
    termux = collector_for(HOSTS / "android-phone-termux").collect()
    assert termux.awake is None and termux.unavailable["awake"].startswith("Android does not let apps read")


def test_an_unknown_dpms_word_is_unavailable_not_a_guess(tree: Tree) -> None:
    connector(tree, "card0-HDMI-A-1", "Sleepy")
    snapshot = collector_for(tree.root, platform="linux").collect()
    assert (
        snapshot.awake is None
        and "malformed /sys/class/drm/card0-HDMI-A-1/dpms" in snapshot.unavailable["awake"]
    )

"""Installed app versions through dpkg-query (Debian) or cmd/pm and dumpsys (Android)."""

from __future__ import annotations

from collector_helpers import HOSTS, Tree, collector_for

from edge_agent.model import AppInfo


def test_debian_packages_installed_missing_and_removed() -> None:
    apps = collector_for(HOSTS / "x86-hwmon", apps=["openssh-server", "vlc", "removed-pkg"]).collect().apps
    assert apps == {
        "openssh-server": AppInfo("openssh-server", True, version_name="1:9.2p1-2+deb12u3"),
        "vlc": AppInfo("vlc", False),
        "removed-pkg": AppInfo("removed-pkg", False),
    }


def test_android_versions_come_from_the_package_list_and_dumpsys() -> None:
    collector = collector_for(
        HOSTS / "android-tablet", apps=["com.telecomx.iptv", "com.android.chrome", "x.y"]
    )
    apps = collector.collect().apps
    assert apps["com.telecomx.iptv"] == AppInfo("com.telecomx.iptv", True, None, "2.4.1", 2041)
    assert apps["com.android.chrome"].version_name == "120.0.6099.43"  # the update, not the system image
    assert apps["x.y"] == AppInfo("x.y", False)


def test_termux_without_dump_permission_still_knows_installed_and_version_code() -> None:
    apps = collector_for(HOSTS / "android-phone-termux", apps=["com.telecomx.iptv"]).collect().apps
    assert apps["com.telecomx.iptv"] == AppInfo("com.telecomx.iptv", True, None, None, 2050)


def test_pm_is_the_fallback_where_cmd_is_missing(tree: Tree) -> None:
    tree.write("system/build.prop", "ro.build.version.sdk=28\n")
    tree.program("pm", 'echo "package:org.videolan.vlc versionCode:13040207"\n')
    apps = collector_for(tree.root, apps=["org.videolan.vlc"]).collect().apps
    assert apps["org.videolan.vlc"] == AppInfo("org.videolan.vlc", True, None, None, 13040207)


def test_a_missing_package_manager_makes_apps_unavailable(tree: Tree) -> None:
    snapshot = collector_for(tree.root, apps=["vlc"], platform="linux").collect()
    assert snapshot.apps == {}
    assert snapshot.unavailable["apps"] == "dpkg-query not found"


def test_no_configured_apps_runs_nothing(tree: Tree) -> None:
    marker = tree.root / "ran"
    tree.program("dpkg-query", f"touch {marker}\n")
    snapshot = collector_for(tree.root, extra_path="/usr/bin:/bin", platform="linux").collect()
    assert snapshot.apps == {}
    assert "apps" not in snapshot.unavailable
    assert not marker.exists()


def test_all_lookups_of_a_cycle_share_one_timeout(tree: Tree) -> None:
    calls = tree.root / "dumpsys-calls"
    tree.write("system/build.prop", "ro.build.version.sdk=28\n")
    tree.program("cmd", 'echo "package:a.one versionCode:1"\necho "package:b.two versionCode:2"\n')
    tree.program("dumpsys", f'echo "$2" >> {calls}\nsleep 30\necho "versionName=9"\n')
    snapshot = collector_for(
        tree.root, apps=["a.one", "b.two"], extra_path="/usr/bin:/bin", command_timeout=0.3
    ).collect()
    assert snapshot.apps["a.one"] == AppInfo("a.one", True, None, None, 1)
    assert snapshot.apps["b.two"] == AppInfo("b.two", True, None, None, 2)
    assert calls.read_text().split() == ["a.one"]  # the budget was spent; b.two was not waited for

"""Installed app versions through dpkg-query (Debian) or cmd/pm and dumpsys (Android)."""

from __future__ import annotations

import os

from collector_helpers import HOSTS, Tree, collector_for

from edge_agent.model import AppInfo

SSH_SUMMARY = "secure shell (SSH) server, for secure access from remote machines"


def test_debian_packages_installed_missing_and_removed_through_dpkg_query() -> None:
    apps = collector_for(HOSTS / "x86-hwmon", apps=["openssh-server", "vlc", "removed-pkg"]).collect().apps
    assert apps == {
        "openssh-server": AppInfo("openssh-server", True, SSH_SUMMARY, "1:9.2p1-2+deb12u3"),
        "vlc": AppInfo("vlc", False),
        "removed-pkg": AppInfo("removed-pkg", False),
    }


def test_a_pi_reads_names_and_versions_from_the_dpkg_database_without_a_process() -> None:
    # pi4 has no dpkg-query on its PATH: everything comes from var/lib/dpkg/status.
    apps = collector_for(HOSTS / "pi4", apps=["kodi", "libc6", "vlc", "mpv"]).collect().apps
    assert apps == {
        "kodi": AppInfo("kodi", True, "Open Source Home Theatre (executable binaries)", "2:21.1+dfsg-1+rpt1"),
        "libc6": AppInfo("libc6", True, "GNU C Library: Shared libraries", "2.36-9+rpt2+deb12u9"),
        "vlc": AppInfo("vlc", False),  # deinstall ok config-files
        "mpv": AppInfo("mpv", False),
    }


def test_the_dpkg_database_is_read_again_only_when_dpkg_changed_it(tree: Tree) -> None:
    stanza = "Package: kodi\nStatus: install ok installed\nVersion: {v}\nDescription: Kodi\n long text\n"
    status = tree.write("var/lib/dpkg/status", stanza.format(v="21.1"))
    collector = collector_for(tree.root, apps=["kodi"], platform="linux")
    assert collector.collect().apps["kodi"] == AppInfo("kodi", True, "Kodi", "21.1")
    mtime = status.stat().st_mtime_ns
    status.write_text(stanza.format(v="21.2"))
    os.utime(status, ns=(mtime + 10**9, mtime + 10**9))
    assert collector.collect().apps["kodi"].version_name == "21.2"


def test_a_denied_dpkg_database_falls_back_to_dpkg_query(tree: Tree) -> None:
    tree.write("var/lib/dpkg/status", "Package: kodi\nStatus: install ok installed\nVersion: 1\n")
    tree.write(".denied", "/var/lib/dpkg\n")
    tree.program("dpkg-query", "printf 'kodi\\t2:21.1\\tii \\tKodi media center\\n'\n")
    apps = collector_for(tree.root, apps=["kodi"], platform="linux").collect().apps
    assert apps["kodi"] == AppInfo("kodi", True, "Kodi media center", "2:21.1")


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

"""Display actions on a Pi with a desktop: they appear in the logged-in user's session, or say why not.

The device's PATH holds only the test's ``bin``: fake ``loginctl`` (answers as logind
would), fake ``sudo``/``runuser`` (log their argv, then run what follows ``--`` as the
real ones do), the real ``env`` (linked in: it is what sets the session's variables),
and fake ``notify-send``/``gtk-launch``/``cvlc``/``logger`` that log their argv and the
display variables they were given. ``/run/user``, ``/tmp/.X11-unix``, ``/etc/passwd``
and the installed desktop sessions are a fixture tree under the device's host root.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
from action_device import Device, drain
from pydantic import ValidationError

from edge_agent.actions.desktop import no_new_privileges, parse_session_list
from edge_agent.config import ActionsConfig

SHOWN_ENV = ("WAYLAND_DISPLAY", "DISPLAY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "XAUTHORITY")

LOGGED = """#!{python}
import json, os, sys
SHOWN = {shown!r}
with open({log!r}, "a", encoding="utf-8") as log:
    log.write(json.dumps({{
        "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
        "env": {{name: os.environ[name] for name in SHOWN if name in os.environ}},
    }}) + "\\n")
"""

SWITCHER = (
    LOGGED
    + """
rest = sys.argv[sys.argv.index("--") + 1:]
os.execvp(rest[0], rest)  # as sudo and runuser do: the command after "--", as the user
"""
)

USER_MANAGER = (
    LOGGED
    + """
split = sys.argv.index("--")
for option in sys.argv[1:split]:  # as the user's manager does: the unit gets these variables
    if option.startswith("--setenv="):
        name, _, value = option[len("--setenv="):].partition("=")
        os.environ[name] = value
rest = sys.argv[split + 1:]
os.execvp(rest[0], rest)
"""
)

LOGINCTL = (
    LOGGED
    + """
answers = json.load(open({answers!r}, encoding="utf-8"))
if sys.argv[1] == "list-sessions":
    sys.stdout.write(answers["list"])
elif sys.argv[1] == "show-session" and sys.argv[2] in answers["show"]:
    sys.stdout.write(answers["show"][sys.argv[2]])
else:
    sys.exit(1)
"""
)

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "pi:x:1000:1000:,,,:/home/pi:/bin/bash\n"
    "kiosk:x:1001:1001:Kiosk:/home/kiosk:/bin/bash\n"
)


class Desktop:
    """The device's desktop side: logind's answers, the sockets, the programs that show things."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.log = device.root / "desktop.jsonl"
        self.answers = device.root / "loginctl.json"
        for name in ("notify-send", "gtk-launch", "cvlc", "mpv", "logger"):
            self._write(name, LOGGED)
        for name in ("sudo", "runuser"):
            self._write(name, SWITCHER)
        self._write("systemd-run", USER_MANAGER)
        env = shutil.which("env", path=os.defpath)
        assert env is not None
        (device.bin / "env").symlink_to(env)  # the real one
        self.host("etc/passwd", PASSWD)

    def _write(self, name: str, script: str) -> None:
        path = self.device.bin / name
        path.write_text(
            script.format(
                python=sys.executable, log=str(self.log), shown=SHOWN_ENV, answers=str(self.answers)
            )
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def host(self, device_path: str, text: str = "") -> Path:
        path = self.device.host / device_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def installed(self) -> None:
        """A desktop is installed (Raspberry Pi OS with desktop): its session files exist."""
        self.host("usr/share/wayland-sessions/labwc.desktop", "[Desktop Entry]\nName=labwc\n")

    def logind(self, sessions: list[tuple[str, int, str, dict[str, str]]]) -> None:
        """loginctl answers: (id, uid, user, properties) per session, as systemd 252 prints them."""
        self._write("loginctl", LOGINCTL)
        listing = "".join(
            f"{sid:>7} {uid:>4} {user:<6} seat0  tty7 active  no\n" for sid, uid, user, _ in sessions
        )
        show = {sid: "".join(f"{k}={v}\n" for k, v in props.items()) for sid, _, _, props in sessions}
        self.answers.write_text(json.dumps({"list": listing, "show": show}))

    def calls(self, program: Optional[str] = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]
        return [call for call in lines if program is None or call["argv"][0] == program]


@pytest.fixture
def desktop(device: Device) -> Desktop:
    return Desktop(device)


def graphical(
    kind: str, user: str, *, active: str = "yes", remote: str = "no", display: str = ""
) -> dict[str, str]:
    return {"Type": kind, "Name": user, "Active": active, "Remote": remote, "Display": display}


def test_a_message_appears_in_the_active_wayland_session_of_whoever_is_logged_in(
    device: Device, desktop: Desktop
) -> None:
    desktop.installed()
    desktop.host("run/user/1000/wayland-1")  # Raspberry Pi OS's Wayfire names its socket wayland-1
    desktop.host("run/user/1000/wayland-1.lock")
    desktop.logind(
        [
            ("c1", 0, "root", {"Type": "tty", "Name": "root", "Active": "yes", "Remote": "no"}),
            ("c2", 1001, "kiosk", graphical("x11", "kiosk", remote="yes", display=":10")),  # over xrdp
            ("3", 1000, "pi", graphical("wayland", "pi")),
        ]
    )
    runner = device.runner()
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "Lunch is ready"}, "mqtt")
    drain(runner)

    session_env = [
        "XDG_RUNTIME_DIR=/run/user/1000",
        "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
        "WAYLAND_DISPLAY=wayland-1",
    ]
    notify = ["notify-send", "--app-name=edge-agent", "--", "edge-agent", "Lunch is ready"]
    assert [call["argv"] for call in desktop.calls("sudo")] == [
        ["sudo", "-n", "-u", "pi", "--", "env", *session_env, *notify]
    ]
    (shown,) = desktop.calls("notify-send")
    assert shown["argv"] == notify
    assert shown["env"] == {
        "WAYLAND_DISPLAY": "wayland-1",
        "XDG_RUNTIME_DIR": "/run/user/1000",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
    }
    assert device.state("m-1") == "succeeded"
    (started,) = [e.to_json() for e in device.events if e.type == "action.started"]
    assert started["argv"] == ["sudo", "-n", "-u", "pi", "--", "env", *session_env, *notify]


def test_an_app_starts_in_the_configured_users_x11_session_with_its_display_and_xauthority(
    device: Device, desktop: Desktop
) -> None:
    desktop.installed()
    desktop.logind(
        [
            ("2", 1000, "pi", graphical("wayland", "pi", active="no")),
            ("5", 1001, "kiosk", graphical("x11", "kiosk", display=":1")),
        ]
    )
    runner = device.runner(desktop_user="kiosk")
    runner.submit({"id": "a-1", "type": "START_APP", "app": "chromium"}, "mqtt")
    drain(runner)

    session_env = [
        "XDG_RUNTIME_DIR=/run/user/1001",
        "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1001/bus",
        "DISPLAY=:1",
        "XAUTHORITY=/home/kiosk/.Xauthority",
    ]
    # Started by kiosk's own service manager: outside the agent's cgroup and sandbox.
    (manager,) = desktop.calls("systemd-run")
    assert manager["argv"] == [
        "systemd-run", "--user", "--collect", "--quiet",
        *[f"--setenv={assignment}" for assignment in session_env], "--", "gtk-launch", "chromium",
    ]  # fmt: skip
    assert manager["env"]["DBUS_SESSION_BUS_ADDRESS"] == "unix:path=/run/user/1001/bus"  # finds it
    (started,) = desktop.calls("gtk-launch")
    assert started["argv"] == ["gtk-launch", "chromium"]
    assert started["env"] == {
        "DISPLAY": ":1",
        "XAUTHORITY": "/home/kiosk/.Xauthority",
        "XDG_RUNTIME_DIR": "/run/user/1001",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1001/bus",
    }
    assert desktop.calls("sudo")[0]["argv"][:5] == ["sudo", "-n", "-u", "kiosk", "--"]
    assert device.state("a-1") == "succeeded"


def test_without_loginctl_the_wayland_socket_names_the_user_and_runuser_can_switch(
    device: Device, desktop: Desktop
) -> None:
    desktop.installed()
    desktop.host("run/user/1000/wayland-0")  # no loginctl on PATH: only the sockets tell
    runner = device.runner(desktop_switch=["runuser", "-u", "{desktop_user}", "--", "env", "{session_env}"])
    runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "mqtt")
    drain(runner)

    (switch,) = desktop.calls("runuser")
    assert switch["argv"][:6] == ["runuser", "-u", "pi", "--", "env", "XDG_RUNTIME_DIR=/run/user/1000"]
    (played,) = desktop.calls("cvlc")
    assert played["argv"] == ["cvlc", "--play-and-exit", "--fullscreen", "https://cdn.example.com/a.mp4"]
    assert played["env"]["WAYLAND_DISPLAY"] == "wayland-0"
    assert device.state("v-1") == "succeeded"


def test_an_x11_socket_owned_by_a_user_is_used_when_logind_says_nothing(
    device: Device, desktop: Desktop
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the fixture socket must belong to uid 1000: needs root to chown")
    desktop.installed()
    x0 = desktop.host("tmp/.X11-unix/X0")
    os.chown(x0, 1000, 1000)
    desktop.logind([])
    runner = device.runner()
    runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "mqtt")
    drain(runner)

    (played,) = desktop.calls("cvlc")
    assert played["env"]["DISPLAY"] == ":0" and played["env"]["XAUTHORITY"] == "/home/pi/.Xauthority"


def test_with_a_desktop_installed_but_nobody_logged_in_display_actions_fail_saying_why(
    device: Device, desktop: Desktop
) -> None:
    desktop.installed()
    desktop.logind([("c1", 1000, "pi", {"Type": "tty", "Name": "pi", "Active": "yes", "Remote": "no"})])
    runner = device.runner()
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "hello"}, "mqtt")
    runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "mqtt")
    drain(runner)

    for action_id in ("m-1", "v-1"):
        event = device.last_event(action_id)
        assert event["type"] == "action.failed"
        assert event["reason"] == (
            "no desktop session: nobody is logged in to a graphical session (Wayland or X11) "
            "on this device; sessions seen: pi (tty)"
        )
    assert [call["argv"][0] for call in desktop.calls()] == ["loginctl"] * 4  # nothing was shown
    assert device.event_types("m-1") == ["action.received", "action.failed"]


def test_a_configured_user_without_a_session_is_named_in_the_failure(
    device: Device, desktop: Desktop
) -> None:
    desktop.installed()
    desktop.logind([("4", 1001, "kiosk", graphical("wayland", "kiosk"))])
    runner = device.runner(desktop_user="pi")
    runner.submit({"id": "a-1", "type": "START_APP", "app": "chromium"}, "mqtt")
    drain(runner)

    assert device.last_event("a-1")["reason"] == (
        "no desktop session: pi has no active graphical session (Wayland or X11) on this device; "
        "sessions seen: kiosk (wayland)"
    )
    assert desktop.calls("gtk-launch") == []


def test_on_a_device_without_a_desktop_a_message_goes_to_the_journal_and_a_video_fails(
    device: Device, desktop: Desktop
) -> None:
    runner = device.runner()  # Raspberry Pi OS Lite: no session files, no loginctl session
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "hello"}, "mqtt")
    runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "mqtt")
    drain(runner)

    (logged,) = desktop.calls("logger")
    assert logged["argv"] == ["logger", "--tag", "edge-agent", "--priority", "user.notice", "--", "hello"]
    assert device.state("m-1") == "succeeded"
    assert device.last_event("v-1")["reason"].startswith("no desktop session: this device has no desktop")
    assert desktop.calls("cvlc") == [] and desktop.calls("sudo") == []


def test_a_payload_cannot_choose_the_user_or_the_environment(device: Device, desktop: Desktop) -> None:
    desktop.installed()
    desktop.logind([("3", 1000, "pi", graphical("wayland", "pi"))])
    runner = device.runner()
    runner.submit(
        {
            "id": "m-1",
            "type": "MESSAGE",
            "message": "hi",
            "desktop_user": "root",
            "session_env": "LD_PRELOAD=/tmp/evil.so",
        },
        "mqtt",
    )
    drain(runner)

    (switch,) = desktop.calls("sudo")
    assert switch["argv"][:4] == ["sudo", "-n", "-u", "pi"]
    assert not any("LD_PRELOAD" in element or element == "root" for element in switch["argv"])


def test_a_session_user_that_is_not_a_plain_name_is_refused(device: Device, desktop: Desktop) -> None:
    desktop.installed()
    desktop.logind([("3", 1000, "pi", graphical("wayland", "-oProxyCommand=x"))])
    runner = device.runner()
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "hi"}, "mqtt")
    drain(runner)

    assert device.last_event("m-1")["reason"].startswith("no desktop session: the session's user name")
    assert desktop.calls("sudo") == []


def test_an_agent_already_inside_a_desktop_session_shows_things_itself(
    device: Device, desktop: Desktop
) -> None:
    desktop.logind([("3", 1000, "pi", graphical("wayland", "pi"))])
    runner = device.runner(env={"WAYLAND_DISPLAY": "wayland-0"})  # started from a terminal on the desktop
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "hi"}, "mqtt")
    drain(runner)

    assert [call["argv"][0] for call in desktop.calls()] == ["notify-send"]  # no loginctl, no sudo


def test_an_operators_own_argv_can_run_in_the_session_through_the_same_placeholders(
    device: Device, desktop: Desktop
) -> None:
    desktop.installed()
    desktop.host("run/user/1000/wayland-0")
    desktop.logind([("3", 1000, "pi", graphical("wayland", "pi"))])
    mpv = ["sudo", "-n", "-u", "{desktop_user}", "--", "env", "{session_env}", "mpv", "--fs", "--", "{video}"]
    runner = device.runner(commands={"VIDEO": mpv})
    runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "mqtt")
    drain(runner)

    (played,) = desktop.calls("mpv")
    assert played["argv"] == ["mpv", "--fs", "--", "https://cdn.example.com/a.mp4"]
    assert played["env"]["WAYLAND_DISPLAY"] == "wayland-0"


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"desktop_user": "Pi Admin"}, '"auto", "none" or a user name'),
        ({"desktop_user": "-u"}, '"auto", "none" or a user name'),
        ({"desktop_switch": ["sudo", "-u", "{desktop_user}", "--"]}, "{session_env}"),
        ({"desktop_switch": ["{desktop_user}", "env", "{session_env}"]}, "fixed program"),
        (
            {"desktop_switch": ["env", "{session_env}", "{message}"]},
            "only {desktop_user}, {session_env} and {session_setenv}",
        ),
    ],
)
def test_a_wrong_desktop_setting_is_a_config_error(settings: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError) as error:
        ActionsConfig(**settings)
    assert complaint in str(error.value)


def test_session_lists_of_every_systemd_version_and_garbage_are_read_safely() -> None:
    older = "         3 1000 pi               seat0            \n        c1    0 root          \n"
    newer = "     3 1000 pi   seat0 tty7 active no   -\n"
    hostile = "\x00\x1b[2J\n;rm -rf / 1000 pi\n 7 notanumber pi\n" + "x " * 5000 + "\n"
    assert [(s.session_id, s.uid, s.user) for s in parse_session_list(older)] == [
        ("3", 1000, "pi"),
        ("c1", 0, "root"),
    ]
    assert [(s.session_id, s.uid, s.user) for s in parse_session_list(newer)] == [("3", 1000, "pi")]
    assert parse_session_list(hostile) == []


HARNESS = Path(__file__).with_name("runner_harness.py")


def _no_new_privileges() -> None:
    """In the child, before exec: what systemd's NoNewPrivileges=yes does to the service."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="no_new_privs is a Linux flag")
def test_under_no_new_privileges_sudo_is_not_tried_and_the_failure_says_what_to_install(
    device: Device, desktop: Desktop
) -> None:
    desktop.installed()
    desktop.logind([("3", 1000, "pi", graphical("wayland", "pi"))])
    message = json.dumps({"id": "m-1", "type": "MESSAGE", "message": "hi"})
    done = subprocess.run(
        [sys.executable, str(HARNESS), str(device.root / "nnp.db"), str(device.bin), "{}", message],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EDGE_AGENT_HOST_ROOT": str(device.host)},
        preexec_fn=_no_new_privileges,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [e["type"] for e in events] == ["action.received", "action.failed"], done.stderr
    reason = events[-1]["reason"]
    assert reason.startswith("no desktop session: pi is logged in (wayland), but this service runs with ")
    assert "NoNewPrivileges=yes" in reason and "Desktop actions" in reason
    assert desktop.calls("sudo") == [] and desktop.calls("notify-send") == []


def test_the_no_new_privileges_flag_is_read_from_the_process_status() -> None:
    assert no_new_privileges("Name:\tpython3\nNoNewPrivs:\t1\nSeccomp:\t2\n")
    assert not no_new_privileges("Name:\tpython3\nNoNewPrivs:\t0\n")
    assert not no_new_privileges("Name:\tpython3\n")  # a kernel before 4.10 does not say

"""Finding the desktop session that MESSAGE, START_APP and VIDEO must appear in.

Under systemd the agent has no display: it is a system user with no ``DISPLAY`` and no
``WAYLAND_DISPLAY``. The person in front of the screen is whoever logind says owns the
active graphical session, so that is asked first::

    loginctl list-sessions --no-legend          ->  "3 1000 pi seat0 tty7 ..."
    loginctl show-session 3 -p Type -p Name -p Active -p Remote -p Display

Where loginctl is missing or names no graphical session, the sockets speak instead:
the owner of ``/run/user/<uid>/wayland-*`` (Wayland), else the owner of
``/tmp/.X11-unix/X0`` when that is not root (X11). Both are read under the host root
(``$EDGE_AGENT_HOST_ROOT``, as for the metrics), and users' names and homes come from
that root's ``/etc/passwd``.

The result is a :class:`DesktopSession`: the user to switch to and the ``NAME=value``
assignments (``XDG_RUNTIME_DIR``, ``DBUS_SESSION_BUS_ADDRESS``, ``WAYLAND_DISPLAY`` or
``DISPLAY`` and ``XAUTHORITY``) that the profile's argv hands to ``env``. Nothing here
comes from the network, and nothing here runs a shell: loginctl runs through
:func:`edge_agent.actions.process.run_program` like every action. Where there is no
session, :class:`NoDesktopSession` says why, and the action is ``failed`` with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from edge_agent.actions.process import run_program
from edge_agent.errors import ActionError
from edge_agent.model import Clock

LOGINCTL_TIMEOUT_S = 5.0
MAX_SESSIONS = 16  # a kiosk has one; a shared machine a handful; beyond this is not a desktop
GRAPHICAL = ("wayland", "x11")
HOST_ROOT_ENV = "EDGE_AGENT_HOST_ROOT"

# Linux user names as useradd accepts them; also what [actions] desktop_user must be.
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_DISPLAY = re.compile(r":[0-9]{1,4}(\.[0-9]{1,2})?")
_WAYLAND_SOCKET = re.compile(r"wayland-[0-9]{1,3}")


class NoDesktopSession(ActionError):
    """There is no graphical session to show the action in; the message says why.

    ``headless`` is True on a device with no desktop installed at all (Raspberry Pi OS
    Lite) while ``desktop_user = "auto"``: there a MESSAGE still has a home, the journal.
    """

    def __init__(self, why: str, *, headless: bool = False) -> None:
        super().__init__(f"no desktop session: {why}")
        self.headless = headless


@dataclass(frozen=True)
class DesktopSession:
    """Who sits at the screen, and the environment a program needs to appear there."""

    user: str
    uid: int
    kind: str  # "wayland" or "x11"
    assignments: tuple[str, ...]  # "NAME=value", for `env`


@dataclass(frozen=True)
class _LoginSession:
    session_id: str
    uid: int
    user: str


class DesktopFinder:
    """Finds the session for ``wanted`` ("auto": whoever has the active graphical one).

    ``env`` is the runner's environment (its PATH finds loginctl); ``host_root`` is where
    ``/run/user``, ``/tmp/.X11-unix`` and ``/etc/passwd`` are read.
    """

    def __init__(
        self, wanted: str, *, env: Mapping[str, str], clock: Clock, switch: Sequence[str] = ("sudo",)
    ) -> None:
        self.wanted = wanted
        self.switch = tuple(switch)
        self._env = dict(env)
        self._clock = clock
        self.host_root = Path(env.get(HOST_ROOT_ENV) or "/")

    async def look(self) -> Union[DesktopSession, NoDesktopSession]:
        """The session to use now, or why there is none (returned, for the planner to weigh)."""
        try:
            found, seen = await self._from_logind()
            if found is None:
                found = self._from_sockets()
        except NoDesktopSession as exc:
            return exc
        if found is not None:
            return self._blocked(found) or found
        if self.wanted == "auto" and not self._desktop_installed():
            return NoDesktopSession(
                "this device has no desktop (no session in /usr/share/wayland-sessions or "
                "/usr/share/xsessions), and nobody is logged in to one",
                headless=True,
            )
        return NoDesktopSession(self._why_none(seen))

    def _blocked(self, session: DesktopSession) -> Optional[NoDesktopSession]:
        """Why ``desktop_switch`` cannot work in this process, said before it is tried."""
        program = self.switch[0].rsplit("/", 1)[-1] if self.switch else ""
        if program == "sudo" and no_new_privileges():
            return NoDesktopSession(
                f"{session.user} is logged in ({session.kind}), but this service runs with "
                "NoNewPrivileges=yes, so sudo cannot switch to that user: install the unit's desktop "
                "drop-in and sudoers rule (docs/actions.md, Desktop actions), or set "
                '[actions] desktop_user = "none"',
                headless=False,
            )
        if program == "runuser" and os.geteuid() != 0:
            return NoDesktopSession(
                f"{session.user} is logged in ({session.kind}), but runuser needs root and this agent "
                "is not: use the sudo desktop_switch (docs/actions.md, Desktop actions)"
            )
        return None

    def _desktop_installed(self) -> bool:
        for folder in ("wayland-sessions", "xsessions"):
            try:
                if any(
                    entry.suffix == ".desktop" for entry in (self.host_root / "usr/share" / folder).iterdir()
                ):
                    return True
            except OSError:
                continue
        return False

    # -- logind -------------------------------------------------------------------------

    async def _from_logind(self) -> tuple[Optional[DesktopSession], list[str]]:
        """The first active, local graphical session of the wanted user; and what else was seen."""
        listing = await self._loginctl("list-sessions", "--no-legend")
        if listing is None:
            return None, []
        seen: list[str] = []
        for session in parse_session_list(listing)[:MAX_SESSIONS]:
            shown = await self._loginctl(
                "show-session", session.session_id, "-p", "Type", "-p", "Name", "-p", "Active",
                "-p", "Remote", "-p", "Display",
            )  # fmt: skip
            if shown is None:
                continue
            properties = parse_properties(shown)
            kind = properties.get("Type", "")
            user = properties.get("Name") or session.user
            if kind not in GRAPHICAL:
                seen.append(f"{user} ({kind or 'unknown'})")
                continue
            if properties.get("Active") != "yes" or properties.get("Remote") == "yes":
                seen.append(f"{user} ({kind}, not active here)")
                continue
            if self.wanted != "auto" and user != self.wanted:
                seen.append(f"{user} ({kind})")
                continue
            display = properties.get("Display", "")
            return self._session(user, session.uid, kind, display), seen
        return None, seen

    async def _loginctl(self, *args: str) -> Optional[str]:
        """loginctl's output, or None where it is missing or fails (then the sockets are asked)."""
        try:
            outcome = await run_program(
                ["loginctl", *args], timeout=LOGINCTL_TIMEOUT_S, env=self._env, clock=self._clock
            )
        except ActionError:
            return None
        return outcome.stdout_tail if outcome.ok else None

    # -- sockets ------------------------------------------------------------------------

    def _from_sockets(self) -> Optional[DesktopSession]:
        runtime = self.host_root / "run" / "user"
        try:
            uids = sorted(int(entry.name) for entry in runtime.iterdir() if entry.name.isdigit())
        except OSError:
            uids = []
        for uid in uids:
            if self._socket(runtime / str(uid)) is None:
                continue
            user = self._passwd().get(uid)
            if user is not None and self.wanted in ("auto", user[0]):
                return self._session(user[0], uid, "wayland", "")
        x0 = self.host_root / "tmp" / ".X11-unix" / "X0"
        try:
            owner = x0.stat().st_uid
        except OSError:
            return None
        user = self._passwd().get(owner)
        if owner != 0 and user is not None and self.wanted in ("auto", user[0]):
            return self._session(user[0], owner, "x11", ":0")
        return None

    def _socket(self, runtime_dir: Path) -> Optional[str]:
        """The first ``wayland-N`` socket in a runtime folder (None: none, or not ours to read)."""
        try:
            names = sorted(entry.name for entry in runtime_dir.iterdir())
        except OSError:
            return None
        return next((name for name in names if _WAYLAND_SOCKET.fullmatch(name)), None)

    # -- the result -----------------------------------------------------------------------

    def _session(self, user: str, uid: int, kind: str, display: str) -> DesktopSession:
        if not USER_NAME.fullmatch(user):
            raise NoDesktopSession(f"the session's user name {user[:40]!r} is not a plain user name")
        runtime = f"/run/user/{uid}"
        assignments = [f"XDG_RUNTIME_DIR={runtime}", f"DBUS_SESSION_BUS_ADDRESS=unix:path={runtime}/bus"]
        home = self._passwd().get(uid, (user, ""))[1]
        if kind == "wayland":
            # The socket's name when we may look (root, or the user's own agent); else the
            # compositors' default. Raspberry Pi OS's Wayfire uses wayland-1, labwc wayland-0.
            socket = self._socket(self.host_root / "run" / "user" / str(uid)) or "wayland-0"
            assignments.append(f"WAYLAND_DISPLAY={socket}")
            if (self.host_root / "tmp" / ".X11-unix" / "X0").exists():
                assignments.append("DISPLAY=:0")  # Xwayland, for players that speak only X11
        else:
            assignments.append(f"DISPLAY={display if _DISPLAY.fullmatch(display) else ':0'}")
            if home.startswith("/") and ".." not in home:
                assignments.append(f"XAUTHORITY={home.rstrip('/')}/.Xauthority")
        return DesktopSession(user=user, uid=uid, kind=kind, assignments=tuple(assignments))

    def _passwd(self) -> dict[int, tuple[str, str]]:
        """uid -> (name, home) from the host root's /etc/passwd (world-readable everywhere)."""
        try:
            text = (self.host_root / "etc" / "passwd").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
        return parse_passwd(text)

    def _why_none(self, seen: list[str]) -> str:
        where = "; sessions seen: " + ", ".join(seen[:MAX_SESSIONS]) if seen else ""
        if self.wanted == "auto":
            return f"nobody is logged in to a graphical session (Wayland or X11) on this device{where}"
        return f"{self.wanted} has no active graphical session (Wayland or X11) on this device{where}"


def no_new_privileges(status: Optional[str] = None) -> bool:
    """Whether this process runs with the no_new_privs flag (systemd's NoNewPrivileges=yes)."""
    if status is None:
        try:
            status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
        except OSError:
            return False
    return any(line.split() == ["NoNewPrivs:", "1"] for line in status.splitlines())


def parse_session_list(text: str) -> list[_LoginSession]:
    """``loginctl list-sessions --no-legend``: session id, uid and user of each line.

    Any number of further columns (seat, tty, state, idle, since: they vary between
    systemd versions) is ignored; a line that does not fit is skipped.
    """
    sessions = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and re.fullmatch(r"[A-Za-z0-9_-]{1,32}", fields[0]) and fields[1].isdigit():
            sessions.append(_LoginSession(fields[0], int(fields[1]), fields[2]))
    return sessions


def parse_properties(text: str) -> dict[str, str]:
    """``loginctl show-session -p ...``: ``Name=value`` lines."""
    properties: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.isidentifier():
            properties[name] = value.strip()
    return properties


def parse_passwd(text: str) -> dict[int, tuple[str, str]]:
    """uid -> (name, home) of each well-formed ``/etc/passwd`` line."""
    users: dict[int, tuple[str, str]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[2].isdigit() and fields[0]:
            users.setdefault(int(fields[2]), (fields[0], fields[5]))
    return users


__all__ = [
    "DesktopFinder",
    "DesktopSession",
    "NoDesktopSession",
    "no_new_privileges",
    "parse_passwd",
    "parse_properties",
    "parse_session_list",
]

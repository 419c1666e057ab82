"""The installed version and name of the configured apps, for the IPTV heartbeat's ``appStatus``.

* Debian / Raspberry Pi OS: dpkg's own database, ``/var/lib/dpkg/status`` under the host
  root, read without starting a process and parsed again only when dpkg has changed it
  (its size or modification time); only the configured packages' stanzas are kept.
  Installed means the third word of ``Status`` is ``installed`` (a package removed with
  its config kept, ``deinstall ok config-files``, is not); ``name`` is the first line of
  ``Description`` (dpkg's "summary"). Where that file cannot be read, one ``dpkg-query -W``
  call for all packages through the bounded, cached runner (``[metrics] command_cache``)
  tells the same, with ``${binary:Summary}`` as the name.
* Android (Termux): ``cmd package list packages --show-versioncode`` (``pm`` where ``cmd``
  is missing) says what is installed and its versionCode, one call for all; then
  ``dumpsys package <pkg>`` adds the versionName. Apps without the DUMP permission
  (Termux is one) get a "Permission Denial" there, so the versionName may stay null.
  ``name`` stays null: the application label lives in the APK's resources, which only
  the PackageManager API (not ``cmd``, ``pm`` or ``dumpsys``) resolves.

All the calls of one cycle share one ``command_timeout`` deadline, so many apps cannot
stretch a cycle. A package manager that is missing makes ``apps`` unavailable.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import ClassVar, Optional

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.collectors.commands import CommandRunner
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable
from edge_agent.model import AppInfo, Clock

log = logging.getLogger(__name__)

DPKG_FORMAT = r"--showformat=${Package}\t${Version}\t${db:Status-Abbrev}\t${binary:Summary}\n"
DPKG_STATUS = "/var/lib/dpkg/status"
MAX_SUMMARY = 200  # one line for a person; a hostile Description must not fill a heartbeat

_LISTED = re.compile(r"^package:(\S+)(?:\s+versionCode:(\d+))?", re.MULTILINE)
_VERSION_NAME = re.compile(r"^\s*versionName=(\S+)", re.MULTILINE)
_VERSION_CODE = re.compile(r"^\s*versionCode=(\d+)", re.MULTILINE)


def parse_dpkg_query(packages: Sequence[str], text: str) -> dict[str, AppInfo]:
    """Each configured package from ``dpkg-query -W`` output in :data:`DPKG_FORMAT`."""
    known: dict[str, tuple[str, str, str]] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3:
            known[fields[0]] = (fields[1], fields[2], fields[3] if len(fields) > 3 else "")
    apps: dict[str, AppInfo] = {}
    for package in packages:
        version, status, summary = known.get(package, ("", "", ""))
        installed = len(status) >= 2 and status[1] == "i"
        apps[package] = _debian_app(package, installed, version, summary)
    return apps


def parse_dpkg_status(packages: Sequence[str], lines: Iterable[str]) -> dict[str, AppInfo]:
    """Each configured package from dpkg's status database (RFC 822-style stanzas).

    Only the stanzas of ``packages`` are kept, so a desktop's 5 MB database costs no more
    memory than the few apps asked about. With several architectures of one package
    (multiarch), an installed one wins.
    """
    wanted = set(packages)
    found: dict[str, AppInfo] = {}
    stanza: dict[str, str] = {}
    for line in itertools.chain(lines, [""]):
        if not line.strip():
            name = stanza.get("Package", "")
            if name in wanted and not (name in found and found[name].installed):
                words = stanza.get("Status", "").split()
                installed = len(words) == 3 and words[2] == "installed"
                found[name] = _debian_app(
                    name, installed, stanza.get("Version", ""), stanza.get("Description", "")
                )
            stanza = {}
            continue
        if line[0] in " \t":
            continue  # a continuation line: only the first line of a field is used
        key, sep, value = line.partition(":")
        if sep and key in ("Package", "Status", "Version", "Description"):
            stanza[key] = value.strip()
    return {package: found.get(package, AppInfo(package=package, installed=False)) for package in packages}


def _debian_app(package: str, installed: bool, version: str, summary: str) -> AppInfo:
    if not installed:
        return AppInfo(package=package, installed=False)
    return AppInfo(
        package=package,
        installed=True,
        name=summary.strip()[:MAX_SUMMARY] or None,
        version_name=version or None,
    )


def parse_package_list(text: str) -> dict[str, Optional[int]]:
    """Installed Android packages -> versionCode (None when the list did not carry it)."""
    return {
        match.group(1): int(match.group(2)) if match.group(2) else None for match in _LISTED.finditer(text)
    }


def parse_dumpsys_versions(text: str) -> tuple[Optional[str], Optional[int]]:
    """(versionName, versionCode) from ``dumpsys package <pkg>``; the first block is the live one."""
    name = _VERSION_NAME.search(text)
    code = _VERSION_CODE.search(text)
    return (name.group(1) if name else None, int(code.group(1)) if code else None)


class Deadline:
    """What is left of one shared time budget."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._end = clock.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock.monotonic())


class DpkgDatabase:
    """dpkg's status file under the host root, parsed again only when dpkg has rewritten it."""

    def __init__(self, host: HostPaths) -> None:
        self._host = host
        self._seen: Optional[tuple[int, int, tuple[str, ...]]] = None  # mtime_ns, size, packages
        self._apps: dict[str, AppInfo] = {}

    def available(self) -> bool:
        return self._host.exists(DPKG_STATUS)

    def apps(self, packages: Sequence[str]) -> dict[str, AppInfo]:
        path = self._host.path(DPKG_STATUS)
        try:
            info = os.stat(path)
            key = (info.st_mtime_ns, info.st_size, tuple(packages))
            if key != self._seen:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    self._apps = parse_dpkg_status(packages, handle)
                self._seen = key
        except PermissionError as exc:
            raise SensorUnavailable(f"permission denied: {DPKG_STATUS}") from exc
        except OSError as exc:
            raise SensorUnavailable(f"cannot read {DPKG_STATUS}: {exc.strerror or exc}") from exc
        return dict(self._apps)


def debian_apps(commands: CommandRunner, packages: Sequence[str], deadline: Deadline) -> dict[str, AppInfo]:
    result = commands.run(("dpkg-query", "-W", DPKG_FORMAT, *packages), timeout=deadline.remaining())
    # dpkg-query exits 1 when some package is unknown, and still lists the others.
    if result.returncode not in (0, 1):
        raise SensorUnavailable(f"dpkg-query failed (exit {result.returncode})")
    return parse_dpkg_query(packages, result.stdout)


def android_apps(commands: CommandRunner, packages: Sequence[str], deadline: Deadline) -> dict[str, AppInfo]:
    lister = "cmd" if commands.available("cmd") else "pm"
    argv = ("cmd", "package") if lister == "cmd" else ("pm",)
    listed = commands.run((*argv, "list", "packages", "--show-versioncode"), timeout=deadline.remaining())
    if not listed.ok:
        raise SensorUnavailable(f"{lister} list packages failed (exit {listed.returncode})")
    installed = parse_package_list(listed.stdout)
    apps: dict[str, AppInfo] = {}
    for package in packages:
        if package not in installed:
            apps[package] = AppInfo(package=package, installed=False)
            continue
        version_name, version_code = _dumpsys_versions(commands, package, deadline)
        apps[package] = AppInfo(
            package=package,
            installed=True,
            version_name=version_name,
            version_code=installed[package] if installed[package] is not None else version_code,
        )
    return apps


def _dumpsys_versions(
    commands: CommandRunner, package: str, deadline: Deadline
) -> tuple[Optional[str], Optional[int]]:
    if deadline.remaining() <= 0:
        log.debug("no time left for dumpsys package %s", package)
        return None, None
    try:
        result = commands.run(("dumpsys", "package", package), timeout=deadline.remaining())
    except SensorUnavailable as exc:
        log.debug("versionName of %s unknown: %s", package, exc.reason)
        return None, None
    return parse_dumpsys_versions(result.stdout) if result.ok else (None, None)


class AppsCollector:
    """Installed/not and the version of every configured app."""

    keys: ClassVar[tuple[str, ...]] = ("apps",)

    def __init__(self, context: CollectorContext) -> None:
        self._packages = context.apps
        self._commands = context.commands
        self._clock = context.clock
        self._timeout = context.config.command_timeout
        self._android = context.platform == "termux"
        self._dpkg = DpkgDatabase(context.host)
        self.may_wait = bool(self._packages)

    def read(self) -> Reading:
        reading = Reading()
        if not self._packages:
            reading.values["apps"] = {}
            return reading
        deadline = Deadline(self._clock, self._timeout)
        with reading.guard("apps"):
            if not self._android and self._dpkg.available():
                reading.values["apps"] = self._dpkg.apps(self._packages)
                return reading
            lookup = android_apps if self._android else debian_apps
            reading.values["apps"] = lookup(self._commands, self._packages, deadline)
        return reading

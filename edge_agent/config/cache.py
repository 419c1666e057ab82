"""The validated config kept on disk, so that a restart with nothing changed skips pydantic.

``edge-agent run`` validates its config with pydantic: about 0.2 s here and more on a Pi
Zero, at every boot and every service restart, for a file that rarely changes. After a
validation that passed (and the path checks after it), ``run`` keeps the result here as
the plain objects of :mod:`edge_agent.plain_config`, with a manifest of everything the
result depended on; the next ``run`` of the same file reads the manifest, reads those
sources again, and when every one is unchanged runs the kept config without importing
pydantic at all. What the manifest holds (:meth:`ConfigCache.key` and the validation's
:class:`~edge_agent.config.sources.Reads`):

- the config file's absolute path and the real path it resolves to, and a digest of its
  bytes;
- each secret file read (path, digest of its bytes) and each environment variable read
  (name, digest of its value, or that it was unset): ``*_env`` secrets, the defaults'
  ``EDGE_AGENT_HOST_ROOT``, ``STATE_DIRECTORY``, ``XDG_STATE_HOME``, ``HOME``;
- the code: edge-agent's version and the path, size and mtime of every ``.py`` file of
  the package (an upgrade or an edit), the installed versions of pydantic and its
  companions, ``sys.version``;
- the host name (the default device id), the user ids and ``/etc/passwd``'s size and
  mtime (where ``~`` leads).

Any difference, or anything unusual about the file, is a miss: ``run`` validates as
before and writes the entry again. Written only then (once per change: a Pi's SD card
sees no write at an ordinary boot), atomically (temporary file, fsync, rename), mode 0600
in a 0700 folder: ``$CACHE_DIRECTORY`` (systemd's ``CacheDirectory=``), else
``$XDG_CACHE_HOME/edge-agent``, else ``~/.cache/edge-agent``; one file per config path.
The entry holds the secrets (the agent needs them to run), so it is read only when it
and its folder belong to this user, are closed to everyone else, are no symlink and no
larger than :data:`MAX_BYTES`; its config is unpickled by a loader that builds nothing
but the plain config's own classes. A folder that cannot be made or written is said once
(info) and costs only the time saved. ``EDGE_AGENT_CONFIG_CACHE=0`` turns it off.

Nothing here imports pydantic (the miss path's caller has it loaded already).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from edge_agent import __version__
from edge_agent.config.sources import Reads, digest, text_digest

log = logging.getLogger("edge_agent.config.cache")

SWITCH = "EDGE_AGENT_CONFIG_CACHE"
"""``0`` turns the cache off: every ``run`` validates, nothing is read or written."""
FORMAT = b"edge-agent config cache 1\n"
"""The first line of an entry; another (an older or newer release's format) is a miss."""
MAX_BYTES = 1 << 20
"""An entry larger than this is refused (a config with its secrets is a few kilobytes)."""
LIBRARIES = (
    "pydantic",
    "pydantic_core",
    "typing_extensions",
    "annotated_types",
    "typing_inspection",
    "tomli",
)
"""Whose installed versions (their ``.dist-info`` names beside pydantic) validation depends on."""
PASSWD = "/etc/passwd"


@dataclass(frozen=True)
class Cached:
    """A config from the cache: the plain config, and the secret key names the models gave."""

    config: Any
    secret_names: dict[str, list[str]]


def enabled(env: Mapping[str, str]) -> bool:
    return env.get(SWITCH, "1") != "0"


def cache_folder(env: Mapping[str, str]) -> Optional[Path]:
    """systemd's ``$CACHE_DIRECTORY``, else ``$XDG_CACHE_HOME/edge-agent``, else ``~/.cache/edge-agent``."""
    systemd = env.get("CACHE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    xdg = env.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG rule: a relative value is ignored
        return Path(xdg) / "edge-agent"
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".cache" / "edge-agent" if os.path.isabs(home) else None


class ConfigCache:
    """The one cache entry of one config file (see the module's docstring)."""

    def __init__(self, config_path: Path, folder: Path) -> None:
        self.config_path = Path(os.path.abspath(config_path))
        self.folder = folder
        name = digest(str(self.config_path).encode("utf-8", "surrogateescape"))[:32]
        self.entry = folder / f"config-{name}"
        # Taken now, before any validation: a change while validating leaves an entry
        # that no later start matches, never one that matches what was not validated.
        self.key = self._key()

    @classmethod
    def for_config(cls, config_path: Path, env: Mapping[str, str] = os.environ) -> Optional[ConfigCache]:
        """The cache of ``config_path``, or None when it is turned off or has no place."""
        if not enabled(env):
            return None
        folder = cache_folder(env)
        if folder is None:
            return None
        try:
            return cls(config_path, folder)
        except Exception as exc:  # the key could not be taken (a file vanished): run as without
            log.info("config cache: not used this time (%s)", exc)
            return None

    # -- the key --------------------------------------------------------------------------

    def _key(self) -> dict[str, Any]:
        """What the result depends on besides what validation reads (:class:`Reads`)."""
        return {
            "config": str(self.config_path),
            "real": os.path.realpath(self.config_path),
            "version": __version__,
            "code": code_fingerprint(),
            "libraries": library_versions(),
            "python": sys.version,
            "uids": [os.getuid(), os.geteuid()],
            "host": os.uname().nodename,
            "passwd": _stat_key(PASSWD),
        }

    # -- reading --------------------------------------------------------------------------

    def load(self) -> Optional[Cached]:
        """The kept config when its entry is sound and every source is unchanged; else None (a miss)."""
        try:
            return self._load()
        except _Refused as exc:
            log.info("config cache: %s is not used (%s): validating the config", self.entry, exc)
        except _Stale as exc:
            log.debug("config cache: %s; validating the config", exc)
        except Exception as exc:  # a cache never stops a start: anything odd is a miss
            log.info("config cache: %s cannot be read (%s): validating the config", self.entry, exc)
        return None

    def _load(self) -> Cached:
        _check_private(self.folder, stat.S_ISDIR, "folder")
        try:
            fd = os.open(self.entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            raise _Stale("no entry yet") from None
        except OSError as exc:
            raise _Refused(f"cannot be opened: {exc.strerror}") from exc  # ELOOP: a symlink
        with os.fdopen(fd, "rb") as handle:
            _check_private_stat(os.fstat(fd), stat.S_ISREG, "file")
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise _Refused(f"larger than {MAX_BYTES} bytes")
        manifest, payload = _split(data)
        if manifest.get("key") != self.key:
            raise _Stale("the code, the config path or the host changed since it was written")
        if manifest.get("payload") != {"size": len(payload), "sha256": digest(payload)}:
            raise _Refused("its config is truncated or corrupt")
        changed = _changed_source(manifest)
        if changed:
            raise _Stale(changed)
        from edge_agent.plain_config import Plain, loads_restricted

        config = loads_restricted(payload)
        if not isinstance(config, Plain) or getattr(config, "_kind", None) != "Config":
            raise _Refused("it holds no config")
        names = manifest.get("secret_names")
        if not isinstance(names, dict):
            raise _Refused("it holds no secret key names")
        log.info("config cache: %s unchanged since it was validated: not validated again", self.config_path)
        return Cached(config, names)

    # -- writing --------------------------------------------------------------------------

    def save(self, reads: Reads, payload: bytes, secret_names: dict[str, list[str]]) -> bool:
        """Keep a validated config (``payload``: :func:`~edge_agent.plain_config.dumps`); True when kept.

        Only for a config that passed validation and the path checks. Never raises: a
        folder that cannot be made or written is said once, at info, and the run goes on.
        """
        if not reads.complete:
            log.debug("config cache: validation read the whole environment; not kept")
            return False
        manifest = {
            "key": self.key,
            "files": reads.files,
            "env": reads.env,
            "secret_names": secret_names,
            "payload": {"size": len(payload), "sha256": digest(payload)},
        }
        data = FORMAT + json.dumps(manifest, sort_keys=True).encode("utf-8") + b"\n" + payload
        if len(data) > MAX_BYTES:
            log.info("config cache: the validated config is larger than %d bytes; not kept", MAX_BYTES)
            return False
        try:
            self._make_folder()
            self._write(data)
        except (OSError, _Refused) as exc:
            log.info("config cache: cannot keep the validated config in %s (%s)", self.folder, exc)
            return False
        log.debug("config cache: kept the validated config in %s", self.entry)
        return True

    def _make_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(self.folder)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o077:
            os.chmod(self.folder, 0o700)  # ours, made by hand or an older umask: close it
            info = os.lstat(self.folder)
        _check_private_stat(info, stat.S_ISDIR, "folder")

    def _write(self, data: bytes) -> None:
        temporary = self.folder / f".{self.entry.name}.{os.getpid()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temporary, flags, 0o600)
        except FileExistsError:  # left by a process of the same pid that died writing it
            os.unlink(temporary)
            fd = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(fd, 0o600)
                handle.write(data)
                handle.flush()
                os.fsync(fd)  # never a renamed entry without its bytes after a power cut
            os.replace(temporary, self.entry)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


class _Stale(Exception):
    """An ordinary miss: no entry, or something it depends on changed."""


class _Refused(Exception):
    """An entry not to be trusted or not readable: a miss, said at info."""


def _check_private(path: Path, kind: Any, what: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise _Stale("no cache folder yet") from None
    _check_private_stat(info, kind, what)


def _check_private_stat(info: os.stat_result, kind: Any, what: str) -> None:
    """This user's own ``what`` (a folder or a regular file, no symlink), closed to group and others."""
    if not kind(info.st_mode):
        raise _Refused(f"the {what} is a {'symlink' if stat.S_ISLNK(info.st_mode) else 'wrong kind of file'}")
    if info.st_uid != os.geteuid():
        raise _Refused(f"the {what} belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})")
    if info.st_mode & 0o077:
        raise _Refused(f"the {what} is open to its group or others (mode {stat.S_IMODE(info.st_mode):04o})")
    if what == "file" and info.st_nlink != 1:
        raise _Refused("the file has other hard links")


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The manifest and the pickled config of an entry."""
    if not data.startswith(FORMAT):
        raise _Refused("another format (an older or newer release's)")
    line, newline, payload = data[len(FORMAT) :].partition(b"\n")
    if not newline:
        raise _Refused("truncated")
    try:
        manifest = json.loads(line)
    except ValueError as exc:
        raise _Refused("its manifest is corrupt") from exc
    if not isinstance(manifest, dict):
        raise _Refused("its manifest is corrupt")
    return manifest, payload


def _changed_source(manifest: dict[str, Any]) -> Optional[str]:
    """What validation read that is no longer the same (a file or a variable), or None."""
    files, env = manifest.get("files"), manifest.get("env")
    if not isinstance(files, dict) or not isinstance(env, dict) or not files:
        return "the manifest lists no sources"
    for path, expected in files.items():
        try:
            with open(path, "rb") as handle:
                now = digest(handle.read(MAX_BYTES + 1))
        except OSError:
            return f"{path} cannot be read now"
        if now != expected:
            return f"{path} changed"
    for name, expected in env.items():
        if text_digest(os.environ.get(name)) != expected:
            return f"the variable {name} changed"
    return None


def _stat_key(path: str) -> Optional[list[int]]:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def code_fingerprint() -> str:
    """A digest of the path, size and mtime of every ``.py`` file of the edge_agent package.

    Any edit or upgrade of the code that validates changes it; reading it is a few hundred
    ``stat`` calls (about a millisecond), not reading the files.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts: list[str] = []
    for folder, subfolders, files in os.walk(package):
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except FileNotFoundError:  # removed while walking (an upgrade): its absence counts
                    continue
                parts.append(f"{os.path.relpath(path, package)}\0{info.st_size}\0{info.st_mtime_ns}")
    return digest("\n".join([package, *parts]).encode("utf-8", "surrogateescape"))


def library_versions() -> list[str]:
    """The ``.dist-info`` names (name and version) of :data:`LIBRARIES` where pydantic is installed.

    Found without importing pydantic: its folder is located as an import would locate it.
    """
    from importlib.machinery import PathFinder

    spec = PathFinder.find_spec("pydantic")
    if spec is None or spec.origin is None:
        return []
    site = os.path.dirname(os.path.dirname(spec.origin))
    prefixes = tuple(f"{name}-" for name in LIBRARIES)
    try:
        return sorted(
            name
            for name in os.listdir(site)
            if name.endswith(".dist-info") and name.lower().startswith(prefixes)
        )
    except OSError:
        return []

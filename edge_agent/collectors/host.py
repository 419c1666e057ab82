"""Where the collectors read the machine from: a host root, and the platform it is.

Every ``/proc`` and ``/sys`` path a collector reads goes through :class:`HostPaths`, so
the same code reads the live machine (root ``/``), a container's bind-mounted host, or
a fixture tree under ``tests/fixtures/hosts/<case>/`` laid out as on a real device.
Read errors become :class:`~edge_agent.errors.SensorUnavailable` here, in one place,
with a reason that names the device path (``/proc/stat``), never the fixture path.

The one test seam: a fixture cannot make a file unreadable with ``chmod`` (the tests may
run as root, which ignores modes), so a tree that is not ``/`` may list device paths in a
``.denied`` file at its root, one per line; reading such a path, or anything under it,
raises ``PermissionError`` exactly as SELinux does on Android. The live root never
consults that file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Optional, Union

from edge_agent.errors import SensorUnavailable

DENIED_LIST = ".denied"

PLATFORMS = ("linux", "termux")


READ_CHUNK = 65536
"""Bytes asked for per ``read``: a sysfs value or most ``/proc`` files in one call."""


def _read_all(path: str) -> bytes:
    """The whole file, with a bare descriptor: no buffered file object per read.

    ``open(path, "rb").read()`` costs five more system calls per file (``fstat`` twice,
    the ``isatty`` ioctl, two ``lseek``) and a file object; a metrics cycle reads a dozen
    files, every second at the shortest interval (issue 15). Same bytes, same errors.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class HostPaths:
    """A host root and the few ways the collectors read files under it."""

    def __init__(self, root: Union[str, Path] = "/") -> None:
        self.root = Path(root)
        self.is_live = self.root.resolve() == Path("/")
        # Plain string joins: pathlib's were most of a cycle's CPU time on a Pi.
        self._prefix = "" if self.is_live else str(self.root).rstrip("/")
        self._denied = () if self.is_live else self._load_denied()

    def __repr__(self) -> str:
        return f"HostPaths({str(self.root)!r})"

    def path(self, device_path: str) -> str:
        """The file that holds ``device_path`` (``/proc/stat``) under this root."""
        return self._prefix + "/" + device_path.lstrip("/")

    def read_text(self, device_path: str) -> str:
        """The whole file; raises SensorUnavailable with a reason naming ``device_path``."""
        self._check_allowed(device_path)
        try:
            data = _read_all(self.path(device_path))
        except FileNotFoundError as exc:
            raise SensorUnavailable(f"{device_path} not found") from exc
        except PermissionError as exc:
            raise SensorUnavailable(f"permission denied: {device_path}") from exc
        except OSError as exc:
            # sysfs answers EIO/EINVAL/ENODATA for sensors that exist but cannot be read now.
            raise SensorUnavailable(f"cannot read {device_path}: {exc.strerror or exc}") from exc
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SensorUnavailable(f"{device_path} is not text") from exc

    def read_line(self, device_path: str) -> str:
        """The first line without surrounding blanks: what every one-value sysfs file holds."""
        return self.read_text(device_path).strip().split("\n", 1)[0].strip()

    def read_int(self, device_path: str) -> int:
        """A sysfs file that holds one integer."""
        line = self.read_line(device_path)
        try:
            return int(line)
        except ValueError as exc:
            raise SensorUnavailable(f"malformed {device_path}: {line[:40]!r}") from exc

    def exists(self, device_path: str) -> bool:
        """Whether the path is there and not declared denied."""
        return not self._is_denied(device_path) and os.path.exists(self.path(device_path))

    def list_dir(self, device_dir: str, pattern: str = "*") -> list[str]:
        """Device paths of the entries of ``device_dir`` matching ``pattern``, in natural order.

        Natural order puts ``thermal_zone10`` after ``thermal_zone9``. A directory that does
        not exist is an empty list (the device has none of those); a denied one raises.
        """
        self._check_allowed(device_dir)
        try:
            names = os.listdir(self.path(device_dir))
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            return []
        except PermissionError as exc:
            raise SensorUnavailable(f"permission denied: {device_dir}") from exc
        except OSError as exc:
            raise SensorUnavailable(f"cannot list {device_dir}: {exc.strerror or exc}") from exc
        matcher = re.compile(_glob_to_regex(pattern))
        base = device_dir.rstrip("/")
        return [f"{base}/{name}" for name in sorted(names, key=natural_key) if matcher.fullmatch(name)]

    def _check_allowed(self, device_path: str) -> None:
        if self._is_denied(device_path):
            raise SensorUnavailable(f"permission denied: {device_path}")

    def _is_denied(self, device_path: str) -> bool:
        if not self._denied:
            return False
        clean = "/" + device_path.strip("/")
        return any(clean == denied or clean.startswith(denied + "/") for denied in self._denied)

    def _load_denied(self) -> tuple[str, ...]:
        try:
            text = (self.root / DENIED_LIST).read_text(encoding="utf-8")
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise SensorUnavailable(f"cannot read the fixture's {DENIED_LIST}: {exc.strerror}") from exc
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return tuple("/" + line.strip("/") for line in lines if line)


def natural_key(name: str) -> list[Union[int, str]]:
    """Sort key that orders embedded numbers by value (``hwmon2`` before ``hwmon10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _glob_to_regex(pattern: str) -> str:
    return "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)


def detect_platform(configured: str, host: HostPaths, environ: Optional[Mapping[str, str]] = None) -> str:
    """``linux`` or ``termux``: what ``[metrics] platform = "auto"`` means on this host.

    Termux is recognised by its own environment (``TERMUX_VERSION``, a ``PREFIX`` inside
    ``com.termux``) or, for a host tree read from outside, by Android's
    ``/system/build.prop``. The platform only decides which helper programs are worth
    asking (termux-api, ``cmd package``) when ``/proc`` and ``/sys`` do not answer.
    """
    if configured in PLATFORMS:
        return configured
    env = os.environ if environ is None else environ
    if env.get("TERMUX_VERSION") or "com.termux" in env.get("PREFIX", ""):
        return "termux"
    if host.exists("/system/build.prop"):
        return "termux"
    return "linux"

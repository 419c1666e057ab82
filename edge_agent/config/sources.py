"""What a validation read besides the code: files (the config, its secret files) and variables.

The config cache (:mod:`edge_agent.config.cache`) may reuse a validated config only while
everything that validation depended on is unchanged. The config file and its secret files
are noted by the loader and :func:`~edge_agent.config.secrets.resolve_secret` as they read
them (the very bytes validated, so a file changed in between is never mistaken for the one
validated); every environment variable is noted by :func:`recording_environ`, which stands
in for ``os.environ`` while the config is validated: it sees the secrets' ``*_env``
variables, the defaults' ``EDGE_AGENT_HOST_ROOT``, ``STATE_DIRECTORY``, ``XDG_STATE_HOME``,
and ``HOME`` as ``Path.expanduser`` reads it, without a list to keep up to date.

Only digests are kept (SHA-256 from CPython's own module: ``hashlib`` would load OpenSSL,
which the running agent leaves out when its config needs no TLS). Nothing here imports
pydantic.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional


def _sha256_constructor() -> Callable[[bytes], Any]:
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # CPython 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]  # 3.8-3.11
        except ImportError:  # pragma: no cover - another interpreter: its hashlib then
            from hashlib import sha256  # type: ignore[assignment,unused-ignore]
    return sha256  # type: ignore[no-any-return,unused-ignore]


_SHA256 = _sha256_constructor()


def digest(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex."""
    return str(_SHA256(data).hexdigest())


def text_digest(value: Optional[str]) -> Optional[str]:
    """The digest of a variable's value (``surrogateescape``, as ``os.environ`` decodes), None when unset."""
    return None if value is None else digest(value.encode("utf-8", "surrogateescape"))


@dataclass
class Reads:
    """What one validation read: file path -> digest of its bytes, variable -> digest or None (unset).

    ``complete`` turns false when validation looked at the environment as a whole (iterated
    or copied it), which no list of names can stand for: such a result is never cached.
    """

    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, Optional[str]] = field(default_factory=dict)
    complete: bool = True

    def note_file(self, path: os.PathLike[str] | str, data: bytes) -> None:
        self.files[os.path.abspath(path)] = digest(data)


class _RecordingEnviron(MutableMapping[str, str]):
    """``os.environ`` as validation sees it: the same values, each read noted in ``reads``."""

    def __init__(self, real: MutableMapping[str, str], reads: Reads) -> None:
        self._real = real
        self._reads = reads

    def __getitem__(self, name: str) -> str:
        try:
            value = self._real[name]
        except KeyError:
            self._reads.env[name] = None
            raise
        self._reads.env[name] = text_digest(value)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        self._reads.complete = False  # validation that writes the environment: never cached
        self._real[name] = value

    def __delitem__(self, name: str) -> None:
        self._reads.complete = False
        del self._real[name]

    def __iter__(self) -> Iterator[str]:
        self._reads.complete = False
        return iter(self._real)

    def __len__(self) -> int:
        self._reads.complete = False
        return len(self._real)

    def copy(self) -> dict[str, str]:
        self._reads.complete = False
        return dict(self._real)


@contextmanager
def recording_environ(reads: Reads) -> Iterator[None]:
    """Within the block, ``os.environ`` (and ``os.getenv``, ``expanduser``) note what they give.

    For one validation in a process that runs nothing else meanwhile (``run`` before the
    agent starts); the real mapping is back when the block ends, whatever happens in it.
    """
    real = os.environ
    os.environ = _RecordingEnviron(real, reads)  # type: ignore[assignment]  # noqa: B003 (a stand-in, not a reset)
    try:
        yield
    finally:
        os.environ = real  # noqa: B003

"""Secrets that come from the config file, a file beside it, or the environment.

A secret option ``token`` can be written three ways, at most one at a time::

    token = "..."                 # inline (fine for a demo; not for a fleet)
    token_file = "/etc/edge-agent/token"
    token_env = "TELECOMX_TOKEN"

The value is resolved once, at load, into a pydantic ``SecretStr`` so that it never
prints in a ``repr``, a log line or a dry-run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from pydantic import SecretStr

if TYPE_CHECKING:
    from edge_agent.config.sources import Reads


class SecretSourceError(ValueError):
    """A secret option is written more than one way, or its file or variable is missing.

    ``key`` is the key (within its table) the problem is about, so the error can point
    at the line that has it; empty when the key is missing altogether.
    """

    def __init__(self, message: str, key: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.key = key


def resolve_secret(
    data: dict[str, Any],
    name: str,
    base_dir: Optional[Path],
    *,
    required: bool = False,
    reads: Optional[Reads] = None,
) -> Optional[SecretStr]:
    """Pop ``name``, ``name_file`` and ``name_env`` from ``data`` and return the secret.

    Raises :class:`SecretSourceError` naming the option when it is given twice, when
    its file cannot be read or its variable is unset, or when it is required and absent.
    A file read is noted in ``reads`` (for the config cache: its path and a digest of the
    bytes, never the value); a variable is noted by the environment ``reads`` records.
    """
    inline = data.pop(name, None)
    file_name = data.pop(f"{name}_file", None)
    env_name = data.pop(f"{name}_env", None)
    given = [
        key
        for key, value in ((name, inline), (f"{name}_file", file_name), (f"{name}_env", env_name))
        if value is not None
    ]
    if len(given) > 1:
        raise SecretSourceError(f"give only one of {', '.join(given)}", (given[-1],))
    if inline is not None:
        if not isinstance(inline, str):
            raise SecretSourceError(f"{name} must be a string", (name,))
        return SecretStr(inline)
    if file_name is not None:
        if not isinstance(file_name, str):
            raise SecretSourceError(f"{name}_file must be a path string", (f"{name}_file",))
        path = Path(file_name).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return SecretStr(_read_secret_file(path, f"{name}_file", reads))
    if env_name is not None:
        if not isinstance(env_name, str):
            raise SecretSourceError(f"{name}_env must be a variable name", (f"{name}_env",))
        value = os.environ.get(env_name)
        if value is None:
            raise SecretSourceError(f"{name}_env names {env_name!r}, which is not set", (f"{name}_env",))
        return SecretStr(value)
    if required:
        raise SecretSourceError(f"{name} is required (or {name}_file, or {name}_env)")
    return None


MAX_SECRET_BYTES = 65536


def _read_secret_file(path: Path, key: str, reads: Optional[Reads] = None) -> str:
    """The trimmed text of a secret file; bounded, so ``/dev/zero`` cannot eat the memory."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SecretSourceError(f"{key} {str(path)!r} cannot be read: {reason}", (key,)) from exc
    if len(raw) > MAX_SECRET_BYTES:
        raise SecretSourceError(f"{key} {str(path)!r} is larger than {MAX_SECRET_BYTES} bytes", (key,))
    if reads is not None:
        reads.note_file(path, raw)
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise SecretSourceError(f"{key} {str(path)!r} is not UTF-8 text", (key,)) from exc

"""The validated config as plain objects, so the long-running process need not load pydantic.

pydantic validates the config and gives ``edge-agent check`` its messages; loaded, it and
the config model classes cost about 12 MB of resident memory (measured: ``bench/README.md``),
more than a third of what a Pi Zero agent with MQTT only needs, and ``del sys.modules``
gives none of it back. So ``edge-agent run`` validates with pydantic, turns the config into
the plain objects of this module (:func:`to_plain`), and replaces itself (same pid, see
:mod:`edge_agent.cli.run`) with a fresh interpreter that reads them back (:func:`loads`)
and runs without ever importing pydantic.

A :class:`Plain` has every field of its model as a read-only attribute (defaults filled
in, secrets resolved, paths made absolute: exactly what validation produced), plus the
properties the running agent reads (``Config.source``, ``MqttConfig.uses_tls``); a
:class:`Secret` answers ``get_secret_value()`` as ``SecretStr`` does and never shows its
value in ``repr``. Nothing here imports pydantic.

The same bytes are what the config cache keeps on disk (:mod:`edge_agent.config.cache`);
read back from a file, they go through :func:`loads_restricted`, which builds only these
classes, paths and plain values, never what an arbitrary pickle names.
"""

from __future__ import annotations

import pickle
from typing import Any

PROPERTIES: dict[str, tuple[str, ...]] = {"Config": ("source",), "MqttConfig": ("uses_tls",)}
"""Per model class name: properties (not fields) that the running agent reads, copied as values."""

METHODS = ("watched_apps", "action_token")
"""Methods without arguments that the running agent calls on a heartbeat endpoint's model
(each vendor may override them): their answers are copied, and answered again by :class:`Returns`."""


class Returns:
    """A method of the validated model, already called: calling it gives the same answer."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __call__(self) -> Any:
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Returns) and other._value == self._value

    def __hash__(self) -> int:
        return hash(repr(self._value))

    def __repr__(self) -> str:
        return "Returns(...)"  # an action token is a secret

    def __reduce__(self) -> tuple[Any, ...]:
        return (Returns, (self._value,))


class Secret:
    """A resolved secret: ``get_secret_value()`` gives it, ``repr`` and ``str`` hide it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (self._value,))


class Plain:
    """One validated config section (or the whole config) as read-only attributes."""

    _kind: str

    def __init__(self, kind: str, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_kind", kind)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._kind} is read-only")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "_kind")
        return f"{self._kind}({fields})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plain) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return id(self)

    def __reduce__(self) -> tuple[Any, ...]:
        values = {k: v for k, v in vars(self).items() if k != "_kind"}
        return (Plain, (self._kind, values))


def to_plain(value: Any) -> Any:
    """``value`` (a validated model, or anything in one) with models and secrets made plain."""
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict):
        kind = type(value).__name__
        values = {name: to_plain(getattr(value, name)) for name in fields}
        for name in PROPERTIES.get(kind, ()):
            values[name] = to_plain(getattr(value, name))
        for name in METHODS:
            method = getattr(value, name, None)
            if callable(method):
                values[name] = Returns(to_plain(method()))
        return Plain(kind, values)
    if callable(getattr(value, "get_secret_value", None)):
        return Secret(value.get_secret_value())
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(to_plain(item) for item in value)
    return value


def dumps(config: Any) -> bytes:
    """The validated ``config`` as bytes for :func:`loads` in the process that runs it."""
    return pickle.dumps(to_plain(config), protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> Any:
    """What :func:`dumps` wrote (only ever read from the memory file this process was handed)."""
    return pickle.loads(data)  # written by this same program just before the exec


ALLOWED_GLOBALS = frozenset(
    {
        (__name__, "Plain"),
        (__name__, "Secret"),
        (__name__, "Returns"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
    }
)
"""What :func:`dumps` may name in its output besides paths (:data:`PATH_CLASSES`): everything
else is plain pickle data (str, int, float, bool, None, list, tuple, dict, set), which names
no class."""

PATH_CLASSES = frozenset({"PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath"})
"""pathlib's classes, named ``pathlib.X`` in a pickle, or ``pathlib._local.X`` from Python 3.13."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if module in ("pathlib", "pathlib._local") and name in PATH_CLASSES:
            import pathlib

            return getattr(pathlib, name)  # the public class, wherever this Python keeps it
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a plain config")


def loads_restricted(data: bytes) -> Any:
    """What :func:`dumps` wrote, read from a file: anything naming another class is refused.

    Raises :class:`pickle.UnpicklingError` (or another ``Exception``) on anything else; a
    pickle cannot run code through this loader, as ``os.system`` is not a class it allows.
    """
    import io

    return _RestrictedUnpickler(io.BytesIO(data)).load()

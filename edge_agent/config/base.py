"""The base every config section is built on: strict keys, strict types, frozen values, secrets resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from edge_agent.config.secrets import SecretSourceError, resolve_secret

# A path is written as a TOML string, and pydantic's strict mode accepts only a Path
# object for a Path field: paths alone are taken from strings (and nothing else).
LaxPath = Annotated[Path, Field(strict=False)]

KEYED_ERROR = "config_key"


def keyed_error(key: tuple[str, ...], reason: str) -> PydanticCustomError:
    """An error about the sub-key ``key`` of the table being validated.

    A model validator's errors are placed by pydantic at the table itself; the loader
    appends ``key`` (from the error's context) so the message names, and points at the
    line of, the key the user wrote. ``reason`` goes through the context so that braces
    in it (argv placeholders such as ``{message}``) are not read as a format template.
    """
    return PydanticCustomError(KEYED_ERROR, "{reason}", {"reason": reason, "key": key})


class Section(BaseModel):
    """A table of the TOML file.

    Unknown keys are an error (a typo must not silently fall back to a default), and
    values are not coerced between TOML types (``port = "1883"`` and ``tls = "yes"`` are
    errors, not a port and a true), except that a TOML integer is a fine float
    (``interval = 10``) and a string is a path. The secret options listed in
    ``secret_fields`` may be written inline, as ``<name>_file`` or as ``<name>_env``;
    relative paths (in ``path_fields`` and secret files) are taken relative to the
    config file's folder.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True)

    secret_fields: ClassVar[tuple[str, ...]] = ()
    required_secrets: ClassVar[tuple[str, ...]] = ()
    path_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _resolve_sources(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        base_dir = config_dir(info)
        reads = (info.context or {}).get("reads")  # set by the loader for the config cache
        for name in cls.secret_fields:
            try:
                secret = resolve_secret(
                    data, name, base_dir, required=name in cls.required_secrets, reads=reads
                )
            except SecretSourceError as exc:
                raise keyed_error(exc.key, str(exc)) from exc
            if secret is not None:
                data[name] = secret
        if base_dir is not None:
            for name in cls.path_fields:
                value = data.get(name)
                if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    data[name] = str(base_dir / value)
        return data


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {str(value).lower()}")
    return value


# ``qos = true`` is not ``qos = 1``: a Literal of numbers takes True as 1 (True == 1), strict or not.
NotBool = BeforeValidator(_not_a_bool)


def config_dir(info: ValidationInfo) -> Optional[Path]:
    """The folder of the config file being validated (None for a config built in code)."""
    context = info.context or {}
    base = context.get("base_dir")
    return Path(base) if base is not None else None

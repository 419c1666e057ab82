"""The base every config section is built on: strict keys, frozen values, secrets resolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Optional

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from edge_agent.config.secrets import resolve_secret


class Section(BaseModel):
    """A table of the TOML file.

    Unknown keys are an error (a typo must not silently fall back to a default), and
    the secret options listed in ``secret_fields`` may be written inline, as
    ``<name>_file`` or as ``<name>_env``; relative paths (in ``path_fields`` and secret
    files) are taken relative to the config file's folder.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

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
        for name in cls.secret_fields:
            secret = resolve_secret(data, name, base_dir, required=name in cls.required_secrets)
            if secret is not None:
                data[name] = secret
        if base_dir is not None:
            for name in cls.path_fields:
                value = data.get(name)
                if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    data[name] = str(base_dir / value)
        return data


def config_dir(info: ValidationInfo) -> Optional[Path]:
    """The folder of the config file being validated (None for a config built in code)."""
    context = info.context or {}
    base = context.get("base_dir")
    return Path(base) if base is not None else None

"""Reading the one TOML file into a validated :class:`Config`, or into errors a person can act on."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.config.base import KEYED_ERROR
from edge_agent.config.heartbeats import VENDOR_NAMES, HeartbeatConfig
from edge_agent.config.keylines import find_key_line
from edge_agent.config.sections import (
    TOPIC_LEVEL_PATTERN,
    ActionsConfig,
    DeviceConfig,
    MetricsConfig,
    MqttConfig,
    StorageConfig,
)
from edge_agent.config.sources import Reads, recording_environ
from edge_agent.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Raspberry Pi OS Bullseye
    import tomli as tomllib


class Config(BaseModel):
    """The whole config file. Every table is optional; ``[mqtt]`` absent means no broker."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    device: DeviceConfig = Field(default_factory=DeviceConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    mqtt: Optional[MqttConfig] = None
    storage: StorageConfig = Field(default_factory=StorageConfig)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    heartbeats: dict[str, HeartbeatConfig] = Field(default_factory=dict)

    @property
    def source(self) -> Optional[Path]:
        """The file this config was read from (None when built in code)."""
        return getattr(self, "_source", None)


_HEARTBEAT_NAME = re.compile(TOPIC_LEVEL_PATTERN)


def load_config(path: Path, reads: Optional[Reads] = None) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` listing every problem.

    With ``reads``, what validation depended on is noted there for the config cache: the
    bytes of this file and of each secret file (read once: the noted bytes are the ones
    validated) and every environment variable read (:func:`recording_environ`).
    """
    try:
        raw = path.read_bytes()
        # what read_text gives: universal newlines, as TextIOWrapper(newline=None) reads
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: the config file is not UTF-8 text ({exc.reason})"]) from exc
    if reads is None:
        return parse_config(text, path)
    reads.note_file(path, raw)
    with recording_environ(reads):
        return parse_config(text, path, reads)


def parse_config(text: str, path: Path, reads: Optional[Reads] = None) -> Config:
    """Validate the TOML ``text`` that came from ``path`` (used for relative paths and messages)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from exc
    except RecursionError as exc:  # tomllib recurses once per level of [ or {
        raise ConfigError([f"{path}: invalid TOML: arrays or inline tables nested too deeply"]) from exc
    heartbeats = data.get("heartbeats")
    problems = [
        f"{path}: heartbeats.{name}: the endpoint name may use only letters, digits and _ . : @ -"
        for name in (heartbeats if isinstance(heartbeats, dict) else {})
        if not _HEARTBEAT_NAME.match(name)
    ]
    if problems:
        raise ConfigError(problems)
    try:
        config = Config.model_validate(data, context={"base_dir": path.resolve().parent, "reads": reads})
    except ValidationError as exc:
        raise ConfigError([_describe(error, text, path) for error in exc.errors()]) from exc
    object.__setattr__(config, "_source", path)
    return config


def _describe(error: Any, text: str, path: Path) -> str:
    """One line for one pydantic error: file, key path, reason, and the line where TOML has it."""
    loc = _key_path(error["loc"])
    if error.get("type") == KEYED_ERROR:
        loc += [str(part) for part in error["ctx"]["key"]]
    reason = _reason(error)
    line = find_key_line(text, loc)
    where = f" (line {line})" if line else ""
    key = ".".join(loc) if loc else "(top level)"
    return f"{path}: {key}: {reason}{where}"


def _key_path(loc: tuple[Any, ...]) -> list[str]:
    """The TOML key path of a pydantic location, without the union tag pydantic adds."""
    keys = [str(part) for part in loc]
    if len(keys) >= 3 and keys[0] == "heartbeats" and keys[2] in VENDOR_NAMES:
        del keys[2]
    return keys


# pydantic's strict type errors -> what TOML value was expected.
_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string in quotes",
    "list_type": "an array [...]",
    "dict_type": "a table",
    "model_type": "a table",
    "path_type": "a path string",
}


def _reason(error: Any) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against conf/edge-agent.toml)"
    if kind == "missing":
        return "required key is missing"
    if kind == KEYED_ERROR:
        return str(error["ctx"]["reason"])
    message = str(error.get("msg", "invalid value"))
    if kind == "union_tag_invalid":
        return f"unknown vendor; choose one of {', '.join(VENDOR_NAMES)}"
    if kind == "union_tag_not_found":
        return f"missing key 'vendor'; choose one of {', '.join(VENDOR_NAMES)}"
    if kind in _EXPECTED:
        return _type_reason(_EXPECTED[kind], error.get("input"))
    if kind == "literal_error":
        return f"expected {error['ctx']['expected']}, got {_toml_kind(error.get('input'))}"
    return message.removeprefix("Value error, ")


def _type_reason(expected: str, value: Any) -> str:
    """``expected an integer, got the string "1883" (write it without quotes)``: no type is guessed."""
    got = _toml_kind(value)
    hint = ""
    if isinstance(value, str):
        if expected in ("an integer", "a number") and _is_number(value):
            hint = " (write it without quotes)"
        elif expected == "true or false" and value.strip().lower() in ("true", "false"):
            hint = f" (write {value.strip().lower()} without quotes)"
    return f"expected {expected}, got {got}{hint}"


def _toml_kind(value: Any) -> str:
    """How a TOML value reads to the person who wrote it; short strings only, never a whole table."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the float {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

"""Fuzzing the config file: whatever an operator (or a broken SD card) leaves in it, a clear error.

``edge-agent run`` and a SIGHUP reload read the file with ``parse_config``; every way it
can be wrong must come back as a :class:`~edge_agent.errors.ConfigError` whose lines name
the file, so the person at the console knows what to fix, never a traceback.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from fuzz_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.config import (
    VENDOR_NAMES,
    ActionsConfig,
    Config,
    DeviceConfig,
    MetricsConfig,
    MqttConfig,
    StorageConfig,
    parse_config,
)
from edge_agent.errors import ConfigError
from edge_agent.vendors.registry import VENDORS

SECTIONS = {
    "device": DeviceConfig,
    "metrics": MetricsConfig,
    "mqtt": MqttConfig,
    "storage": StorageConfig,
    "actions": ActionsConfig,
}
VENDOR_MODELS = {name: spec.config_class() for name, spec in VENDORS.items()}  # every registered vendor
FALLBACK_MODEL = next(iter(VENDOR_MODELS.values()))  # keys for a table whose vendor is unknown or absent
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def keys_of(model: Any) -> list[str]:
    """A model's keys as the file may spell them, secrets' ``_file`` and ``_env`` forms too."""
    keys = list(model.model_fields)
    for secret in getattr(model, "secret_fields", ()):
        keys += [f"{secret}_file", f"{secret}_env"]
    return keys


def toml_key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """``value`` written as TOML (strings as JSON-escaped basic strings, which TOML reads alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["", "127.0.0.1", "localhost", "/tmp/edge-agent-fuzz.db", "5", "MESSAGE", "3.1.1"]),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def table(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of a table's keys (and now and then a misspelt one), with any values."""
    return st.fixed_dictionaries({}, optional={key: values for key in keys}).flatmap(
        lambda chosen: st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=1).map(
            lambda extra: {**chosen, **extra}
        )
    )


@st.composite
def documents(draw: Any) -> str:
    """A whole config file: some of the agent's tables and some vendor endpoints, any values."""
    lines: list[str] = []
    for name in draw(st.lists(st.sampled_from(sorted(SECTIONS)), unique=True)):
        lines.append(f"[{name}]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in draw(table(keys_of(SECTIONS[name]))).items()]
    for index in range(draw(st.integers(0, 3))):
        vendor = draw(st.sampled_from([*VENDOR_NAMES, "acme", ""]))
        name = draw(st.one_of(st.just(f"endpoint{index}"), st.text(min_size=1, max_size=10)))
        lines.append(f"[heartbeats.{toml_key(name)}]")
        if draw(st.booleans()):
            lines.append(f"vendor = {json.dumps(vendor)}")
        model = VENDOR_MODELS.get(vendor, FALLBACK_MODEL)
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in draw(table(keys_of(model))).items()]
    return "\n".join(lines) + "\n"


FRAGMENTS = [
    "[metrics]",
    "[heartbeats.iptv]",
    "[heartbeats]",
    "[[heartbeats]]",
    "[actions.commands]",
    "[mqtt",
    "interval = 5",
    "interval = -1",
    "interval = 1e999",
    'vendor = "telecomx"',
    'token = "x"',
    "token_env = 'EDGE_AGENT_FUZZ_UNSET'",
    'MESSAGE = ["/bin/echo", "{message}"]',
    "a.b.c = 1",
    "x = '''",
    'x = """',
    "= 1",
    "key = ",
    "key = [1, 'two']",
    "key = {a = 1",
    "port = 99999999999999999999999",
    "heartbeats = 3",
    "\x00",
    "# comment",
]


def deeply_nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "a = " + "[" * depth + "]" * depth + "\n"
    return "a = " + "{b = " * depth + "1" + "}" * depth + "\n"


any_text = st.one_of(
    documents(),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=40)), max_size=12).map("\n".join),
    st.text(max_size=300),
    st.builds(deeply_nested, st.integers(1, 5000), st.sampled_from(["array", "table"])),
)


def test_any_config_text_is_a_config_or_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "edge-agent.toml"

    @FUZZ
    @given(text=any_text)
    def one(text: str) -> None:
        try:
            config = parse_config(text, path)
        except ConfigError as exc:
            assert exc.problems, "a rejection lists at least one problem"
            for problem in exc.problems:
                assert problem.startswith(f"{path}: ") and len(problem) > len(str(path)) + 2, problem
            return
        assert isinstance(config, Config) and config.source == path

    one()

"""Kept so existing imports work: the command envelope lives in :mod:`edge_agent.actions.envelope`.

Everything from a raw MQTT payload to the journal belongs to ``edge_agent.actions`` (one
intake, one validation); this module only re-exports its names.
"""

from edge_agent.actions.envelope import (
    MAX_COMMAND_BYTES,
    MAX_ID_LENGTH,
    MAX_NESTING,
    Command,
    RejectedCommand,
    nesting_depth,
    parse_command,
)

__all__ = [
    "MAX_COMMAND_BYTES",
    "MAX_ID_LENGTH",
    "MAX_NESTING",
    "Command",
    "RejectedCommand",
    "nesting_depth",
    "parse_command",
]

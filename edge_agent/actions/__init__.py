"""Actions: running what vendors and operators ask, safely and exactly once.

The only place in the agent (besides the collectors' helper-program runner) that starts
a process. Layers, bottom up: :mod:`validate` (values), :mod:`schema` (the one action
document), :mod:`templates` (argv filling), :mod:`profiles` (default argv per platform),
:mod:`signing` (HMAC-signed MQTT commands), :mod:`envelope` (an MQTT payload to a command),
:mod:`intake` (the one door into the journal, for every source), :mod:`planner` (may it
run, as which argv), :mod:`process` (one program, bounded), :mod:`runner` (the
journal-backed state machine).
See docs/actions.md.
"""

from edge_agent.actions.runner import ActionRunner
from edge_agent.actions.schema import normalise_type, parse_action
from edge_agent.actions.signing import canonical_json, sign, verify

__all__ = ["ActionRunner", "canonical_json", "normalise_type", "parse_action", "sign", "verify"]

"""The one action schema, for every source: vendors, the AI box, operators on MQTT.

An action is a JSON object::

    {"id": "op-2024-0042", "type": "MESSAGE", "message": "Lunch at 12", "expires_at": "2030-01-01T12:00:00Z"}

* ``id`` (string, required): unique per action; an id seen before never runs again;
  1-128 letters, digits and ``_ . : @ + = -``, not starting with ``-`` (the one id rule,
  for every source; see :func:`action_id`).
* ``type`` (string, required): what to do. Names are normalised by one rule, so every
  vendor's spelling lands on one type: upper case, with ``-`` and ``.`` turned into ``_``
  (Xyte's ``reboot`` is ``REBOOT``, ``dump`` is ``DUMP``, ``update_firmware`` is
  ``UPDATE_FIRMWARE``; a custom command ``restart-player`` is ``RESTART_PLAYER``).
* the type's own fields, flat beside them (a Xyte command's ``parameters`` are merged in).
* ``expires_at`` (optional): an ISO 8601 time with a zone (``2030-01-01T12:00:00Z``) or
  Unix seconds; an action still waiting after that time is not run but marked expired.

The known types and their fields are in :data:`FIELDS`; any other type is a custom
command, whose scalar fields are free text for its argv template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Callable

from edge_agent.actions import validate
from edge_agent.actions.validate import UrlPolicy
from edge_agent.errors import ActionRejected
from edge_agent.model import Action

# Keys of the envelope, never a type's field.
ENVELOPE_KEYS = frozenset({"id", "type", "expires_at", "signature", "parameters"})

# Vendor ids are "<endpoint>:<digest>" or "<endpoint>:command:<uuid>"; none starts with "-".
MAX_ID_LENGTH = 128
_ID = re.compile(r"[A-Za-z0-9_.:@+=][A-Za-z0-9_.:@+=-]{0,127}")  # 1 + 127 = MAX_ID_LENGTH
ID_RULE = (
    f'"id" must be a string of 1-{MAX_ID_LENGTH} characters from A-Z a-z 0-9 _ . : @ + = - '
    '(not starting with "-")'
)
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")

Check = Callable[[str, Any, UrlPolicy], Any]


def _plain(check: Callable[[str, Any], Any]) -> Check:
    return lambda name, value, _urls: check(name, value)


def _url(name: str, value: Any, urls: UrlPolicy) -> str:
    return urls.check(name, value)


# type -> field -> (required, check). Fields not listed are kept as free text.
FIELDS: dict[str, dict[str, tuple[bool, Check]]] = {
    "MESSAGE": {
        "message": (True, _plain(validate.text)),
        "notify": (False, _plain(validate.notify_level)),
        "repeat": (False, _plain(validate.flag)),
        "duration": (False, _plain(validate.number)),
    },
    "REBOOT": {},
    "START_APP": {
        "app": (True, _plain(validate.package)),
        "includeToken": (False, _plain(validate.flag)),
        "includeDeviceId": (False, _plain(validate.flag)),
        "includeTechnicalRoomNumber": (False, _plain(validate.flag)),
    },
    "UPDATE_APP": {
        "app": (True, _plain(validate.package)),
        "version": (True, _plain(validate.version)),
    },
    "VIDEO": {"video": (True, _url)},
    "DUMP": {},
    "UPDATE_FIRMWARE": {
        "url": (True, _url),
        "version": (False, _plain(validate.version)),
        "checksum": (False, _plain(validate.checksum)),
    },
}


def normalise_type(name: Any) -> str:
    """The one spelling of an action type (see the module docstring)."""
    if not isinstance(name, str) or not _TYPE.fullmatch(name):
        raise ActionRejected(f"type: {name!r} is not an action type name")
    return name.upper().replace("-", "_").replace(".", "_")


def action_id(value: Any) -> str:
    """An action's id, by the one rule for every source (MQTT commands and vendors' actions).

    A string of 1-128 letters, digits and ``_ . : @ + = -``, not starting with ``-``: the
    stricter of the two rules there were (the MQTT envelope's 128 characters, the runner's
    character set), so an id is safe in a log line, an argv template and a topic alike.
    Numbers are refused: ``7`` and ``"7"`` would otherwise be one id in the journal.
    """
    if value is None:
        raise ActionRejected('the action has no "id" (it is how a repeat is recognised)')
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ActionRejected(f"{ID_RULE}; got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A refused value, short enough for a reason."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_expires_at(value: Any) -> datetime:
    """An ISO 8601 time with a zone, or Unix seconds, as an aware UTC datetime."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise ActionRejected(f"expires_at: {value!r} is not a time") from exc
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ActionRejected(f"expires_at: {value!r} is not an ISO 8601 time") from exc
        if moment.tzinfo is None:
            raise ActionRejected(f"expires_at: {value!r} has no time zone (add Z or +00:00)")
        return moment.astimezone(timezone.utc)
    raise ActionRejected(f"expires_at: {value!r} is not a time")


def parse_action(document: Mapping[str, Any], urls: UrlPolicy, *, source: str) -> Action:
    """Check an action document from ``source`` against the schema; ActionRejected says what is wrong.

    The result is the agent's one :class:`~edge_agent.model.Action`, its ``type``
    normalised and its known fields holding checked values (text, bools, numbers).
    """
    if not isinstance(document, Mapping):
        raise ActionRejected("an action must be a JSON object")
    the_id = action_id(document.get("id"))
    if document.get("type") is None:
        raise ActionRejected("type: an action must say its type")
    the_type = normalise_type(document.get("type"))
    expires = document.get("expires_at")
    expires_at = parse_expires_at(expires) if expires is not None else None
    raw = {key: value for key, value in document.items() if key not in ENVELOPE_KEYS}
    parameters = document.get("parameters")
    if isinstance(parameters, Mapping):
        raw.update({key: value for key, value in parameters.items() if key not in ENVELOPE_KEYS})
    fields: dict[str, Any] = {}
    for name, (required, check) in FIELDS.get(the_type, {}).items():
        value = raw.pop(name, None)
        if value is None:
            if required:
                raise ActionRejected(f"{name}: a {the_type} action needs it")
            continue
        fields[name] = check(name, value, urls)
    # Anything else stays as given; the template renderer checks it as free text if it is used.
    fields.update(raw)
    return Action(id=the_id, type=the_type, fields=fields, source=source, expires_at=expires_at)

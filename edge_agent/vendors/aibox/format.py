"""AI camera / box heartbeat event (seed 002, protocols.md section 3): the request and its Ack.

The device POSTs ``{"operator": "heartbeat", "deviceInfo": {...}, "info": {"eventId",
"time", "strategyVersion"}}`` and the platform's answer is the ``heartbeat-Ack``. This
module is the pure half: it builds the event body and reads the Ack. Which events are
sent, in which order and how often, is :mod:`edge_agent.vendors.aibox.adapter`.

An event counts as delivered only when the Ack has operator ``heartbeat-Ack``, echoes the
event's ``eventId`` and says ``result.errorNo`` 0; :func:`decode_ack` raises for anything
else, so the caller keeps the event and sends it again. Keys are read case-insensitively
(the seed writes ``deviceinfo`` in its table and ``deviceInfo`` in its JSON); the request
uses the exact casing of the seed's JSON. The seed's own Ack example is not valid JSON
(15 missing commas); a reply like it is refused with the parser's line and column rather
than repaired, since a platform that really sends it needs fixing, not guessing.

Interval rule [INFERRED, protocols.md 3.6.3]: ``strategy.heartBeatInterval`` when the Ack
carries a strategy, else ``info.heartbeatInterval``, else keep the current one; clamped
to [5 s, 3600 s], since the seed's ``heartbeatInterval: 1`` is unlikely to be meant.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from edge_agent.errors import VendorProtocolError, VendorTransportError
from edge_agent.model import Snapshot
from edge_agent.vendors.aibox.vendor_time import parse_vendor_time
from edge_agent.vendors.types import (
    JSON_CONTENT_TYPE,
    HttpRequest,
    HttpResponse,
    error_for_status,
    parse_json,
)

if TYPE_CHECKING:
    from edge_agent.vendors.aibox.config import AiBoxConfig

VENDOR = "aibox"
OPERATOR = "heartbeat"
ACK_OPERATOR = "heartbeat-Ack"
SEND_MODES = ("realTime", "Retransmission")
DEFAULT_SEND_MODE = "realTime"
MIN_INTERVAL_S = 5.0
MAX_INTERVAL_S = 3600.0
_DECIMAL = re.compile(r"-?[0-9]{1,19}")


@dataclass(frozen=True)
class Ack:
    """What a successful ``heartbeat-Ack`` told the device."""

    event_id: int
    interval: Optional[float]  # already chosen between the two fields and clamped
    send_mode: Optional[str]  # "realTime" | "Retransmission" | None when absent or unknown
    strategy: Optional[dict[str, Any]]
    server_time: Optional[datetime]
    notes: tuple[str, ...] = ()


def missing_identity(snapshot: Optional[Snapshot]) -> Optional[str]:
    """Why the snapshot cannot fill ``deviceInfo`` (the seed requires IP and MAC), or None."""
    known = {"IP": snapshot.ip, "MAC": snapshot.mac} if snapshot is not None else {}
    missing = []
    for key in ("IP", "MAC"):
        if not known.get(key):
            reason = "no snapshot" if snapshot is None else snapshot.unavailable.get(key.lower(), "unknown")
            missing.append(f"{key} ({reason})")
    return f"the device has no {' and no '.join(missing)}" if missing else None


def device_info(config: AiBoxConfig, snapshot: Snapshot) -> dict[str, Any]:
    """The ``deviceInfo`` object: configured identity plus the snapshot's real IP and MAC.

    Call it only when :func:`missing_identity` found nothing missing.
    """
    assert snapshot.ip and snapshot.mac
    info: dict[str, Any] = {"serialNumber": config.serial_number}
    if config.platform_id:
        info["platformID"] = config.platform_id
    info["IP"] = snapshot.ip
    info["MAC"] = snapshot.mac.lower()
    if config.sn:
        info["SN"] = config.sn
    if config.did:
        info["DID"] = config.did
    info["deviceType"] = config.device_type
    info["deviceVersion"] = config.device_version
    return info


def event_body(config: AiBoxConfig, device: dict[str, Any], event_id: int, event_time: str) -> dict[str, Any]:
    """The heartbeat event as the seed's JSON example lays it out."""
    return {
        "operator": OPERATOR,
        "deviceInfo": device,
        "info": {"eventId": event_id, "time": event_time, "strategyVersion": config.strategy_version},
    }


def event_request(config: AiBoxConfig, body: dict[str, Any]) -> HttpRequest:
    return HttpRequest(
        method="POST",
        url=config.url,
        headers={"Content-Type": JSON_CONTENT_TYPE, "Accept": JSON_CONTENT_TYPE},
        json_body=body,
    )


def decode_ack(response: HttpResponse, event_id: int) -> Ack:
    """The Ack of event ``event_id``; a VendorError whenever the event is not delivered.

    HTTP errors keep their usual meaning; an empty, non-JSON or misshapen answer, or one
    for another eventId, is a :class:`VendorProtocolError`; ``errorNo`` other than 0 is a
    :class:`VendorTransportError` (the platform declined it for now: send it again later).
    """
    if not response.ok:
        raise error_for_status(response.status, response.excerpt())
    if not response.body.strip():
        raise VendorProtocolError("the platform answered with an empty body, no Ack", status=response.status)
    parsed = _parse_json(response)
    if not isinstance(parsed, dict):
        raise VendorProtocolError(f"the Ack is a JSON {type(parsed).__name__}, not an object")
    ack = _lower_keys(parsed)
    operator = ack.get("operator")
    if not isinstance(operator, str) or operator.lower() != ACK_OPERATOR.lower():
        raise VendorProtocolError(f"the reply's operator is {operator!r}, not {ACK_OPERATOR!r}")
    info = _lower_keys(ack.get("info"))
    echoed = info.get("eventid")
    if _integer(echoed) != event_id:
        raise VendorProtocolError(f"the Ack is for eventId {echoed!r}, not {event_id}")
    result = _lower_keys(ack.get("result"))
    error_no = _integer(result.get("errorno"))
    if error_no is None:
        raise VendorProtocolError("the Ack has no result.errorNo, so it does not confirm the event")
    if error_no != 0:
        description = str(result.get("description", ""))[:200]
        raise VendorTransportError(f"the platform answered errorNo {error_no} ({description})")
    notes: list[str] = []
    strategy = info.get("strategy")
    if strategy is not None and not isinstance(strategy, dict):
        notes.append(f"strategy is a JSON {type(strategy).__name__}, not an object: ignored")
        strategy = None
    return Ack(
        event_id=event_id,
        interval=chosen_interval(info, strategy, notes),
        send_mode=_send_mode(info.get("eventsendmode"), notes),
        strategy=strategy,
        server_time=_server_time(info.get("time"), notes),
        notes=tuple(notes),
    )


def chosen_interval(
    info: dict[str, Any], strategy: Optional[dict[str, Any]], notes: list[str]
) -> Optional[float]:
    """The heartbeat interval the Ack asks for, per protocols.md 3.6.3, clamped; None = keep."""
    if strategy is not None:
        source, value = "strategy.heartBeatInterval", _lower_keys(strategy).get("heartbeatinterval")
    else:
        source, value = "info.heartbeatInterval", info.get("heartbeatinterval")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is None or seconds <= 0:
        notes.append(f"{source} {value!r} is not a positive number of seconds: interval kept")
        return None
    clamped = min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, seconds))
    if clamped != seconds:
        notes.append(f"{source} {seconds:g} s clamped to {clamped:g} s")
    return clamped


def strategy_digest(strategy: dict[str, Any]) -> str:
    """A short digest of a strategy, to tell a new one from the one already applied."""
    canonical = json.dumps(strategy, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]


def _parse_json(response: HttpResponse) -> Any:
    try:
        return parse_json(response.body)
    except UnicodeDecodeError as exc:
        raise VendorProtocolError("the Ack is not UTF-8 text", status=response.status) from exc
    except json.JSONDecodeError as exc:
        raise VendorProtocolError(
            f"the Ack is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(the seed's own example lacks commas; the platform must send valid JSON)",
            status=response.status,
        ) from exc
    except (ValueError, RecursionError) as exc:
        reason = f"{type(exc).__name__}: {str(exc)[:80]}"
        raise VendorProtocolError(f"the Ack is not valid JSON ({reason})", status=response.status) from exc


def _send_mode(value: Any, notes: list[str]) -> Optional[str]:
    if value is None:
        return None
    for mode in SEND_MODES:
        if isinstance(value, str) and value.lower() == mode.lower():
            return mode
    notes.append(f"unknown eventSendMode {str(value)[:40]!r}: mode kept")
    return None


def _server_time(value: Any, notes: list[str]) -> Optional[datetime]:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_vendor_time(value)
        except ValueError as exc:
            notes.append(f"info.time: {exc}")
            return None
    notes.append(f"info.time is a JSON {type(value).__name__}, not a string")
    return None


def _lower_keys(value: Any) -> dict[str, Any]:
    return {str(key).lower(): item for key, item in value.items()} if isinstance(value, dict) else {}


def _integer(value: Any) -> Optional[int]:
    """A JSON integer (or its decimal text); booleans and fractions are not eventIds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None

"""``edge-agent send <device-id> '<action json>'``: send an action over MQTT and wait for its result.

The action (docs/actions.md) gets an ``id`` (random) when it has none and, when a secret
is configured (``--secret-file``, or ``[actions] mqtt_secret`` of ``-c``), an
``expires_at`` of now + ``--ttl`` (default ``[mqtt] command_expiry``, 300 s), the
``device`` it is for (DEVICE-ID) and its signature, which covers both. It is published
with QoS 1 to ``<prefix>/<device-id>/cmd``.

MQTT 5 is tried first (always used when the config says ``protocol = "5"``): the command
then carries a response topic, correlation data and a message expiry of ``--ttl``, so a
command the broker cannot deliver in time is dropped by the broker. A broker that
refuses MQTT 5 is spoken to in 3.1.1, where the answer comes on the events topic only.

Before publishing it subscribes to the device's events (and the response topic), so no
answer is missed, then prints one line per state of the action, in order: ``received``,
``started``, then ``succeeded``, ``failed``, ``rejected``, ``expired`` or
``interrupted`` with the exit code or the reason.

Exit codes: 0 succeeded; 1 failed, rejected, expired or interrupted; 2 usage (the action
is not a JSON object with a "type", a secret file cannot be read); 3 no final state
within ``--timeout``; 4 the broker cannot be reached, refused the command or was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from edge_agent.actions.signing import sign
from edge_agent.cli.broker_options import BrokerOptions, add_broker_arguments, broker_options, read_secret
from edge_agent.config.sections import TOPIC_LEVEL_PATTERN
from edge_agent.errors import ActionRejected, MqttConnectError, MqttError
from edge_agent.jsonsafe import loads
from edge_agent.model import SystemClock
from edge_agent.mqtt.topics import Topics

if TYPE_CHECKING:
    from edge_agent.mqtt.bridge import MqttBridge
    from edge_agent.mqtt.options import IncomingMessage

EXIT_SUCCEEDED = 0
EXIT_NOT_DONE = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_BROKER = 4

FINAL_STATES = {"succeeded": EXIT_SUCCEEDED}
FINAL_STATES.update(
    dict.fromkeys(("failed", "rejected", "expired", "interrupted", "cancelled"), EXIT_NOT_DONE)
)
_RANK = {"received": 0, "started": 1}  # every final state ranks 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "exit codes: 0 succeeded; 1 failed, rejected, expired or interrupted; 2 usage error; "
        "3 no result within --timeout; 4 broker unreachable, refused or lost"
    )
    parser.add_argument("device_id", metavar="DEVICE-ID", help="the device's [device] id")
    parser.add_argument(
        "action", metavar="ACTION-JSON", help='the action, e.g. \'{"type":"MESSAGE","message":"hi"}\''
    )
    add_broker_arguments(parser)
    parser.add_argument(
        "--secret-file",
        type=Path,
        metavar="FILE",
        help="sign with the secret in FILE ([actions] mqtt_secret)",
    )
    parser.add_argument(
        "--ttl",
        type=int,
        metavar="S",
        help="seconds the command stays valid: expires_at when signed, MQTT 5 message expiry "
        "(default: [mqtt] command_expiry, 300)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="how long to wait for the result (default: 60)",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="print the action id once the broker has it, and exit"
    )


def run(args: argparse.Namespace) -> int:
    options = broker_options(args)
    if options is None:
        return EXIT_USAGE
    if not re.match(TOPIC_LEVEL_PATTERN, args.device_id):
        print(f"error: {args.device_id!r} is not a device id (letters, digits, _ . : @ -)", file=sys.stderr)
        return EXIT_USAGE
    ttl = args.ttl if args.ttl is not None else options.command_expiry
    if ttl <= 0 or args.timeout <= 0:
        print("error: --ttl and --timeout must be positive", file=sys.stderr)
        return EXIT_USAGE
    command = _command(args.action)
    if command is None:
        return EXIT_USAGE
    secret = options.secret
    if args.secret_file is not None:
        secret = read_secret(args.secret_file)
        if secret is None:
            return EXIT_USAGE
    if secret is not None:
        try:
            expires_at = SystemClock().now() + timedelta(seconds=ttl)
            command = sign(command, secret, expires_at=expires_at, device=args.device_id)
        except ActionRejected as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return asyncio.run(_send(args, options, command, ttl, signed=secret is not None))


def _command(text: str) -> Optional[dict[str, Any]]:
    """The action as a JSON object with a "type" and an "id" (added when missing), or None."""
    try:
        command = json.loads(text)
    except ValueError as exc:
        print(f"error: the action is not JSON: {exc}", file=sys.stderr)
        return None
    if not isinstance(command, dict):
        print("error: the action must be a JSON object", file=sys.stderr)
        return None
    if not isinstance(command.get("type"), str) or not command["type"].strip():
        print('error: the action needs a "type" (see docs/actions.md)', file=sys.stderr)
        return None
    if "id" in command and (not isinstance(command["id"], str) or not command["id"].strip()):
        print('error: "id" must be a non-empty string', file=sys.stderr)
        return None
    command.setdefault("id", uuid.uuid4().hex)
    return command


async def _connect(options: BrokerOptions, client_id: str) -> MqttBridge:
    """MQTT 5 if the broker speaks it (or the config demands it), else 3.1.1."""
    if options.protocol != "5":
        bridge = options.bridge(client_id, "5")
        try:
            await bridge.connect()
        except MqttConnectError:
            bridge = options.bridge(client_id, "3.1.1")  # an MQTT 3.1.1 broker refuses version 5
        else:
            return bridge
    else:
        bridge = options.bridge(client_id, "5")
    await bridge.connect()
    return bridge


async def _send(
    args: argparse.Namespace, options: BrokerOptions, command: dict[str, Any], ttl: int, *, signed: bool
) -> int:
    action_id = str(command["id"])
    topics = Topics(options.prefix, args.device_id)
    client = uuid.uuid4().hex[:12]
    try:
        bridge = await _connect(options, f"edge-agent-send-{client}")
    except MqttError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BROKER
    v5 = bridge.protocol == "5"
    reply_topic = f"{topics.base}/replies/{client}" if v5 else None
    correlation = action_id.encode("utf-8")
    try:
        await bridge.subscribe([(topics.events, 1)] + ([(reply_topic, 1)] if reply_topic else []))
        refusal = await asyncio.wait_for(
            bridge.publish(
                topics.commands,
                json.dumps(command, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                qos=1,
                message_expiry=ttl if v5 else None,
                correlation_data=correlation if v5 else None,
                response_topic=reply_topic,
            ),
            args.timeout,
        )
    except (MqttError, asyncio.TimeoutError) as exc:
        print(
            f"error: could not send the command: {str(exc) or 'the broker did not acknowledge it'}",
            file=sys.stderr,
        )
        await bridge.disconnect()
        return EXIT_BROKER
    if refusal is not None:
        print(f"error: the broker refused the command: {refusal}", file=sys.stderr)
        await bridge.disconnect()
        return EXIT_BROKER
    how = ", ".join(filter(None, ["signed" if signed else "", "MQTT 5" if v5 else "MQTT 3.1.1"]))
    print(f"sent action {action_id} to {topics.commands} ({how})", file=sys.stderr)
    if args.no_wait:
        print(action_id)
        await bridge.disconnect()
        return EXIT_SUCCEEDED
    progress = ActionProgress(action_id, str(command["type"]), topics.events, correlation if v5 else None)
    try:
        return await _wait_for_result(bridge, progress, args.timeout)
    finally:
        await bridge.disconnect()


async def _wait_for_result(bridge: MqttBridge, progress: ActionProgress, timeout: float) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    lost = asyncio.ensure_future(bridge.wait_disconnected())
    try:
        while True:
            taking = asyncio.ensure_future(bridge.messages.get())
            await asyncio.wait(
                {taking, lost}, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED
            )
            if not taking.done():
                taking.cancel()
                if lost.done():
                    print(f"error: lost the broker before the result: {lost.result()}", file=sys.stderr)
                    return EXIT_BROKER
                print(f"no result for action {progress.action_id} within {timeout:g} s", file=sys.stderr)
                return EXIT_TIMEOUT
            for line in progress.take(taking.result()):
                print(line, flush=True)
            if progress.exit_code is not None:
                return progress.exit_code
    finally:
        lost.cancel()


class ActionProgress:
    """The states of one action, read from its device's events and the MQTT 5 response topic.

    Each state is told once and in the order of an action's life, whichever of the two
    topics brings it first. One shape is read: the ``action.<state>`` event of this
    ``action_id``, which the agent's one intake sends for every state, refusals included.
    Two more answers mean the same thing and are read as it: the receipt on the response
    topic (``{"id", "status": "received"|"rejected"}``, the MQTT 5 answer when the events
    topic is slow) and, from agents older than the one intake, a ``command.rejected``
    that came without its ``action.rejected``.
    """

    def __init__(
        self, action_id: str, action_type: str, events_topic: str, correlation: Optional[bytes]
    ) -> None:
        self.action_id = action_id
        self.action_type = action_type
        self.events_topic = events_topic
        self.correlation = correlation
        self.exit_code: Optional[int] = None
        self._rank = -1

    def take(self, message: IncomingMessage) -> list[str]:
        """The lines to print for ``message`` (none when it is not about this action)."""
        if message.topic != self.events_topic and (
            self.correlation is None or message.correlation_data != self.correlation
        ):
            return []
        try:  # anyone on the broker may publish here: nesting capped, so json never recurses away
            body = loads(message.payload, strict=False)
        except ValueError:
            return []
        if not isinstance(body, dict):
            return []
        state = self._state_of(body)
        if state is None:
            return []
        rank = _RANK.get(state, 2)
        if rank <= self._rank:
            return []
        self._rank = rank
        self.exit_code = FINAL_STATES.get(state)
        return [self._line(state, body)]

    def _state_of(self, body: dict[str, Any]) -> Optional[str]:
        """The state ``body`` tells of this action, or None; every answer is read as an action event."""
        event_type = body.get("type")
        if event_type is None and body.get("status") in ("received", "rejected"):
            # the receipt is the action's received/rejected, keyed by the command's id
            event_type, body = f"action.{body['status']}", {"action_id": body.get("id")}
        elif event_type in ("command.received", "command.rejected"):  # agents before the one intake
            event_type, body = "action." + event_type.split(".")[1], {"action_id": body.get("command_id")}
        if isinstance(event_type, str) and event_type.startswith("action."):
            return event_type[len("action.") :] if body.get("action_id") == self.action_id else None
        return None

    def _line(self, state: str, body: dict[str, Any]) -> str:
        parts = [f"{state:<11}", self.action_id, str(body.get("action_type") or self.action_type)]
        if body.get("dry_run"):
            parts.append("(dry run)")
        if isinstance(body.get("exit_code"), int):
            parts.append(f"exit {body['exit_code']}")
        if isinstance(body.get("duration_s"), (int, float)):
            parts.append(f"in {body['duration_s']:.2f} s")
        line = " ".join(parts)
        if isinstance(body.get("reason"), str) and body["reason"]:
            line += f": {body['reason']}"
        return line

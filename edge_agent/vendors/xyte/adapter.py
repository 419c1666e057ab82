"""One Xyte heartbeat as a short flow over the pure steps of :mod:`edge_agent.vendors.xyte.format`.

A beat: register if we have no id (once, kept in the store); send telemetry (``override``
on the first after each start); then act on what the reply says:

1. report commands the action runner has finished (the journal says succeeded or failed);
2. retry an Update Device that Xyte throttled earlier;
3. ``config_version`` above ours: Get Config, apply what we understand, store it, Update Device;
4. ``command``: Get Command, queue it for the runner, report ``in_progress``;
5. ``new_licenses``: Get Licenses, store each, Update License;
6. ``latest_fw_version`` above the last one we told about: one ``firmware.available`` event.

A 401/403 from the hub, or a 404 on the telemetry, means the device was deleted or
revoked: the beat starts over once with a fresh registration. A telemetry answered
``success: false`` was not delivered: the beat fails (retried with backoff, a
``heartbeat.error`` event with the hub's message) and nothing is followed up. The status
sent is ``error`` with a ``message`` while the device is degraded
(:func:`edge_agent.vendors.xyte.degradation`), else ``online``. Every step's state is written
before the next request, so a crash or a reboot in between picks up where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional

from edge_agent.errors import VendorAuthError, VendorRejectedError, VendorTransportError
from edge_agent.model import Action, Snapshot
from edge_agent.vendors.semver import is_newer, version_key
from edge_agent.vendors.types import HttpRequest, Reply, Send, VendorContext
from edge_agent.vendors.xyte import format as xyte
from edge_agent.vendors.xyte.format import Registration, TelemetryReply

if TYPE_CHECKING:
    from edge_agent.vendors.xyte.config import XyteConfig

log = logging.getLogger(__name__)

REGISTRATION_KEYS = ("device_id", "access_key", "hub_url")
# Journal states the action runner ends an action in; anything else means "not finished yet".
SUCCEEDED_STATES = frozenset({"succeeded"})
FAILED_STATES = frozenset({"failed", "rejected", "expired", "cancelled", "timed_out"})
DEVICE_UPDATE_RETRY_S = 360.0  # Xyte allows 10 Update Device calls an hour


class XyteAdapter:
    """One Xyte endpoint: registration, telemetry, and the config/command/license/firmware follow-ups."""

    vendor: ClassVar[str] = xyte.VENDOR
    sends_final: ClassVar[bool] = True

    def __init__(self, endpoint: str, config: XyteConfig, context: VendorContext) -> None:
        self.endpoint = endpoint
        self.config = config
        self.context = context
        self._override = True  # the first telemetry after each start replaces the hub's state
        self._seen_metrics: set[str] = set()  # what this device has reported in this run

    # -- what the engine and the CLI call ------------------------------------------------

    def preview(self, snapshot: Optional[Snapshot], *, final: bool = False) -> tuple[HttpRequest, str]:
        """The first request the next beat would send, and a note saying which one it is."""
        registration = self.registration()
        if registration is None:
            note = (
                "not registered yet: this is the registration request; telemetry follows "
                "with the id and access key it returns"
            )
            return xyte.registration_request(self.config), note
        return self._telemetry_request(snapshot, registration, final=final), "telemetry"

    async def beat(self, snapshot: Optional[Snapshot], send: Send, *, final: bool = False) -> Reply:
        if final:
            return await self._goodbye(snapshot, send)
        try:
            return await self._beat(snapshot, send)
        except VendorAuthError as refusal:
            log.warning("%s: the Xyte hub refused our key (%s); registering again", self.endpoint, refusal)
            await self._register_again(send, refusal)
            return await self._beat(snapshot, send)

    def registration(self) -> Optional[Registration]:
        values = [self.context.get(key) for key in REGISTRATION_KEYS]
        if not all(isinstance(value, str) and value for value in values):
            return None
        return Registration(*values)

    def forget_registration(self) -> None:
        """Drop what belonged to the old registration (its commands and config version too)."""
        self.context.delete(*REGISTRATION_KEYS, "commands", "config_version")

    # -- the flow ------------------------------------------------------------------------

    async def _beat(self, snapshot: Optional[Snapshot], send: Send) -> Reply:
        registration = self.registration() or await self._register(send)
        response = await send(self._telemetry_request(snapshot, registration))
        flags = xyte.decode_telemetry(response)
        self._override = False
        steps: list[str] = []
        skipped: list[str] = []
        actions: list[Action] = []
        follow_ups: list[Callable[[], Awaitable[None]]] = [
            lambda: self._report_finished_commands(registration, send, steps),
            lambda: self._retry_device_update(registration, send, steps),
            lambda: self._follow_config(flags, registration, send, steps),
            lambda: self._follow_command(flags, registration, send, steps, actions),
            lambda: self._follow_licenses(flags, registration, send, steps, skipped),
        ]
        for follow_up in follow_ups:
            try:
                await follow_up()
            except VendorRejectedError as exc:
                # One refused follow-up (a stale command id, say) must not stop the telemetry.
                log.warning("%s: %s", self.endpoint, exc)
                skipped.append(str(exc))
        self._check_firmware(flags, steps)
        stored = self.context.get("config")
        interval = xyte.config_interval(stored) if isinstance(stored, dict) else None
        summary = {"device_id": registration.device_id, "telemetry": flags.to_json(), "steps": steps}
        degraded = xyte.degradation(snapshot, set(self._seen_metrics), self.context.failing_endpoints())
        if degraded:
            summary["degraded"] = degraded
        return Reply(response.status, tuple(actions), interval, summary, tuple(skipped))

    async def _goodbye(self, snapshot: Optional[Snapshot], send: Send) -> Reply:
        """The last telemetry before a clean shutdown says ``offline`` (never registers for it)."""
        registration = self.registration()
        if registration is None:
            return Reply(summary={"steps": ["not registered: no offline telemetry"]})
        response = await send(self._telemetry_request(snapshot, registration, final=True))
        xyte.check(response)
        return Reply(response.status, summary={"steps": ["sent offline telemetry"]})

    def _telemetry_request(
        self, snapshot: Optional[Snapshot], registration: Registration, *, final: bool = False
    ) -> HttpRequest:
        degraded = (
            None
            if final
            else xyte.degradation(snapshot, self._seen_metrics, self.context.failing_endpoints())
        )
        return xyte.telemetry_request(
            snapshot,
            registration,
            override=self._override and not final,
            status="offline" if final else "error" if degraded else "online",
            taken_at=xyte.taken_at(snapshot, self.context.clock.now()),
            message=degraded,
        )

    async def _register(self, send: Send) -> Registration:
        registration = xyte.decode_registration(await send(xyte.registration_request(self.config)))
        self.forget_registration()
        self.context.update(
            {
                "device_id": registration.device_id,
                "access_key": registration.access_key,
                "hub_url": registration.hub_url,
                "reported_firmware": self.config.firmware_version,
            }
        )
        self._override = True
        log.info("%s: registered with Xyte as device %s", self.endpoint, registration.device_id)
        return registration

    async def _register_again(self, send: Send, refusal: VendorAuthError) -> None:
        """After a 401/403: a deleted device registers anew; one the hub still knows keeps its key.

        The old credentials are dropped only once a new registration succeeded, so a hub
        that refuses us for another reason (a proxy, a passing fault) does not leave the
        device with neither its key nor the right to register again.
        """
        try:
            await self._register(send)
        except VendorRejectedError as exc:
            if not xyte.is_already_registered(exc):
                raise
            raise VendorAuthError(
                f"{refusal}; the hub still knows this device, so it keeps its key ({exc})",
                status=refusal.status,
            ) from exc

    async def _report_finished_commands(
        self, registration: Registration, send: Send, steps: list[str]
    ) -> None:
        commands: dict[str, Any] = dict(self.context.get("commands") or {})
        for command_id, tracked in list(commands.items()):
            found = self.context.action_state(str(tracked.get("action_id")))
            if found is None or found[0] not in SUCCEEDED_STATES | FAILED_STATES:
                continue
            state, detail = found
            status = "done" if state in SUCCEEDED_STATES else "failed"
            message = _result_message(state, detail)
            try:
                xyte.check(await send(xyte.command_update_request(registration, command_id, status, message)))
                steps.append(f"command {command_id} reported {status}")
            except VendorRejectedError as exc:
                # The hub no longer has this command (cancelled, or our report already landed).
                log.warning(
                    "%s: the hub refused the result of command %s: %s", self.endpoint, command_id, exc
                )
                steps.append(f"command {command_id} no longer known to the hub")
            del commands[command_id]
            self.context.update({"commands": commands})

    async def _retry_device_update(self, registration: Registration, send: Send, steps: list[str]) -> None:
        pending = dict(self.context.get("device_update") or {})
        if self.context.get("reported_firmware") != self.config.firmware_version:
            pending["firmware_version"] = self.config.firmware_version
        not_before = self.context.get("device_update_not_before") or 0.0
        if not pending or self.context.clock.now().timestamp() < not_before:
            return
        try:
            xyte.check(await send(xyte.device_update_request(registration, pending)))
        except VendorTransportError as exc:
            retry_at = self.context.clock.now().timestamp() + DEVICE_UPDATE_RETRY_S
            self.context.update({"device_update": pending, "device_update_not_before": retry_at})
            steps.append(f"Update Device postponed: {exc}")
            return
        self.context.update({"reported_firmware": self.config.firmware_version})
        self.context.delete("device_update", "device_update_not_before")
        steps.append(f"Update Device {sorted(pending)}")

    async def _follow_config(
        self, flags: TelemetryReply, registration: Registration, send: Send, steps: list[str]
    ) -> None:
        stored_version = self.context.get("config_version") or 0
        if flags.config_version is None or flags.config_version <= stored_version:
            return
        version, config = xyte.decode_config(await send(xyte.config_request(registration)))
        interval = xyte.config_interval(config)
        applied = {"interval": interval} if interval is not None else {}
        ignored = sorted(key for key in config if key not in applied)
        pending = dict(self.context.get("device_update") or {})
        pending["config_version"] = version
        with self.context.atomic():  # the version is taken only with its config.applied owed
            self.context.update({"config": config, "config_version": version, "device_update": pending})
            self.context.emit(
                "config.applied",
                {"endpoint": self.endpoint, "version": version, "applied": applied, "ignored": ignored},
            )
        steps.append(f"config version {version} applied")
        await self._retry_device_update(registration, send, steps)

    async def _follow_command(
        self,
        flags: TelemetryReply,
        registration: Registration,
        send: Send,
        steps: list[str],
        actions: list[Action],
    ) -> None:
        if not flags.command:
            return
        command = xyte.decode_command(await send(xyte.command_request(registration)))
        if command is None:
            return
        commands: dict[str, Any] = dict(self.context.get("commands") or {})
        tracked = commands.get(command.id)
        if tracked is not None and tracked.get("reported") == "in_progress" and command.status != "pending":
            return  # still running; reported when the journal says it finished
        action = xyte.command_action(self.endpoint, command)
        if tracked is None:
            self.context.queue_action(action)
            actions.append(action)
            commands[command.id] = {"action_id": action.id, "reported": "received"}
            self.context.update({"commands": commands})
        xyte.check(await send(xyte.command_update_request(registration, command.id, "in_progress")))
        commands[command.id] = {"action_id": action.id, "reported": "in_progress"}
        self.context.update({"commands": commands})
        steps.append(f"command {command.id} ({command.name}) queued as {action.type}")

    async def _follow_licenses(
        self,
        flags: TelemetryReply,
        registration: Registration,
        send: Send,
        steps: list[str],
        skipped: list[str],
    ) -> None:
        if not flags.new_licenses:
            return
        changes, problems = xyte.decode_licenses(await send(xyte.licenses_request(registration)))
        skipped.extend(problems)
        for change in changes:
            licenses: dict[str, Any] = dict(self.context.get("licenses") or {})
            if change.change == "remove":
                licenses.pop(change.id, None)
                state = "removed"
            else:
                licenses[change.id] = {
                    "data": change.data,
                    "signature": change.signature,
                    "expires_at": change.expires_at,
                }
                state = "inuse"
            self.context.update({"licenses": licenses})
            xyte.check(await send(xyte.license_update_request(registration, change.id, state)))
            steps.append(f"license {change.id} {state}")

    def _check_firmware(self, flags: TelemetryReply, steps: list[str]) -> None:
        """The seed's rule: notify once when latest_fw_version passes latest_ver (SemVer)."""
        offered = flags.latest_fw_version
        if offered is None or version_key(offered) is None:
            return
        # latest_ver starts as curr_ver; a firmware already newer than the offer needs no news.
        stored = self.context.get("latest_ver")
        known = [v for v in (stored, self.config.firmware_version) if isinstance(v, str) and version_key(v)]
        if any(not is_newer(offered, version) for version in known):
            return
        with self.context.atomic():  # "told once" is recorded only with the telling
            self.context.update({"latest_ver": offered})
            self.context.emit(
                "firmware.available",
                {
                    "endpoint": self.endpoint,
                    "version": offered,
                    "file_id": flags.latest_fw_file_id,
                    "current_version": self.config.firmware_version,
                },
            )
        steps.append(f"firmware {offered} available")


def _result_message(state: str, detail: dict[str, Any]) -> str:
    """A one-line account of how the runner finished, for Update Command's ``message``."""
    for key in ("message", "error", "reason"):
        if isinstance(detail.get(key), str) and detail[key]:
            return str(detail[key])[:500]
    if "exit_code" in detail:
        return f"{state} (exit code {detail['exit_code']})"
    return state

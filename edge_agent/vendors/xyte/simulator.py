"""Xyte V1 HTTP Device API, server side: entry host and device hub in one (seed 001, protocols.md 2).

What the simulator enforces, and where each rule comes from:

- [DOC register-device] ``POST /v1/devices`` needs ``hardware_key`` (a model the
  simulator knows, see :meth:`XyteSimulator.add_model`), ``sn``, ``firmware_version`` and
  ``mac`` or ``cloud_id``; it mints a UUID ``id`` and a 32-hex ``access_key`` and answers
  ``{id, access_key, hub_url, hub_url_static_cert, mqtt_hub_url}`` with 200 [INFERRED
  status]. A missing field or an unknown hardware key answers 400 [INFERRED status].
  ``hub_url`` is this server's own address, from the ``Host`` header unless
  :attr:`XyteSimulator.hub_url` is set; ``mqtt_hub_url`` is None unless set [INFERRED: no
  MQTT hub is simulated].
- [DOC registration] a device registers once: a second registration with the same
  ``cloud_id``, or the same ``mac`` and ``sn``, of a device not deleted answers 409 [INFERRED
  status] ``{"error": "Device already registered"}`` (clients look for "already" [SRC]).
  MACs compare without case or separators [INFERRED].
- [DOC device-authentication] every hub route needs ``Authorization: <access_key>``, the
  raw key with no "Bearer": a wrong or missing key answers 401 ``{"error": "Not
  authorized"}``. A deleted device answers ``{"error": "Not found"}`` (the body the C++
  client observed for deleted devices [SRC]) with 401 by default (the sample agent
  re-registers on 401/403 [SRC]) or 404 (protocols.md 2.8) when deleted with
  ``delete_device(id, status=404)``: a client must re-register on either. Unknown paths
  answer 404, a known path with the wrong method 405 [INFERRED statuses].
- [DOC send-telemetry] telemetry needs ``status`` (online/offline/error); it joins the
  telemetries; ``override: true`` replaces the stored state; the reply's flags and
  versions are computed from the server's state. ``message`` (free text, in the seed's
  ``status: "error"`` example) must be a string when present, and is kept.
  [INFERRED] :meth:`XyteSimulator.refuse_telemetry` makes the next telemetries answer 200
  with ``success: false`` and a ``message`` (the reply's ``success`` field is documented,
  what comes with a false one is not): such a telemetry is not stored.
- [DOC get-config, device-model-versioning] Get Config answers the v1.0.7 shape
  ``{name, version, last_updated, config, device_id}``. A device POSTing its config
  stores it and bumps the version when it differs [INFERRED]; the body may be the whole
  Get Config document (as the sample agent sends it) or the bare config [INFERRED].
- [DOC get-command] one command at a time, FIFO; Get Command answers the head or ``{}``
  when none is pending [INFERRED]; Update Command needs ``id`` matching the head (else 409
  [INFERRED]) and moves it pending -> in_progress -> done | failed; done/failed pops it.
- [DOC get-licenses, update-license] a pending list; each Update License removes its item.
- [DOC update-device] only the documented parameters (else 400); ``config_version`` as an
  integer or a string; 429 past 10 calls per rolling hour on the simulator clock.
- [DOC faq-device-integration] an optional limiter: 429 ``{"error": "Too many requests"}``
  when more than ``rate_limit`` hub calls of one device land in a 30 s window.
- [INFERRED] firmware downloads are served without auth from ``/firmware/{file_id}``,
  standing in for the S3 URL that Get File names.
"""

from __future__ import annotations

import hmac
import random
import re
import threading
import uuid
from typing import Any, Callable, Optional, Union

from edge_agent.simulators.base import SimClock, SimRequest, SimResponse
from edge_agent.vendors.xyte.simulator_state import (
    LICENSE_ACTIONS,
    StateRuleError,
    XyteCommand,
    XyteDevice,
    XyteDeviceInfo,
    XyteFile,
    XyteLicense,
    iso,
    registration_problem,
    within_limit,
)

_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"^/v1/devices$"), {"POST": "register"}),
    (re.compile(r"^/v1/devices/(?P<id>[^/]+)$"), {"PUT": "update_device"}),
    (re.compile(r"^/v1/devices/(?P<id>[^/]+)/telemetry$"), {"POST": "telemetry"}),
    (re.compile(r"^/v1/devices/(?P<id>[^/]+)/config$"), {"GET": "get_config", "POST": "post_config"}),
    (re.compile(r"^/v1/devices/(?P<id>[^/]+)/command$"), {"GET": "get_command", "POST": "post_command"}),
    (re.compile(r"^/v1/devices/(?P<id>[^/]+)/licenses$"), {"GET": "get_licenses", "POST": "post_license"}),
    (re.compile(r"^/v1/devices/(?P<id>[^/]+)/files$"), {"GET": "get_files"}),
    (re.compile(r"^/v1/devices/(?P<id>[^/]+)/files/(?P<file_id>[^/]+)$"), {"GET": "get_file"}),
    (re.compile(r"^/firmware/(?P<file_id>[^/]+)$"), {"GET": "download"}),
]
_UNAUTHENTICATED = ("register", "download")
NOT_AUTHORIZED = {"error": "Not authorized"}
NOT_FOUND = {"error": "Not found"}


class XyteSimulator:
    """Xyte's provisioning host and device hub, with hooks for tests."""

    def __init__(
        self,
        clock: Optional[SimClock] = None,
        *,
        rng: Optional[random.Random] = None,
        rate_limit: Optional[int] = None,
        rate_window: float = 30.0,
        update_device_limit: int = 10,
        update_device_window: float = 3600.0,
        history_limit: Optional[int] = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.update_device_limit = update_device_limit
        self.update_device_window = update_device_window
        self.history_limit = history_limit
        self.hub_url: Optional[str] = None  # None: this server's own address, from Host
        self.mqtt_hub_url: Optional[str] = None
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._models: set[str] = set()
        self._devices: dict[str, XyteDevice] = {}
        self._files: dict[str, XyteFile] = {}
        self._latest_file: Optional[str] = None
        self._refusals: list[str] = []  # messages of the next telemetries answered success: false

    # ----------------------------------------------------------------- test hooks

    def add_model(self, hardware_key: str) -> None:
        """Let devices of this model (hardware key) register."""
        with self._lock:
            self._models.add(hardware_key)

    def set_config(self, device_id: str, config: dict[str, Any], name: Optional[str] = None) -> int:
        """Change the device's config from the portal side; returns the new version."""
        with self._lock:
            device = self._device(device_id)
            if name is not None:
                device.config_name = name
            device.replace_config(config, self.clock.now(), from_device=False)
            return device.config_version

    def queue_command(self, device_id: str, name: str, parameters: Optional[dict[str, Any]] = None) -> str:
        """Queue a command (``reboot``, ``dump``, ``update_firmware``...); returns its id."""
        with self._lock:
            command = XyteCommand(id=self._uuid(), name=name, parameters=dict(parameters or {}))
            device = self._device(device_id)
            device.commands.append(command)
            device.command_history.append(command)
            return command.id

    def queue_license(
        self,
        device_id: str,
        data: str,
        action: str = "add",
        signature: str = "",
        expires_at: Optional[str] = None,
    ) -> str:
        """Queue a license change (``add``, ``remove`` or ``update``); returns its id."""
        if action not in LICENSE_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(LICENSE_ACTIONS)}")
        with self._lock:
            item = XyteLicense(self._uuid(), data, action, signature, expires_at)
            self._device(device_id).licenses.append(item)
            return item.id

    def set_firmware(
        self, version: str, file_id: Optional[str] = None, content: bytes = b"", public_notes: str = ""
    ) -> str:
        """Publish a firmware file and make it the latest; returns its file id."""
        with self._lock:
            file_id = file_id or self._uuid()
            self._files[file_id] = XyteFile(
                id=file_id,
                version=version,
                name=f"firmware-{version}.bin",
                created_at=iso(self.clock.now()),
                content=content,
                public_notes=public_notes,
            )
            self._latest_file = file_id
            return file_id

    def set_versions(
        self, device_id: str, *, info_version: Optional[int] = None, space_data_version: Optional[int] = None
    ) -> None:
        """Move the info-tab and space versions (``space_data_version`` > 0 means claimed)."""
        with self._lock:
            device = self._device(device_id)
            if info_version is not None:
                device.info_version = info_version
            if space_data_version is not None:
                device.space_data_version = space_data_version

    def delete_device(self, device_id: str, *, status: int = 401) -> None:
        """Delete the device in the portal: its key stops working (``status``: 401 or 404
        with ``{"error": "Not found"}``), it may register again."""
        if status not in (401, 404):
            raise ValueError("a deleted device answers 401 or 404")
        with self._lock:
            device = self._device(device_id)
            device.deleted = True
            device.deleted_status = status

    def refuse_telemetry(self, times: int = 1, message: str = "Telemetry rejected") -> None:
        """Answer the next ``times`` telemetries with 200 and ``success: false`` (not stored)."""
        with self._lock:
            self._refusals.extend([message] * times)

    def command_history(self, device_id: str) -> list[dict[str, Any]]:
        """Every command queued for the device, oldest first, with its status and reports."""
        with self._lock:
            device = self._device(device_id)
            return [
                {**command.to_wire(device.id), "reports": [dict(r) for r in command.reports]}
                for command in device.command_history
            ]

    def license_reports(self, device_id: str) -> list[dict[str, Any]]:
        """The Update License bodies the device sent, oldest first."""
        with self._lock:
            return [dict(body) for body in self._device(device_id).license_reports]

    def telemetry_state(self, device_id: str) -> dict[str, Any]:
        """The device's current telemetry state after merges and overrides."""
        with self._lock:
            return dict(self._device(device_id).telemetry_state)

    def telemetries(self, device_id: str) -> list[dict[str, Any]]:
        """The raw telemetry bodies the server accepted, oldest first."""
        with self._lock:
            return [dict(body) for body in self._device(device_id).telemetries]

    def update_device_calls(self, device_id: str) -> list[dict[str, Any]]:
        """The accepted Update Device bodies, oldest first."""
        with self._lock:
            return [dict(body) for body in self._device(device_id).update_device_calls]

    def device(self, device_id: str) -> XyteDeviceInfo:
        """A read-only copy of a registered device's identity."""
        with self._lock:
            return self._device(device_id).info()

    def device_by_sn(self, sn: str) -> Optional[XyteDeviceInfo]:
        """The latest registration with serial ``sn`` (a live one before a deleted one)."""
        with self._lock:
            matches = [d for d in self._devices.values() if d.sn == sn]
            live = [d for d in matches if not d.deleted]
            candidates = live or matches
            return candidates[-1].info() if candidates else None

    # ----------------------------------------------------------------- the server

    def handle(self, request: SimRequest) -> SimResponse:
        route = _match(request.path)
        if route is None:
            return SimResponse.json(NOT_FOUND, 404)
        methods, params = route
        name = methods.get(request.method)
        if name is None:
            return SimResponse.json(
                {"error": "Method not allowed"}, 405, {"Allow": ", ".join(sorted(methods))}
            )
        handler: Callable[..., SimResponse] = getattr(self, f"_{name}")
        with self._lock:
            if name in _UNAUTHENTICATED:
                return handler(request, **params)
            outcome = self._authenticate(request, params.pop("id"))
            if isinstance(outcome, SimResponse):
                return outcome
            try:
                return handler(request, outcome, **params)
            except StateRuleError as exc:
                return SimResponse.json({"error": str(exc)}, exc.status)

    def _authenticate(self, request: SimRequest, device_id: str) -> Union[XyteDevice, SimResponse]:
        """The device the call may act on, or the refusal to send instead."""
        device = self._devices.get(device_id)
        key = request.headers.get("authorization", "")
        if device is None or not hmac.compare_digest(key.encode(), device.access_key.encode()):
            return SimResponse.json(NOT_AUTHORIZED, 401)
        if device.deleted:
            return SimResponse.json(NOT_FOUND, device.deleted_status)
        if self.rate_limit is not None:
            now = self.clock.timestamp()
            if not within_limit(device.call_times, now, self.rate_window, self.rate_limit):
                return SimResponse.json({"error": "Too many requests"}, 429)
            device.call_times.append(now)
        return device

    def _register(self, request: SimRequest) -> SimResponse:
        body = _json_object(request)
        if body is None:
            return SimResponse.json({"error": "The body must be a JSON object"}, 400)
        problem = registration_problem(body, self._models, self._devices.values())
        if problem is not None:
            status, message = problem
            return SimResponse.json({"error": message}, status)
        device = XyteDevice(
            id=self._uuid(),
            access_key=f"{self._rng.getrandbits(128):032x}",
            hardware_key=body["hardware_key"],
            sn=body["sn"],
            firmware_version=body["firmware_version"],
            registered_at=self.clock.now(),
            mac=body.get("mac") or None,
            cloud_id=body.get("cloud_id") or None,
        )
        optional = ("name", "details", "sub_model", "parent_id")
        device.properties.update({key: body[key] for key in optional if key in body})
        self._devices[device.id] = device
        hub = self.hub_url or _own_url(request)
        return SimResponse.json(
            {
                "id": device.id,
                "access_key": device.access_key,
                "hub_url": hub,
                "hub_url_static_cert": hub,
                "mqtt_hub_url": self.mqtt_hub_url,
            }
        )

    def _telemetry(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        body = _required_object(request)
        latest = self._files.get(self._latest_file) if self._latest_file else None
        if self._refusals:
            reply = device.telemetry_reply(latest)
            reply.update({"success": False, "message": self._refusals.pop(0)})
            return SimResponse.json(reply)
        device.apply_telemetry(body)
        device.telemetries.append(dict(body))
        if self.history_limit is not None and len(device.telemetries) > self.history_limit:
            del device.telemetries[: -self.history_limit]
        return SimResponse.json(device.telemetry_reply(latest))

    def _get_config(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        return SimResponse.json(device.config_document())

    def _post_config(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        body = _required_object(request)
        config = body["config"] if isinstance(body.get("config"), dict) else body
        device.replace_config(config, self.clock.now(), from_device=True)
        return SimResponse.json(device.config_document())

    def _get_command(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        return SimResponse.json(device.commands[0].to_wire(device.id) if device.commands else {})

    def _post_command(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        device.report_command(_required_object(request))
        return SimResponse.json({"success": True})

    def _get_licenses(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        return SimResponse.json([item.to_wire(device.id) for item in device.licenses])

    def _post_license(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        device.report_license(_required_object(request))
        return SimResponse.json({"success": True})

    def _update_device(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        body = _required_object(request)
        now = self.clock.timestamp()
        times = device.update_device_times
        if not within_limit(times, now, self.update_device_window, self.update_device_limit):
            return SimResponse.json({"error": "Too many requests"}, 429)
        device.update_properties(body)
        times.append(now)
        device.update_device_calls.append(dict(body))
        return SimResponse.json({"success": True})

    def _get_files(self, request: SimRequest, device: XyteDevice) -> SimResponse:
        base = self.hub_url or _own_url(request)
        return SimResponse.json([f.to_wire(f"{base}/firmware/{f.id}") for f in self._files.values()])

    def _get_file(self, request: SimRequest, device: XyteDevice, file_id: str) -> SimResponse:
        found = self._files.get(file_id)
        if found is None:
            return SimResponse.json(NOT_FOUND, 404)
        base = self.hub_url or _own_url(request)
        return SimResponse.json(found.to_wire(f"{base}/firmware/{found.id}"))

    def _download(self, request: SimRequest, file_id: str) -> SimResponse:
        found = self._files.get(file_id)
        if found is None:
            return SimResponse.json(NOT_FOUND, 404)
        return SimResponse(200, found.content, {"Content-Type": "application/octet-stream"})

    def _device(self, device_id: str) -> XyteDevice:
        try:
            return self._devices[device_id]
        except KeyError:
            raise KeyError(f"no device with id {device_id!r}") from None

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def _match(path: str) -> Optional[tuple[dict[str, str], dict[str, str]]]:
    for pattern, methods in _ROUTES:
        found = pattern.match(path)
        if found is not None:
            return methods, dict(found.groupdict())
    return None


def _json_object(request: SimRequest) -> Optional[dict[str, Any]]:
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _required_object(request: SimRequest) -> dict[str, Any]:
    body = _json_object(request)
    if body is None:
        raise StateRuleError(400, "The body must be a JSON object")
    return body


def _own_url(request: SimRequest) -> str:
    """This server's base URL as the client addressed it (the hub is the entry host)."""
    return f"http://{request.headers.get('host') or '127.0.0.1'}"


# ---------------------------------------------------------------- registry convention


def create(clock: Optional[SimClock] = None) -> XyteSimulator:
    """A simulator with no models: tests add theirs with :meth:`XyteSimulator.add_model`."""
    return XyteSimulator(clock)


DEMO_HARDWARE_KEY = "demo-hardware-key-0001"


def seed_demo(app: XyteSimulator) -> dict[str, str]:
    """Know a demo model and publish a demo firmware, for ``edge-agent simulate``."""
    app.add_model(DEMO_HARDWARE_KEY)
    app.set_firmware("1.0.0", content=b"demo firmware image\n")
    return {"hardware_key": DEMO_HARDWARE_KEY}


def describe(base_url: str) -> str:
    """The hint ``edge-agent simulate`` prints for an integrator."""
    return (
        f"Xyte entry host and device hub: register with POST {base_url}/v1/devices; "
        f'set [heartbeats.<name>] entry_url = "{base_url}" and hardware_key to the demo key'
    )

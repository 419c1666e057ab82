"""Every registered vendor's simulator on loopback, and the ``[heartbeats.*]`` tables that point at them.

The one generator of vendor worlds: the demo (:mod:`edge_agent.demo.world`), the tests
(``tests/support/vendor_world.py``) and the benchmarks (``bench/agent_rig.py``) start
their simulators here and ask here for the endpoint tables, each at its own pace. What
a vendor's endpoint looks like is said once, in its folder's ``endpoint.py``; so a
vendor added to the registry joins every world without an edit to any of them.

Nothing here starts the agent or a broker, and the running agent never imports it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, Optional

from edge_agent.simulators.base import SimulatorServer
from edge_agent.vendors.place import Place
from edge_agent.vendors.registry import VENDORS

OFFLINE_URL = "http://127.0.0.1:9"
"""The discard port on loopback: an endpoint that is configured but never reached (a fuzz test)."""


def endpoint_module(vendor: str) -> ModuleType:
    """``edge_agent/vendors/<vendor>/endpoint.py``: how that vendor's endpoint is pointed at its simulator."""
    return VENDORS[vendor].endpoint_module()


def endpoint_names() -> dict[str, str]:
    """vendor -> the ``[heartbeats.<name>]`` each world gives it, in registry order."""
    return {vendor: endpoint_module(vendor).ENDPOINT_NAME for vendor in VENDORS}


def seeded(
    vendor: str, *, interval: Optional[float] = None, history_limit: Optional[int] = None
) -> tuple[Any, dict[str, str]]:
    """A fresh simulator of ``vendor``, not yet serving, and the demo credentials it was seeded with.

    ``interval``: the pace the world beats at (None: each vendor's own), for a simulator
    that names the interval itself (the AI-box platform's Ack, see its ``prepare``);
    ``history_limit``: what a simulator that keeps a history remembers, for a world left
    running for hours.
    """
    simulator = VENDORS[vendor].simulator_module()
    app = simulator.create()
    if history_limit is not None and hasattr(app, "history_limit"):
        app.history_limit = history_limit
    credentials = simulator.seed_demo(app)
    prepare = getattr(endpoint_module(vendor), "prepare", None)
    if prepare is not None:
        prepare(app, interval)
    return app, credentials


def endpoint_table(
    vendor: str,
    url: str,
    credentials: Mapping[str, str],
    place: Place,
    *,
    interval: Optional[float] = None,
    defaults_for: Iterable[str] = (),
    extra: Optional[Mapping[str, Any]] = None,
) -> dict[str, Any]:
    """One endpoint's table, as ``vendor``'s ``endpoint.py`` describes it, tuned to the world.

    The description is tuned for the demo (short intervals and timeouts). ``interval``
    replaces its interval (never below the vendor's ``MIN_INTERVAL``); the keys named in
    ``defaults_for`` are left out, so the config's defaults apply (``"interval"``: each
    vendor's own pace); ``extra`` keys replace or add to the table last.
    """
    endpoint = endpoint_module(vendor)
    table = dict(endpoint.endpoint_table(url, credentials, place))
    if interval is not None:
        table["interval"] = max(interval, getattr(endpoint, "MIN_INTERVAL", interval))
    for key in defaults_for:
        table.pop(key, None)
    table.update(extra or {})
    return table


def offline_tables(place: Place) -> dict[str, dict[str, Any]]:
    """vendor -> its table pointed at :data:`OFFLINE_URL`, with credentials its simulator would seed."""
    tables = {}
    for vendor in VENDORS:
        _, credentials = seeded(vendor)
        tables[vendor] = endpoint_table(vendor, OFFLINE_URL, credentials, place)
    return tables


class SimulatedVendors:
    """Every registered vendor's server on loopback, seeded with its demo credentials."""

    def __init__(
        self, servers: Mapping[str, SimulatorServer], credentials: Mapping[str, dict[str, str]]
    ) -> None:
        self.servers = dict(servers)
        self.credentials = dict(credentials)

    @classmethod
    def start(
        cls,
        *,
        interval: Optional[float] = None,
        history_limit: Optional[int] = None,
        record_limit: Optional[int] = None,
        vendors: Optional[Iterable[str]] = None,
    ) -> SimulatedVendors:
        """Seed and serve every vendor's simulator (see :func:`seeded` for the options), or only
        those of ``vendors`` (a benchmark comparing with an earlier run's set of vendors)."""
        servers: dict[str, SimulatorServer] = {}
        credentials: dict[str, dict[str, str]] = {}
        chosen = (
            list(VENDORS) if vendors is None else [vendor for vendor in VENDORS if vendor in set(vendors)]
        )
        try:
            for vendor in chosen:
                app, credentials[vendor] = seeded(vendor, interval=interval, history_limit=history_limit)
                servers[vendor] = SimulatorServer(app, record_limit=record_limit).start()
        except BaseException:
            for server in servers.values():
                server.close()
            raise
        return cls(servers, credentials)

    def close(self) -> None:
        """Stop every simulator's server (their threads end, their ports close)."""
        for server in self.servers.values():
            server.close()

    @property
    def apps(self) -> dict[str, Any]:
        """vendor -> its simulator, for its test hooks (queue an action, push a report...)."""
        return {vendor: server.app for vendor, server in self.servers.items()}

    def app(self, vendor: str) -> Any:
        return self.servers[vendor].app

    def url(self, vendor: str) -> str:
        return self.servers[vendor].url

    def tables(
        self,
        place: Place,
        *,
        interval: Optional[float] = None,
        defaults_for: Iterable[str] = (),
        extra: Optional[Mapping[str, Mapping[str, Any]]] = None,
    ) -> dict[str, dict[str, Any]]:
        """endpoint name -> its table against these simulators (``extra`` by endpoint name)."""
        extra = extra or {}
        tables = {}
        for vendor, name in endpoint_names().items():
            if vendor not in self.servers:
                continue  # not started: see ``vendors`` of :meth:`start`
            tables[name] = endpoint_table(
                vendor,
                self.url(vendor),
                self.credentials[vendor],
                place,
                interval=interval,
                defaults_for=defaults_for,
                extra=extra.get(name),
            )
        return tables

    def heartbeat_toml(self, place: Place, **tuning: Any) -> str:
        """Every ``[heartbeats.<name>]`` table as TOML text (``tuning`` as for :meth:`tables`)."""
        tables = self.tables(place, **tuning)
        return "\n".join(toml_table(f"heartbeats.{name}", table) for name, table in tables.items())

    def rehearsals(self, place: Place) -> dict[str, Any]:
        """vendor -> its end-to-end :class:`~edge_agent.vendors.rehearsal.Rehearsal` (empty if none)."""
        from edge_agent.vendors.rehearsal import Rehearsal

        found = {}
        for vendor in VENDORS:
            rehearse = getattr(endpoint_module(vendor), "rehearsal", None)
            found[vendor] = Rehearsal()
            if rehearse is not None:
                found[vendor] = rehearse(self.app(vendor), self.credentials[vendor], place)
        return found


def toml_table(header: str, table: Mapping[str, Any]) -> str:
    """``[header]`` and its keys, for the flat tables endpoint descriptions hold."""
    return f"[{header}]\n" + toml_keys(table)


def toml_keys(table: Mapping[str, Any]) -> str:
    """``key = value`` lines of a flat table (keys as the config spells them: bare words)."""
    return "".join(f"{key} = {toml_value(value)}\n" for key, value in table.items())


def toml_value(value: Any) -> str:
    """A TOML value for what endpoint tables hold: strings, numbers, booleans, lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return toml_string(str(value))


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's string escapes are valid TOML for what we write)."""
    return json.dumps(value, ensure_ascii=False)

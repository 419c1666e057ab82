"""The primary IPv4 address and MAC: those of the interface that holds the default route.

Everything comes from files, so it works on a fixture tree and costs no process:

* ``/proc/net/route`` gives the default route's interface (lowest metric wins) and that
  interface's connected subnets (its routes with a non-zero mask). Android keeps its
  default routes in per-network policy tables, so its main table (the one this file
  shows) holds only connected subnets: then the first interface with one is primary;
* ``/proc/net/fib_trie`` lists the host's own addresses (``/32 host LOCAL``); the primary
  IP is the one inside a connected subnet of the default-route interface;
* ``/sys/class/net/<if>/address`` gives the MAC.

Without any route (offline), the MAC is still the device's identity: it is then the
first interface, in name order, that has a real (non-zero) hardware address. Where
``/proc/net`` is closed (Android 10+) and the root is the live ``/``, psutil's view of
the interfaces (getifaddrs) is the fallback; on a fixture tree it is not, since it would
describe the machine running the tests.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Callable, ClassVar, Generic, Optional, TypeVar

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable

T = TypeVar("T")

ROUTE = "/proc/net/route"
FIB_TRIE = "/proc/net/fib_trie"
NET_DIR = "/sys/class/net"

_RTF_UP = 0x1
_NO_MAC = {"", "00:00:00:00:00:00"}


@dataclass(frozen=True)
class Route:
    """One IPv4 route of ``/proc/net/route``."""

    interface: str
    destination: ipaddress.IPv4Address
    mask: ipaddress.IPv4Address
    metric: int
    up: bool

    @property
    def is_default(self) -> bool:
        return int(self.destination) == 0 and int(self.mask) == 0

    def contains(self, address: ipaddress.IPv4Address) -> bool:
        return int(address) & int(self.mask) == int(self.destination)


def _hex_address(value: str) -> ipaddress.IPv4Address:
    """``/proc/net/route`` prints addresses as host-order (little-endian) hex."""
    return ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(value), "little"))


def parse_routes(text: str) -> list[Route]:
    routes: list[Route] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            routes.append(
                Route(
                    interface=fields[0],
                    destination=_hex_address(fields[1]),
                    mask=_hex_address(fields[7]),
                    metric=int(fields[6]),
                    up=bool(int(fields[3], 16) & _RTF_UP),
                )
            )
        except ValueError as exc:
            raise SensorUnavailable(f"malformed {ROUTE}: {line.strip()[:60]!r}") from exc
    return routes


def primary_interface(routes: list[Route]) -> Optional[str]:
    """The default route's interface (lowest metric), else the first with a connected subnet."""
    defaults = [route for route in routes if route.is_default and route.up]
    if defaults:
        return min(defaults, key=lambda route: route.metric).interface
    connected = [route for route in routes if route.up and route.interface != "lo"]
    return connected[0].interface if connected else None


# A leaf line, then its prefix lines; the address is ours when one of them is "/32 host LOCAL".
_LOCAL_LEAF = re.compile(r"\|-- (\S+)\n(?:[ \t]+/\d+ [^\n]*\n)*?[ \t]+/32 host LOCAL")


def parse_local_addresses(text: str) -> list[ipaddress.IPv4Address]:
    """The host's own IPv4 addresses: the ``/32 host LOCAL`` leaves of ``/proc/net/fib_trie``."""
    found: list[ipaddress.IPv4Address] = []
    for leaf in dict.fromkeys(_LOCAL_LEAF.findall(text)):
        try:
            found.append(ipaddress.IPv4Address(leaf))
        except ValueError as exc:
            raise SensorUnavailable(f"malformed {FIB_TRIE}: {leaf[:40]!r}") from exc
    return found


def primary_ip(
    host: HostPaths,
    routes: list[Route],
    interface: str,
    local_addresses: Callable[[str], list[ipaddress.IPv4Address]] = parse_local_addresses,
) -> str:
    """The interface's own address inside one of its connected subnets.

    fib_trie does not say which interface holds an address, so two interfaces on one
    subnet (a Pi on both Ethernet and Wi-Fi of the same LAN) are ambiguous from files
    alone; on the live root getifaddrs settles it, on a fixture the first address wins.
    """
    subnets = [route for route in routes if route.interface == interface and int(route.mask) != 0]
    candidates = [
        str(address)
        for address in local_addresses(host.read_text(FIB_TRIE))
        if not address.is_loopback and any(subnet.contains(address) for subnet in subnets)
    ]
    if not candidates:
        raise SensorUnavailable(f"no IPv4 address of {interface} in {FIB_TRIE}")
    if len(candidates) > 1 and host.is_live:
        owned = [address for address in candidates if address in _psutil_ipv4(interface)]
        return owned[0] if owned else candidates[0]
    return candidates[0]


def _psutil_ipv4(interface: str) -> list[str]:
    import psutil  # only when files cannot tell: it costs memory on a Pi Zero

    return [a.address for a in psutil.net_if_addrs().get(interface, []) if a.family == socket.AF_INET]


def read_mac(host: HostPaths, interface: str) -> str:
    mac = host.read_line(f"{NET_DIR}/{interface}/address").lower()
    if mac in _NO_MAC:
        raise SensorUnavailable(f"{interface} has no MAC address")
    return mac


def first_hardware_mac(host: HostPaths) -> str:
    """The MAC of the first interface (name order) that has one: identity when offline."""
    for path in host.list_dir(NET_DIR):
        interface = path.rsplit("/", 1)[-1]
        if interface == "lo":
            continue
        try:
            return read_mac(host, interface)
        except SensorUnavailable:
            continue
    raise SensorUnavailable(f"no interface with a MAC address in {NET_DIR}")


def psutil_primary() -> dict[str, str]:
    """IP and MAC of the first up, non-loopback interface with IPv4, as getifaddrs sees them."""
    import psutil  # only on the fallback path: it costs memory on a Pi Zero

    stats = psutil.net_if_stats()
    for name, addresses in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        ipv4 = [
            a.address
            for a in addresses
            if a.family == socket.AF_INET and not ipaddress.IPv4Address(a.address).is_loopback
        ]
        if not ipv4:
            continue
        values = {"ip": ipv4[0]}
        macs = [a.address.lower() for a in addresses if a.family == psutil.AF_LINK]
        if macs and macs[0] not in _NO_MAC:
            values["mac"] = macs[0]
        return values
    raise SensorUnavailable("no up interface with an IPv4 address")


class LastParse(Generic[T]):
    """``parse(text)``, parsed again only when the text differs from the last one.

    The routing table and fib_trie rarely change between cycles, and parsing them (a
    regular expression over fib_trie, an address object per route) was a twentieth of an
    agent's instructions at a 1 s interval; comparing two short strings costs next to
    nothing. A parse that raises is not kept.
    """

    def __init__(self, parse: Callable[[str], list[T]]) -> None:
        self._parse = parse
        self._text: Optional[str] = None
        self._parsed: list[T] = []

    def __call__(self, text: str) -> list[T]:
        if text != self._text:
            self._parsed = self._parse(text)
            self._text = text
        return list(self._parsed)  # a copy: a caller may change its list


class NetworkCollector:
    """The primary IP and MAC address of the host."""

    keys: ClassVar[tuple[str, ...]] = ("ip", "mac")

    def __init__(self, context: CollectorContext) -> None:
        self._host = context.host
        self._routes = LastParse(parse_routes)
        self._local_addresses = LastParse(parse_local_addresses)
        self.may_wait = False

    def read(self) -> Reading:
        reading = Reading()
        try:
            routes = self._routes(self._host.read_text(ROUTE))
        except SensorUnavailable as exc:
            if not self._host.is_live:
                reading.mark_unavailable(self.keys, exc.reason)
                return reading
            with reading.guard("ip", "mac"):
                reading.values.update(psutil_primary())
                if "mac" not in reading.values:
                    reading.mark_unavailable(("mac",), f"{exc.reason}; no MAC from getifaddrs")
            return reading
        interface = primary_interface(routes)
        if interface is None:
            reading.mark_unavailable(("ip",), f"no route in {ROUTE}")
            with reading.guard("mac"):
                reading.values["mac"] = first_hardware_mac(self._host)
            return reading
        with reading.guard("ip"):
            reading.values["ip"] = primary_ip(self._host, routes, interface, self._local_addresses)
        with reading.guard("mac"):
            reading.values["mac"] = read_mac(self._host, interface)
        return reading

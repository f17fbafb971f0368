"""Purdue level proposed from the role and the asset's position in the traffic, with the reason shown.

- A role that fixes the level keeps it wherever the asset sits: controllers, RTUs, IEDs, remote I/O and
  field gateways are level 1; HMIs, SCADA and OPC servers level 2. These assets anchor their subnet
  (IPv4 /24, IPv6 /64): the subnet sits at the highest level anchored in it.
- Roles that do not fix a level (workstations, historians, brokers, IT hosts) take their subnet's.
  In an anchored subnet that is at least 2: a host that is not a controller is not level 1.
- A subnet without anchors is placed by the conversations of its hosts with other subnets (industrial or
  not; shared infrastructure such as DNS, NTP and directory services is left out, it spans every zone,
  and so are network devices, whose traffic is management): one step from an anchored subnet is site
  operations (3); two steps, with subnets further out beyond it, is the IT/OT DMZ between them (3.5);
  further out is enterprise IT (4).
- A network device sits at the highest level among the subnets of its interfaces.
- A public address with no MAC address on the capture (reached through a router) is on the internet (5).
- Anything the traffic does not place keeps its role's level.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from zonewarden.inventory.roles import RoleDecision
from zonewarden.model.assets import Asset

SITE_OPERATIONS, DMZ, ENTERPRISE, INTERNET = 3, 3.5, 4, 5
# Address space that is never the internet. Documentation prefixes (RFC 5737, RFC 3849) are not in it:
# examples and simulations use them for internet hosts.
LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8",
    "fc00::/7", "fe80::/10", "::1/128"))
LINK_LOCAL = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10"))
# Shared infrastructure every zone uses (edge protocol names, or transport/port when no analyzer named it).
INFRASTRUCTURE = {"dns": "DNS", "ntp": "NTP", "dhcp": "DHCP", "kerberos": "Kerberos", "ldap": "LDAP", "snmp": "SNMP",
                  "syslog": "syslog"}
INFRASTRUCTURE_PORTS = {53: "DNS", 67: "DHCP", 68: "DHCP", 88: "Kerberos", 123: "NTP", 161: "SNMP", 162: "SNMP",
                        389: "LDAP", 514: "syslog", 636: "LDAPS", 3268: "LDAP global catalog"}
NOT_A_CONTROLLER_MIN = 2
MAX_NAMED = 3  # subnets or assets named in one reason


@dataclass(frozen=True, slots=True)
class LevelDecision:
    purdue_level: float | None
    reason: str


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (network, netmask) as integers per IP version: ``addr in net`` without building objects per call.
_LOCAL_RANGES = {v: tuple((int(n.network_address), int(n.netmask)) for n in LOCAL_NETWORKS if n.version == v)
                 for v in (4, 6)}
_LINK_LOCAL_RANGES = {v: tuple((int(n.network_address), int(n.netmask)) for n in LINK_LOCAL if n.version == v)
                      for v in (4, 6)}


@lru_cache(maxsize=1 << 16)
def parse_address(ip: str) -> Address | None:
    """``ipaddress.ip_address(ip)``, parsed once per address however often the inventory asks; None if not an IP.
    IPv4 text is read by the C library (a third of the time of ipaddress's parser, which takes the rest: the
    two refuse the same forms, leading zeros included)."""
    try:
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, ip))
    except (OSError, ValueError):  # (ValueError: an embedded NUL)
        pass
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


def _within(addr: Address, ranges: dict[int, tuple[tuple[int, int], ...]]) -> bool:
    value = int(addr)
    return any(value & mask == net for net, mask in ranges[addr.version])


@lru_cache(maxsize=1 << 16)
def subnet(ip: str) -> str | None:
    """The subnet an address is placed by: its IPv4 /24 or IPv6 /64 (None for link-local and non-addresses)."""
    addr = parse_address(ip)
    if addr is None or _within(addr, _LINK_LOCAL_RANGES):
        return None
    if addr.version == 4:  # an IPv4 address parses from its one canonical text: a.b.c.d -> a.b.c.0/24
        return f"{ip.rpartition('.')[0]}.0/24"
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def is_public(ip: str) -> bool:
    addr = parse_address(ip)
    if addr is None:
        return False
    return not (addr.is_multicast or _within(addr, _LOCAL_RANGES))


def is_infrastructure(proto: str) -> bool:
    transport, _, port = proto.partition("/")
    if port.isdigit() and transport in ("tcp", "udp"):
        return int(port) in INFRASTRUCTURE_PORTS
    return proto in INFRASTRUCTURE


def _fmt(level: float) -> str:
    return f"{level:g}"


def _names(items: Iterable[str], keep_order: bool = False) -> str:
    items = list(items) if keep_order else sorted(items)
    more = f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else ""
    return ", ".join(items[:MAX_NAMED]) + more


def _subnet_levels(anchors: dict[str, list[tuple[float, str]]],
                   adjacent: dict[str, set[str]]) -> dict[str, LevelDecision]:
    out: dict[str, LevelDecision] = {}
    hops: dict[str, int] = {}
    queue: deque[str] = deque()
    for net, held in anchors.items():
        level = max(lvl for lvl, _ in held)
        top = [what for lvl, what in held if lvl == level]
        out[net] = LevelDecision(level, f"subnet {net} holds level-{_fmt(level)} assets ({_names(top)})")
        hops[net] = 0
        queue.append(net)
    while queue:
        net = queue.popleft()
        for other in adjacent.get(net, ()):
            if other not in hops:
                hops[other] = hops[net] + 1
                queue.append(other)
    for net, hop in hops.items():
        nearer = _names(n for n in adjacent.get(net, ()) if hops[n] == hop - 1)
        if hop == 1:
            out[net] = LevelDecision(SITE_OPERATIONS, f"subnet {net} talks directly with control subnets ({nearer}) "
                                                      "and holds no controller or HMI: site operations")
        elif hop == 2 and (further := [n for n in adjacent.get(net, ()) if hops[n] > hop]):
            out[net] = LevelDecision(DMZ, f"subnet {net} sits between site operations ({nearer}) and subnets "
                                          f"further from the control network ({_names(further)}): IT/OT DMZ")
        elif hop >= 2:
            out[net] = LevelDecision(ENTERPRISE, f"subnet {net} reaches the control subnets only through {nearer} "
                                                 f"({hop} steps): enterprise IT")
    return out


def propose_levels(assets: list[Asset], decisions: dict[str, RoleDecision],
                   conversations: Iterable[tuple[str, str, str]]) -> dict[str, LevelDecision]:
    """A level and its reason for every asset with a role, from the roles and who talks with whom.

    ``conversations`` are (client address, server address, protocol) as the communication map records them.
    """
    anchors: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for a in assets:
        d = decisions.get(a.asset_id)
        if d is not None and d.fixed and d.purdue_level is not None:
            for ip in a.ips:
                if (net := subnet(ip)) is not None:
                    anchors[net].append((d.purdue_level, f"{d.role} {ip}"))
    internet = {a.asset_id for a in assets if a.ips and not a.macs and all(map(is_public, a.ips))
                and not (a.asset_id in decisions and decisions[a.asset_id].fixed)
                and not any(subnet(ip) in anchors for ip in a.ips)}
    owner = {ip: a.asset_id for a in assets for ip in a.ips}
    # Network devices' own traffic is management, internet hosts are outside: neither places a subnet.
    outside = internet | {aid for aid, d in decisions.items() if d.role == "network_device"}
    adjacent: dict[str, set[str]] = defaultdict(set)
    for client, server, proto in conversations:
        if is_infrastructure(proto) or owner.get(client) in outside or owner.get(server) in outside:
            continue
        near, far = subnet(client), subnet(server)
        if near is not None and far is not None and near != far:
            adjacent[near].add(far)
            adjacent[far].add(near)
    placed = _subnet_levels(anchors, adjacent)
    out: dict[str, LevelDecision] = {}
    for a in assets:
        d = decisions.get(a.asset_id)
        if d is None:
            continue
        if d.fixed:
            out[a.asset_id] = LevelDecision(d.purdue_level, f"role {d.role} is level {_fmt(d.purdue_level or 0)} "
                                                            "wherever it sits")
            continue
        if a.asset_id in internet:
            out[a.asset_id] = LevelDecision(INTERNET, f"public address {a.ips[0]} reached through a router: "
                                                      "the internet")
            continue
        nets = sorted({net for ip in a.ips if (net := subnet(ip)) in placed})
        if not nets:
            why = "no subnet of it is placed by the traffic"
            out[a.asset_id] = LevelDecision(d.purdue_level, f"{why}: the level of role {d.role}" if d.purdue_level
                                            is not None else why)
            continue
        level = max(placed[n].purdue_level or 0 for n in nets)
        if d.role == "network_device":
            by_level = sorted(nets, key=lambda n: -(placed[n].purdue_level or 0))
            each = _names([f"{n} at {_fmt(placed[n].purdue_level or 0)}" for n in by_level], keep_order=True)
            out[a.asset_id] = LevelDecision(level, f"the highest level among the subnets of its interfaces ({each})")
            continue
        top = next(placed[n] for n in nets if placed[n].purdue_level == level)
        if any(n in anchors for n in nets) and level < NOT_A_CONTROLLER_MIN:
            out[a.asset_id] = LevelDecision(NOT_A_CONTROLLER_MIN, f"{top.reason}; a {d.role} is not a controller: "
                                                                  f"level {_fmt(NOT_A_CONTROLLER_MIN)}")
            continue
        out[a.asset_id] = LevelDecision(level, top.reason)
    return out

"""The site description: networks, devices (with the identity they disclose) and the conversations between them.

A site is a YAML file (``sites/default.yaml`` is the reference plant). Loading validates everything a user can
get wrong and raises ``ConfigError`` naming the file, the entry and the fix, so the CLI prints one line.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from zonewarden.errors import ConfigError
from zonewarden.simulate.physics import FACTORIES as PROCESSES

ROLES = ("plc", "rtu", "ied", "io_device", "hmi", "scada_server", "opc_server", "iot_gateway",
         "engineering_workstation", "historian", "network_device", "it_host")
PURDUE_LEVELS = (0, 1, 2, 3, 3.5, 4, 5)
# Protocols a device can serve (``protocols:``) and that a client can poll (``polls:``).
SERVED = ("modbus", "s7comm", "s7comm_plus", "enip", "dnp3", "iec104", "bacnet", "profinet_dcp", "opcua", "mqtt",
          "dns", "ntp", "http", "https", "http_proxy", "smb", "rdp", "ldap", "kerberos", "ssh", "pi", "syslog")
POLLED = (*SERVED, "mqtt_sub")
# Default server port of each polled protocol (the truth's transport and the firewall's conduits).
PORTS = {"modbus": ("tcp", 502), "s7comm": ("tcp", 102), "s7comm_plus": ("tcp", 102), "enip": ("tcp", 44818),
         "dnp3": ("tcp", 20000), "iec104": ("tcp", 2404), "bacnet": ("udp", 47808), "profinet_dcp": ("l2", 0),
         "opcua": ("tcp", 4840),
         "mqtt": ("tcp", 1883), "mqtt_sub": ("tcp", 1883), "dns": ("udp", 53), "ntp": ("udp", 123),
         "http": ("tcp", 80), "https": ("tcp", 443), "http_proxy": ("tcp", 3128), "smb": ("tcp", 445),
         "rdp": ("tcp", 3389), "ldap": ("tcp", 389), "kerberos": ("tcp", 88), "ssh": ("tcp", 22),
         "pi": ("tcp", 5450), "syslog": ("udp", 514)}
OS_KINDS = ("windows", "linux", "embedded")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
DEFAULT_SITE = "default"


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    subnet: ipaddress.IPv4Network
    vlan: int | None
    gateway: str | None
    zone: str
    purdue_level: float | None
    external: bool = False  # the internet: hosts without MACs, seen behind the gateway


@dataclass(frozen=True, slots=True)
class Poll:
    """A client's recurring conversation with a server: what the truth calls an edge."""

    server: str
    proto: str
    period: float
    options: Mapping[str, Any] = field(default_factory=dict)
    port: int | None = None  # overrides the protocol's default port


@dataclass(frozen=True, slots=True)
class Interface:
    network: str
    ip: str


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    role: str
    purdue_level: float | None
    zone: str
    mac: str | None
    interfaces: tuple[Interface, ...]
    vendor: str
    product: str
    firmware: str
    serial: str
    os: str
    protocols: Mapping[str, Mapping[str, Any]]
    polls: tuple[Poll, ...]
    process: str | None
    description: str

    @property
    def ip(self) -> str:
        return self.interfaces[0].ip

    @property
    def network(self) -> str:
        return self.interfaces[0].network


@dataclass(frozen=True, slots=True)
class AttackSpec:
    scenario: str
    at: float | None  # seconds after the start; None = the scenario's default
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    domain: str
    start: datetime
    shifts: tuple[str, ...]
    networks: Mapping[str, Network]
    devices: Mapping[str, Device]
    attacks: tuple[AttackSpec, ...]
    conduits: tuple[tuple[str, str, int], ...]  # extra (from zone, to zone, port) the firewall allows
    source: str

    def device_by_ip(self) -> dict[str, Device]:
        return {i.ip: d for d in self.devices.values() for i in d.interfaces}


class _Reader:
    """Typed access to a YAML mapping with errors that say where the bad value is."""

    def __init__(self, source: str, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: {where} must be a mapping, got {type(data).__name__}")
        self.source, self.where, self.data = source, where, data

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.where}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, name: str = "") -> Any:
        if key not in self.data:
            if default is ...:
                raise self.fail(f"missing '{key}'")
            return default
        value = self.data[key]
        if value is None and default is not ...:
            return default
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(f"'{key}' must be a number, got {value!r}")
        if not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"'{key}' must be {want}, got {value!r}")
        return value

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise self.fail(f"unknown key(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})")


def _level(r: _Reader, key: str, default: float | None) -> float | None:
    value = r.get(key, (int, float), default)
    if value is not None and value not in PURDUE_LEVELS:
        raise r.fail(f"'{key}' must be one of {', '.join(str(x) for x in PURDUE_LEVELS)} or null, got {value}")
    return None if value is None else float(value)


def _networks(source: str, raw: Any) -> dict[str, Network]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: 'networks' must be a non-empty list")
    out: dict[str, Network] = {}
    vlans: dict[int, str] = {}
    for n, item in enumerate(raw):
        r = _Reader(source, f"networks[{n}]", item)
        r.unknown({"name", "subnet", "vlan", "gateway", "zone", "purdue_level", "external"})
        name = r.get("name", str)
        r.where = f"network {name}"
        if name in out:
            raise r.fail("defined twice")
        try:
            subnet = ipaddress.IPv4Network(r.get("subnet", str))
        except ValueError as exc:
            raise r.fail(f"bad subnet: {exc}") from None
        vlan = r.get("vlan", int, None)
        if vlan is not None:
            if not 1 <= vlan <= 4094:
                raise r.fail(f"vlan must be 1-4094, got {vlan}")
            if vlan in vlans:
                raise r.fail(f"vlan {vlan} already used by network {vlans[vlan]}")
            vlans[vlan] = name
        gateway = r.get("gateway", str, None)
        if gateway is not None and ipaddress.IPv4Address(gateway) not in subnet:
            raise r.fail(f"gateway {gateway} is not in {subnet}")
        out[name] = Network(name, subnet, vlan, gateway, r.get("zone", str), _level(r, "purdue_level", None),
                            bool(r.get("external", bool, False)))
    return out


def _polls(r: _Reader, raw: Any) -> tuple[Poll, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.fail("'polls' must be a list")
    polls = []
    for n, item in enumerate(raw):
        p = _Reader(r.source, f"{r.where}: polls[{n}]", item)
        p.unknown({"server", "proto", "period", "options", "port"})
        proto = p.get("proto", str)
        if proto not in POLLED:
            raise p.fail(f"unknown proto '{proto}' (known: {', '.join(POLLED)})")
        period = float(p.get("period", (int, float)))
        if period <= 0:
            raise p.fail(f"period must be positive, got {period}")
        polls.append(Poll(p.get("server", str), proto, period, dict(p.get("options", dict, {})),
                          p.get("port", int, None)))
    return tuple(polls)


def _device(source: str, n: int, item: Any, networks: Mapping[str, Network]) -> Device:
    r = _Reader(source, f"devices[{n}]", item)
    r.unknown({"name", "role", "purdue_level", "zone", "mac", "network", "ip", "interfaces", "vendor", "product",
               "firmware", "serial", "os", "protocols", "polls", "process", "description"})
    name = r.get("name", str)
    r.where = f"device {name}"
    if not _NAME.match(name):
        raise r.fail("name must be lower-case letters, digits, '.', '_' or '-'")
    role = r.get("role", str)
    if role not in ROLES:
        raise r.fail(f"unknown role '{role}' (known: {', '.join(ROLES)})")
    if "interfaces" in r.data:
        raw_ifaces = r.get("interfaces", list)
        ifaces = []
        for k, raw in enumerate(raw_ifaces):
            i = _Reader(source, f"{r.where}: interfaces[{k}]", raw)
            ifaces.append(Interface(i.get("network", str), i.get("ip", str)))
    else:
        ifaces = [Interface(r.get("network", str), r.get("ip", str))]
    for iface in ifaces:
        net = networks.get(iface.network)
        if net is None:
            raise r.fail(f"unknown network '{iface.network}' (defined: {', '.join(networks)})")
        try:
            if ipaddress.IPv4Address(iface.ip) not in net.subnet:
                raise r.fail(f"ip {iface.ip} is not in network {net.name} ({net.subnet})")
        except ValueError:
            raise r.fail(f"bad ip address {iface.ip!r}") from None
    first = networks[ifaces[0].network]
    mac = r.get("mac", str, None)
    if mac is None and not first.external:
        raise r.fail("missing 'mac' (only hosts on an external network have none)")
    if mac is not None:
        mac = mac.lower().replace("-", ":")
        if not _MAC.match(mac):
            raise r.fail(f"bad mac address {mac!r}: use six hex pairs like 00:1b:1b:4e:81:0b")
        if int(mac[:2], 16) & 1:
            raise r.fail(f"mac {mac} is a multicast address")
    os_kind = r.get("os", str, "embedded")
    if os_kind not in OS_KINDS:
        raise r.fail(f"os must be one of {', '.join(OS_KINDS)}, got {os_kind!r}")
    process = r.get("process", str, None)
    if process is not None and process not in PROCESSES:
        raise r.fail(f"unknown process '{process}' (known: {', '.join(sorted(PROCESSES))})")
    protocols = r.get("protocols", dict, {})
    for proto, options in protocols.items():
        if proto not in SERVED:
            raise r.fail(f"unknown protocol '{proto}' under 'protocols' (known: {', '.join(SERVED)})")
        if options is not None and not isinstance(options, dict):
            raise r.fail(f"protocols.{proto} must be a mapping")
    return Device(
        name=name,
        role=role,
        purdue_level=_level(r, "purdue_level", first.purdue_level),
        zone=r.get("zone", str, first.zone),
        mac=mac,
        interfaces=tuple(ifaces),
        vendor=str(r.get("vendor", (str, int, float), "")),
        product=str(r.get("product", (str, int, float), "")),
        firmware=str(r.get("firmware", (str, int, float), "")),
        serial=str(r.get("serial", (str, int, float), "")),
        os=os_kind,
        protocols={p: dict(o or {}) for p, o in protocols.items()},
        polls=_polls(r, r.data.get("polls")),
        process=process,
        description=r.get("description", str, ""),
    )


def _check_references(source: str, devices: Mapping[str, Device], networks: Mapping[str, Network]) -> None:
    seen_ip: dict[str, str] = {}
    seen_mac: dict[str, str] = {}
    for d in devices.values():
        for iface in d.interfaces:
            if iface.ip in seen_ip:
                raise ConfigError(f"{source}: device {d.name}: ip {iface.ip} already used by {seen_ip[iface.ip]}")
            seen_ip[iface.ip] = d.name
        if d.mac is not None:
            if d.mac in seen_mac:
                raise ConfigError(f"{source}: device {d.name}: mac {d.mac} already used by {seen_mac[d.mac]}")
            seen_mac[d.mac] = d.name
        for p in d.polls:
            server = devices.get(p.server)
            if server is None:
                raise ConfigError(f"{source}: device {d.name}: polls unknown server '{p.server}'")
            served = "mqtt" if p.proto == "mqtt_sub" else p.proto
            if served not in server.protocols:
                raise ConfigError(f"{source}: device {d.name}: polls {p.proto} on {p.server}, which does not serve "
                                  f"it (add '{served}' under its 'protocols')")
            if p.proto == "profinet_dcp" and server.network != d.network:
                raise ConfigError(f"{source}: device {d.name}: PROFINET DCP is layer 2, so {p.server} must be on "
                                  f"network {d.network}")
    for net in networks.values():
        if net.gateway is not None and net.gateway not in seen_ip:
            raise ConfigError(f"{source}: network {net.name}: no device has the gateway address {net.gateway} "
                              "(give a router an interface with it)")


def _attacks(source: str, raw: Any) -> tuple[AttackSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: 'attacks' must be a list")
    out = []
    for n, item in enumerate(raw):
        r = _Reader(source, f"attacks[{n}]", item)
        at = r.get("at", (int, float), None)
        if at is not None and at < 0:
            raise r.fail(f"'at' must not be negative, got {at}")
        params = {k: v for k, v in r.data.items() if k not in ("scenario", "at")}
        out.append(AttackSpec(r.get("scenario", str), None if at is None else float(at), params))
    return tuple(out)


def _start(r: _Reader) -> datetime:
    raw = r.get("start", (str, datetime), "2026-01-05T05:58:00Z")
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise r.fail(f"'start' must be an ISO 8601 time like 2026-01-05T05:58:00Z, got {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_site(data: Any, source: str) -> Site:
    """Validate parsed YAML into a ``Site``; every problem is a ``ConfigError`` naming ``source``."""
    top = _Reader(source, "top level", data)
    top.unknown({"site", "networks", "devices", "attacks", "conduits"})
    meta = _Reader(source, "site", top.get("site", dict, {}))
    meta.unknown({"name", "domain", "start", "shifts"})
    networks = _networks(source, top.get("networks", list))
    raw_devices = top.get("devices", list)
    devices: dict[str, Device] = {}
    for n, item in enumerate(raw_devices):
        d = _device(source, n, item, networks)
        if d.name in devices:
            raise ConfigError(f"{source}: device {d.name} defined twice")
        devices[d.name] = d
    _check_references(source, devices, networks)
    shifts = tuple(str(s) for s in meta.get("shifts", list, ["06:00", "14:00", "22:00"]))
    for s in shifts:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", s):
            raise meta.fail(f"shift times are HH:MM, got {s!r}")
    conduits = []
    for n, item in enumerate(top.get("conduits", list, [])):
        c = _Reader(source, f"conduits[{n}]", item)
        conduits.append((c.get("from", str), c.get("to", str), c.get("port", int)))
    return Site(
        name=meta.get("name", str, "site"),
        domain=meta.get("domain", str, "plant.local"),
        start=_start(meta),
        shifts=shifts,
        networks=networks,
        devices=devices,
        attacks=_attacks(source, top.get("attacks", list, None)),
        conduits=tuple(conduits),
        source=source,
    )


def load_site(path: str | Path | None = None) -> Site:
    """Load and validate a site file; ``None`` loads the reference site shipped with the package."""
    if path is None:
        text = resources.files("zonewarden.simulate").joinpath("sites", f"{DEFAULT_SITE}.yaml").read_text("utf-8")
        source = f"{DEFAULT_SITE}.yaml"
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read site file {source}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_site(data, source)


def default_site_text() -> str:
    """The reference site YAML, for users to copy and edit."""
    return resources.files("zonewarden.simulate").joinpath("sites", f"{DEFAULT_SITE}.yaml").read_text("utf-8")

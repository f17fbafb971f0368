"""Assets, evidence and communication edges: the inventory's data (the Asset JSON contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Attributes an asset carries, each resolved from evidence (DESIGN.md "Asset JSON").
# The single-valued attributes an asset resolves from its evidence (the most confident value wins).
SCALAR_ATTRIBUTES = (
    "vendor", "vendor_id", "product_name", "product_code", "order_number", "firmware", "hardware_revision",
    "serial", "device_type", "role", "purdue_level", "zone",
)
OP_CLASSES = ("read", "write", "program", "diagnostics", "control", "file_transfer", "session", "other")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation supporting an attribute value: which message (protocol, flow, packet time) said so."""

    attribute: str
    value: Any
    proto: str
    ts: float
    flow_id: str | None
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "value": self.value, "proto": self.proto, "ts": self.ts,
                "flow_id": self.flow_id, "confidence": self.confidence}


class EndpointSighting(NamedTuple):
    """A MAC address seen sending with an IP address (or binding it, for ARP), over a time range.

    A named tuple: a flood of forged sources makes hundreds of thousands, which analyze's forked reader sends
    to the other process (a tuple pickles and is made several times faster than a frozen dataclass)."""

    mac: str
    ip: str | None
    vlan: int | None
    first_seen: float
    last_seen: float
    packets: int
    source: str  # "ip" (frames it sent), "dst" (frames sent to it), "arp" (ARP sender binding), "l2" (non-IP)


@dataclass
class Asset:
    asset_id: str
    ips: list[str] = field(default_factory=list)
    macs: list[str] = field(default_factory=list)
    mac_vendor: str | None = None
    hostnames: list[str] = field(default_factory=list)
    vendor: str | None = None
    vendor_id: int | None = None
    product_name: str | None = None
    product_code: str | None = None
    order_number: str | None = None
    firmware: str | None = None
    hardware_revision: str | None = None
    serial: str | None = None
    device_type: str | None = None
    role: str | None = None
    purdue_level: float | None = None
    zone: str | None = None
    first_seen: float | None = None
    last_seen: float | None = None
    protocols: dict[str, list[str]] = field(default_factory=lambda: {"served": [], "used": []})
    evidence: list[Evidence] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id, "ips": self.ips, "macs": self.macs, "mac_vendor": self.mac_vendor,
            "hostnames": self.hostnames, "vendor": self.vendor, "vendor_id": self.vendor_id,
            "product_name": self.product_name, "product_code": self.product_code,
            "order_number": self.order_number, "firmware": self.firmware,
            "hardware_revision": self.hardware_revision, "serial": self.serial, "device_type": self.device_type,
            "role": self.role, "purdue_level": self.purdue_level, "zone": self.zone,
            "first_seen": self.first_seen, "last_seen": self.last_seen, "protocols": self.protocols,
            "evidence": [e.as_dict() for e in self.evidence],
        }


@dataclass
class Edge:
    """Who talks to whom: one client, one server, one protocol, with operation counts."""

    client: str  # asset id
    server: str  # asset id
    proto: str
    operations: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    flows: int = 0
    packets: int = 0
    bytes: int = 0
    first_seen: float | None = None
    last_seen: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"client": self.client, "server": self.server, "proto": self.proto, "operations": self.operations,
                "messages": self.messages, "flows": self.flows, "packets": self.packets, "bytes": self.bytes,
                "first_seen": self.first_seen, "last_seen": self.last_seen}

"""Role of an asset, with the reason shown to the user.

Rules read the asset's behaviour: which industrial protocols it serves, which it uses as a client and
for what operations, how many controllers it polls, which well-known service ports it serves and
connects to, what its messages say about it (a Modbus gateway's unit ids and exceptions, the engineering
connections a workstation opens) and the product it names. Some roles fix the Purdue level (a controller
is level 1 wherever it sits); the others (workstations, historians, brokers, IT hosts, network devices)
are placed by their subnet, see ``levels.py``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from zonewarden.inventory.protection_relays import protection_relay
from zonewarden.model.events import field_of

CONTROLLER_PROTOCOLS = {"modbus": "Modbus/TCP server", "s7comm": "S7comm server", "s7comm_plus": "S7comm-plus server",
                        "enip": "EtherNet/IP target", "profinet_dcp": "PROFINET device", "bacnet": "BACnet device"}
OUTSTATION_PROTOCOLS = {"dnp3": "DNP3 outstation", "iec104": "IEC 60870-5-104 controlled station"}
ENGINEERING_OPS = ("program", "file_transfer")
# Called TSAPs (COTP connection request) an S7-1200/1500 CPU offers only to the engineering system; an HMI
# connects to SIMATIC-ROOT-HMI. Going online is not a download, so this is a signal of its own.
ENGINEERING_TSAPS = {"SIMATIC-ROOT-ES": "TIA Portal"}
COTP_CONNECTION_REQUEST = 0x0E
MAX_SHOWN_SERVERS = 3
HISTORIAN_PORTS = {5450: "OSIsoft PI", 5457: "OSIsoft PI AF", 1433: "SQL Server", 3000: "historian web"}
# Historian-to-historian replication a replica (or a PI collective member) pulls as a client.
HISTORIAN_REPLICATION_PORTS = {5450: "OSIsoft PI (PI-to-PI)"}
WEB_PORTS = {443: "HTTPS", 80: "HTTP"}
# Modbus exceptions only a gateway sends (Modbus Application Protocol V1.1b3, section 7).
MODBUS_GATEWAY_EXCEPTIONS = {10: "0x0A gateway path unavailable", 11: "0x0B gateway target failed to respond"}
GATEWAY_MIN_UNITS = 2  # serial unit ids (1-247) answered by one Modbus/TCP address: devices behind a gateway
# BACnet controllers read a few points from a peer or two; a device that polls this many is the supervisor.
BACNET_SUPERVISOR_MIN_DEVICES = 3
SCADA_MIN_CONTROLLERS = 5
MAX_MARKS = 64  # per address: what its answers revealed (bounded: an attacker chooses unit ids)

LEVELS: dict[str, float | None] = {
    "plc": 1, "rtu": 1, "ied": 1, "io_device": 1, "hmi": 2, "scada_server": 2, "opc_server": 2, "iot_gateway": 2,
    "engineering_workstation": 3, "historian": 3, "network_device": None, "it_host": 4,
}

ROLE_CONFIDENCE = 0.6  # a role read from behaviour
FALLBACK_CONFIDENCE = 0.4
FALLBACK_ROLES = frozenset({"it_host"})


@dataclass(frozen=True, slots=True)
class RoleDecision:
    role: str
    purdue_level: float | None
    reason: str
    # The role itself fixes the level (controllers, HMIs, SCADA/OPC servers, field gateways) and anchors
    # the asset's subnet; otherwise ``purdue_level`` is only the default when the subnet says nothing.
    fixed: bool = False

    @property
    def confidence(self) -> float:
        """How sure the role is: "IT traffic only" says what the capture lacked, not what the device is, so a
        later capture that catches only a controller's NTP or DNS does not turn it into an IT host."""
        return FALLBACK_CONFIDENCE if self.role in FALLBACK_ROLES else ROLE_CONFIDENCE


@dataclass
class Behaviour:
    """What one asset was seen doing: the input of the role rules."""

    served: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)
    client_ops: Counter[str] = field(default_factory=Counter)
    polled: dict[str, set[str]] = field(default_factory=dict)  # protocol -> servers it asked
    servers: int = 0  # servers it talked to, any protocol
    ports_served: set[int] = field(default_factory=set)
    ports_used: set[int] = field(default_factory=set)  # server ports it connected to and got answers from
    marks: set[str] = field(default_factory=set)  # from its messages, see sender_marks
    products: list[str] = field(default_factory=list)  # product names and codes it disclosed
    forwards_for: int = 0
    bridging: list[str] = field(default_factory=list)


def response_marks(e: Any) -> tuple[str, ...]:
    """What an answer says about the device that sent it, for the role rules (a Modbus gateway's unit ids)."""
    if field_of(e, "proto") != "modbus" or not field_of(e, "is_response"):
        return ()
    exception, unit = field_of(e, "exception_code"), field_of(e, "unit_id")
    if exception in MODBUS_GATEWAY_EXCEPTIONS:
        return (f"modbus_exception:{exception}",)
    if exception is None and field_of(e, "function_code") is not None and isinstance(unit, int) and 1 <= unit <= 247:
        return (f"modbus_unit:{unit}",)
    return ()


def sender_marks(e: Any) -> tuple[str, ...]:
    """What a message says about the device that sent it: its answers (``response_marks``) and the
    engineering connections it opens (a connection request to an engineering TSAP on a connection that went
    on to speak S7comm-plus: the COTP event takes the protocol of the connection's first data)."""
    if field_of(e, "is_response"):
        return response_marks(e)
    tsap = field_of(e, "dst_tsap_text")
    if (field_of(e, "pdu_type") == COTP_CONNECTION_REQUEST and tsap in ENGINEERING_TSAPS
            and field_of(e, "proto") == "s7comm_plus"):
        return (f"engineering_connection:{tsap}:{field_of(e, 'dst')}",)
    return ()


def _engineering_connections(b: Behaviour) -> list[str]:
    opened: dict[str, set[str]] = {}
    for mark in b.marks:
        kind, _, rest = mark.partition(":")
        if kind == "engineering_connection":
            tsap, _, server = rest.partition(":")
            opened.setdefault(tsap, set()).add(server)
    reasons = []
    for tsap, servers in sorted(opened.items()):
        shown = sorted(servers)[:MAX_SHOWN_SERVERS]
        more = f" and {len(servers) - len(shown)} more" if len(servers) > len(shown) else ""
        reasons.append(f"opens {ENGINEERING_TSAPS.get(tsap, 'S7')} engineering connections ({tsap}) to "
                       f"{', '.join(shown)}{more}")
    return reasons


def _modbus_gateway(b: Behaviour) -> str | None:
    exceptions = sorted(int(m.split(":")[1]) for m in b.marks if m.startswith("modbus_exception:"))
    if exceptions:
        return "answers Modbus exception " + ", ".join(MODBUS_GATEWAY_EXCEPTIONS[x] for x in exceptions)
    units = sorted(int(m.split(":")[1]) for m in b.marks if m.startswith("modbus_unit:"))
    if len(units) >= GATEWAY_MIN_UNITS:
        return f"answers for Modbus unit ids {', '.join(map(str, units))} (serial devices behind one address)"
    return None


def _field_device(role: str, what: str, products: list[str]) -> RoleDecision:
    relay = protection_relay(products)
    if relay is not None:
        return RoleDecision("ied", LEVELS["ied"], f"{what}; product {relay[0]}: {relay[1]}", True)
    return RoleDecision(role, LEVELS[role], what, True)


def infer_role(b: Behaviour) -> RoleDecision | None:
    """The most specific role the behaviour supports, or None when the asset was barely seen."""
    served, used = b.served, b.used
    if b.bridging and not served:
        return RoleDecision("network_device", LEVELS["network_device"], f"speaks {', '.join(b.bridging)}")
    if b.forwards_for:
        return RoleDecision("network_device", LEVELS["network_device"],
                            f"routes traffic for {b.forwards_for} IP addresses behind one MAC address")
    reasons = _engineering_connections(b)
    engineering = [op for op in ENGINEERING_OPS if b.client_ops.get(op)]
    if engineering and used:
        reasons.insert(0, f"performs {', '.join(engineering)} operations on controllers ({', '.join(sorted(used))})")
    if reasons:
        return RoleDecision("engineering_workstation", LEVELS["engineering_workstation"], "; ".join(reasons))
    gateway = _modbus_gateway(b) if "modbus" in served else None
    if gateway:
        # The field side of the gateway: it stands for the serial devices behind it, at level 1.
        return RoleDecision("iot_gateway", 1, f"Modbus/TCP-to-serial gateway: {gateway}", True)
    bacnet_devices = len(b.polled.get("bacnet", ()))
    if bacnet_devices >= BACNET_SUPERVISOR_MIN_DEVICES:
        return RoleDecision("scada_server", LEVELS["scada_server"],
                            f"polls {bacnet_devices} BACnet devices: a building supervisory controller", True)
    outstation = sorted(p for p in served if p in OUTSTATION_PROTOCOLS)
    if outstation:
        return _field_device("rtu", "; ".join(OUTSTATION_PROTOCOLS[p] for p in outstation), b.products)
    if served == {"profinet_dcp"}:
        return RoleDecision("io_device", LEVELS["io_device"],
                            "PROFINET device answering DCP, no controller protocol (remote I/O)", True)
    controller = sorted(p for p in served if p in CONTROLLER_PROTOCOLS)
    if controller:
        return _field_device("plc", "; ".join(CONTROLLER_PROTOCOLS[p] for p in controller), b.products)
    if "opcua" in served:
        # Whether or not it polls controllers itself (KEPServerEX, RSLinx, Matrikon), a server of OPC UA
        # hands controller data to clients; the SCADA server and the historian are those clients.
        polls = f", collecting from controllers ({', '.join(sorted(used))})" if used else ""
        return RoleDecision("opc_server", LEVELS["opc_server"], f"OPC UA server{polls}", True)
    historian = sorted(HISTORIAN_PORTS[p] for p in b.ports_served if p in HISTORIAN_PORTS)
    if historian:
        return RoleDecision("historian", LEVELS["historian"], f"serves {', '.join(historian)}")
    replication = sorted(HISTORIAN_REPLICATION_PORTS[p] for p in b.ports_used if p in HISTORIAN_REPLICATION_PORTS)
    web = sorted(WEB_PORTS[p] for p in b.ports_served if p in WEB_PORTS)
    if replication and web:
        return RoleDecision("historian", LEVELS["historian"],
                            f"pulls from {', '.join(replication)} and serves {', '.join(web)}: a historian replica "
                            "or its web front end")
    if "mqtt" in served:
        return RoleDecision("iot_gateway", LEVELS["iot_gateway"], "MQTT broker")
    polled = sorted(p for p in b.polled if p != "mqtt")
    if polled:
        controllers = len(set().union(*(b.polled[p] for p in polled)))
        if controllers >= SCADA_MIN_CONTROLLERS:
            return RoleDecision("scada_server", LEVELS["scada_server"],
                                f"polls {controllers} controllers ({', '.join(polled)})", True)
        return RoleDecision("hmi", LEVELS["hmi"], f"polls controllers ({', '.join(polled)})", True)
    if "mqtt" in used:
        return RoleDecision("iot_gateway", LEVELS["iot_gateway"], "MQTT client (edge gateway)")
    if used - {"mqtt"}:
        # Industrial requests to broadcast only (discovery, Who-Is): an operator station finding devices.
        return RoleDecision("hmi", LEVELS["hmi"], f"queries controllers ({', '.join(sorted(used))})", True)
    if b.ports_served or b.servers:
        return RoleDecision("it_host", LEVELS["it_host"], "IT traffic only")
    return None

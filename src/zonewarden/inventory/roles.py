"""Role and Purdue level of an asset, with the reason shown to the user.

Rules read the asset's behaviour: which industrial protocols it serves, which it uses as a client and
for what operations, how many controllers it polls, which well-known service ports it serves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

CONTROLLER_PROTOCOLS = {"modbus": "Modbus/TCP server", "s7comm": "S7comm server", "s7comm_plus": "S7comm-plus server",
                        "enip": "EtherNet/IP target", "profinet_dcp": "PROFINET device", "bacnet": "BACnet device"}
OUTSTATION_PROTOCOLS = {"dnp3": "DNP3 outstation", "iec104": "IEC 60870-5-104 controlled station"}
ENGINEERING_OPS = ("program", "file_transfer")
HISTORIAN_PORTS = {5450: "OSIsoft PI", 5457: "OSIsoft PI AF", 1433: "SQL Server", 3000: "historian web"}

LEVELS: dict[str, float | None] = {
    "plc": 1, "rtu": 1, "ied": 1, "io_device": 1, "hmi": 2, "scada_server": 2, "opc_server": 2, "iot_gateway": 2,
    "engineering_workstation": 3, "historian": 3, "network_device": None, "it_host": 4,
}


@dataclass(frozen=True, slots=True)
class RoleDecision:
    role: str
    purdue_level: float | None
    reason: str


def infer_role(served: set[str], used: set[str], client_ops: Counter[str], servers_polled: int,
               ports_served: set[int], forwards_for: int, bridging: list[str] | None = None) -> RoleDecision | None:
    """The most specific role the behaviour supports, or None when the asset was barely seen."""
    if bridging and not served:
        return RoleDecision("network_device", LEVELS["network_device"], f"speaks {', '.join(bridging)}")
    if forwards_for:
        return RoleDecision("network_device", LEVELS["network_device"],
                            f"routes traffic for {forwards_for} IP addresses behind one MAC address")
    engineering = [op for op in ENGINEERING_OPS if client_ops.get(op)]
    if engineering and used:
        return RoleDecision("engineering_workstation", 3,
                            f"performs {', '.join(engineering)} operations on controllers ({', '.join(sorted(used))})")
    outstation = sorted(p for p in served if p in OUTSTATION_PROTOCOLS)
    if outstation:
        return RoleDecision("rtu", 1, "; ".join(OUTSTATION_PROTOCOLS[p] for p in outstation))
    if served == {"profinet_dcp"}:
        return RoleDecision("io_device", 1, "PROFINET device answering DCP, no controller protocol (remote I/O)")
    controller = sorted(p for p in served if p in CONTROLLER_PROTOCOLS)
    if controller:
        return RoleDecision("plc", 1, "; ".join(CONTROLLER_PROTOCOLS[p] for p in controller))
    if "opcua" in served:
        if used:
            return RoleDecision("scada_server", 2, f"OPC UA server that polls controllers ({', '.join(sorted(used))})")
        return RoleDecision("opc_server", 2, "OPC UA server")
    historian = sorted(HISTORIAN_PORTS[p] for p in ports_served if p in HISTORIAN_PORTS)
    if historian:
        return RoleDecision("historian", 3, f"serves {', '.join(historian)}")
    if "mqtt" in served:
        return RoleDecision("iot_gateway", 2, "MQTT broker")
    if used - {"mqtt"}:
        if servers_polled >= 5:
            return RoleDecision("scada_server", 2, f"polls {servers_polled} controllers ({', '.join(sorted(used))})")
        return RoleDecision("hmi", 2, f"polls controllers ({', '.join(sorted(used))})")
    if "mqtt" in used:
        return RoleDecision("iot_gateway", 2, "MQTT client (edge gateway)")
    if ports_served or servers_polled:
        return RoleDecision("it_host", 4, "IT traffic only")
    return None

"""The truth file: every asset of the site (and those an attack brought) in the Asset JSON shape, with what
it discloses on the wire and through which protocol, and the expected communication edges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zonewarden.simulate.actors import Ctx
from zonewarden.simulate.enc_s7plus import paom_string
from zonewarden.simulate.site import PORTS, Device, Site

if TYPE_CHECKING:
    from zonewarden.simulate.actors import Actor

CIP_DEVICE_TYPES = {0x00: "Generic Device", 0x02: "AC Drive", 0x0C: "Communications Adapter",
                    0x0E: "Programmable Logic Controller", 0x2B: "Generic Device (keyable)"}
# Protocol names as zonewarden's analyzers and the DESIGN event vocabulary use them.
EDGE_PROTO = {"mqtt_sub": "mqtt", "http_proxy": "http", "https": "tls", "smb": "smb2"}
# Which identity attributes each protocol discloses about the device that serves it (when asked).
DISCLOSES = {
    "modbus": ("vendor", "product_code", "firmware", "product_name"),
    # S7: the SZL carries no vendor name, but its manufacturer id (index 9: 0x002a) names Siemens.
    "s7comm": ("vendor", "product_name", "firmware", "serial", "order_number", "hardware_revision"),
    # S7comm-plus: the CPU's session answer names its order number (in its version string).
    "s7comm_plus": ("order_number",),
    "enip": ("vendor_id", "vendor", "product_name", "product_code", "firmware", "serial", "device_type"),
    "dnp3": ("vendor", "product_name", "firmware", "serial", "hardware_revision"),
    "bacnet": ("vendor", "vendor_id", "product_name", "firmware", "serial"),
    "profinet_dcp": ("vendor", "vendor_id", "product_code", "hostnames", "ips"),
    "opcua": ("product_name",),
}
SPARKPLUG_DISCLOSES = ("vendor", "product_name", "firmware", "serial")
# What engineering sessions add: TIA Portal going online reads the CPU's I&M0 record over S7comm-plus.
ENGINEERING_DISCLOSES = {"s7comm_plus": ("serial", "firmware")}


def _identity(dev: Device) -> dict[str, dict[str, Any]]:
    """What each protocol says about the device, field by field, exactly as the simulator encodes it."""
    out: dict[str, dict[str, Any]] = {}
    p = dev.protocols
    if "modbus" in p:
        o = p["modbus"]
        out["modbus"] = {"vendor_name": dev.vendor, "product_code": str(o.get("product_code", dev.product)),
                         "major_minor_revision": dev.firmware, "product_name": dev.product,
                         "model_name": str(o.get("model_name", dev.product)),
                         "user_application_name": str(o.get("user_application_name", "")),
                         "unit_id": int(o.get("unit_id", 1))}
    if "s7comm" in p:
        o = p["s7comm"]
        out["s7comm"] = {"order_number": str(o.get("order_number", "")), "module_type_name": dev.product,
                         "firmware_version": dev.firmware, "serial_number": dev.serial,
                         "hardware_version": int(o.get("hardware", 1)), "plc_name": str(o.get("plc_name", "")),
                         "module_name": str(o.get("module_name", "")), "plant_id": str(o.get("plant_id", "")),
                         "location": str(o.get("location", ""))}
    if "s7comm_plus" in p:
        o = {**p.get("s7comm", {}), **p["s7comm_plus"]}
        order = str(o.get("order_number", ""))
        # serial and firmware: from the I&M0 record, read in engineering sessions only
        out["s7comm_plus"] = {"order_number": order, "version_string": paom_string(order, dev.firmware),
                              "serial_number": dev.serial, "firmware_version": dev.firmware}
    if "enip" in p:
        o = p["enip"]
        major, _, minor = dev.firmware.partition(".")
        out["enip"] = {"vendor_id": int(o.get("vendor_id", 1)), "device_type": int(o.get("device_type", 14)),
                       "product_code": int(o.get("product_code", 1)), "revision": [int(major or 0), int(minor or 0)],
                       "serial_number": int(dev.serial, 16), "product_name": dev.product}
    if "dnp3" in p:
        o = p["dnp3"]
        out["dnp3"] = {"address": int(o.get("address", 10)), "vendor_name": dev.vendor, "product_name": dev.product,
                       "software_version": dev.firmware, "hardware_version": str(o.get("hardware", "")),
                       "serial_number": dev.serial, "device_name": str(o.get("device_name", dev.name)),
                       "location": str(o.get("location", ""))}
    if "iec104" in p:
        out["iec104"] = {"common_address": int(p["iec104"].get("common_address", 1))}
    if "bacnet" in p:
        o = p["bacnet"]
        out["bacnet"] = {"device_instance": int(o.get("instance", 0)), "vendor_id": int(o.get("vendor_id", 0)),
                         "vendor_name": dev.vendor, "model_name": dev.product, "firmware_revision": dev.firmware,
                         "serial_number": dev.serial, "object_name": dev.name.upper()}
    if "profinet_dcp" in p:
        o = p["profinet_dcp"]
        out["profinet_dcp"] = {"name_of_station": str(o.get("name_of_station", dev.name)),
                               "vendor_name": str(o.get("type_of_station", dev.product)),
                               "vendor_id": int(o.get("vendor_id", 0)), "device_id": int(o.get("device_id", 0)),
                               "device_role": str(o.get("role", "io_device"))}
    if "opcua" in p:
        o = p["opcua"]
        out["opcua"] = {"application_name": str(o.get("application_name", dev.name)),
                        "application_uri": str(o.get("application_uri", "")),
                        "product_uri": str(o.get("product_uri", ""))}
    return out


def _asset(dev: Device, site: Site, queried: set[str], used: set[str], attack: str | None,
           engineering: frozenset[str] = frozenset()) -> dict[str, Any]:
    ident = _identity(dev)
    disclosed: dict[str, list[str]] = {}
    for proto in sorted(queried):
        extra = ENGINEERING_DISCLOSES.get(proto, ()) if proto in engineering else ()
        for attribute in (*DISCLOSES.get(proto, ()), *extra):
            disclosed.setdefault(attribute, []).append(proto)
    if "mqtt" in used and dev.role == "iot_gateway":
        for attribute in SPARKPLUG_DISCLOSES:
            disclosed.setdefault(attribute, []).append("mqtt")
    vendor_ids = {k: v["vendor_id"] for k, v in ident.items() if "vendor_id" in v}
    cip = ident.get("enip")
    s7 = ident.get("s7comm")
    order_number = next((ident[k]["order_number"] for k in ("s7comm", "s7comm_plus") if k in ident), None)
    product_code: str | None = None
    if "modbus" in ident:
        product_code = ident["modbus"]["product_code"]
    elif cip:
        product_code = str(cip["product_code"])
    elif "profinet_dcp" in ident:
        product_code = str(ident["profinet_dcp"]["device_id"])
    hardware = str(s7["hardware_version"]) if s7 else (ident["dnp3"]["hardware_version"] if "dnp3" in ident else None)
    names = sorted({dev.name, *(v["name_of_station"] for k, v in ident.items() if k == "profinet_dcp")})
    vlans = sorted({v for i in dev.interfaces if (v := site.networks[i.network].vlan) is not None})
    return {
        "asset_id": dev.name, "ips": [i.ip for i in dev.interfaces], "macs": [dev.mac] if dev.mac else [],
        "mac_vendor": None, "hostnames": names, "vendor": dev.vendor or None,
        "vendor_id": next(iter(vendor_ids.values())) if len(vendor_ids) == 1 else None,
        "product_name": dev.product or None, "product_code": product_code,
        "order_number": order_number, "firmware": dev.firmware or None,
        "hardware_revision": hardware, "serial": dev.serial or None,
        "device_type": CIP_DEVICE_TYPES.get(cip["device_type"]) if cip else None, "role": dev.role,
        "purdue_level": dev.purdue_level, "zone": dev.zone, "first_seen": None, "last_seen": None,
        "protocols": {"served": sorted(dev.protocols), "used": sorted(used)}, "evidence": [],
        "name": dev.name, "description": dev.description, "vlans": vlans, "os": dev.os, "identity": ident,
        "disclosed": disclosed, "vendor_ids": vendor_ids, "attack": attack,
    }


def truth(site: Site, ctx: Ctx, planned: list[tuple[Actor, str]]) -> dict[str, Any]:
    edges: list[dict[str, Any]] = []
    used: dict[str, set[str]] = {}
    queried: dict[str, set[str]] = {}
    engineering: dict[str, set[str]] = {}
    for dev in site.devices.values():
        for poll in dev.polls:
            server = site.devices[poll.server]
            transport, port = PORTS[poll.proto]
            port = poll.port if poll.port is not None else port
            proto = EDGE_PROTO.get(poll.proto, poll.proto)
            used.setdefault(dev.name, set()).add(proto)
            queried.setdefault(poll.server, set()).add(poll.proto)
            if poll.options.get("session") == "engineering":
                engineering.setdefault(poll.server, set()).add(poll.proto)
            edges.append({"client": dev.name, "server": server.name, "client_ip": dev.ip, "server_ip": server.ip,
                          "proto": proto, "transport": transport, "port": port})
            if poll.proto == "enip" and poll.options.get("session") != "engineering":
                # RSLinx-style liveness checks: ListIdentity over UDP beside the TCP session.
                edges.append({**edges[-1], "transport": "udp"})
    for row in ctx.extra_edges:
        if row not in edges:
            edges.append(dict(row))
            if "attack" not in row:
                used.setdefault(str(row["client"]), set()).add(str(row["proto"]))
    assets = [_asset(d, site, queried.get(d.name, set()), used.get(d.name, set()), None,
                     frozenset(engineering.get(d.name, ()))) for d in site.devices.values()]
    for dev, attack in ctx.extra_assets:
        assets.append(_asset(dev, site, set(), set(), attack))
    # Not everything happens in every capture (a 10-minute poll in a 1-minute run): say what did.
    net = ctx.net
    ip_senders = {c[0] for c in net.conversations}
    for asset in assets:
        asset["observed"] = asset["name"] in net.talkers or asset["name"] in ip_senders
        asset["observed_ip"] = asset["name"] in ip_senders
    numbers = {"tcp": 6, "udp": 17}
    for edge in edges:
        if edge["transport"] == "l2":
            edge["observed"] = edge["client"] in net.talkers and edge["server"] in net.talkers
        else:
            key = (edge["client"], edge["server_ip"], numbers[edge["transport"]], edge["port"])
            edge["observed"] = key in net.conversations
    return {"site": site.name, "start": site.start.isoformat(), "attacks": [s for _, s in planned],
            "assets": assets, "edges": edges}

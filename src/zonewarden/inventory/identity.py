"""What each protocol's events say about the identity of the device that sent them.

Policy over the documented event fields only (docs/events.md). Each extractor returns
(attribute, value, confidence) facts about the event's *subject*: its sender, unless the protocol's
``SUBJECTS`` function names another address the message speaks for (a BACnet Forwarded-NPDU: the
original sender, not the BBMD). A message describing some other device (a module behind a ControlLogix
adapter, a BACnet device behind a router, a PROFINET station searched for by name, a BACnet You-Are
addressed to another device) says nothing about the sender's own identity, so it gives no fact, or only
a ``routed_device`` note naming what sits behind the sender.

Attributes resolved onto the asset: vendor, vendor_id, product_name, product_code, order_number,
firmware, hardware_revision, serial, device_type and name (host names). Others are kept as evidence
only: software_version, location, zone_hint, product_uri, application_uri, application_name, routed_device.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from zonewarden.model.events import field_of as _g

Fact = tuple[str, Any, float]
Extractor = Callable[[Any], list[Fact]]
Subject = Callable[[Any], str | None]  # the address an event's facts describe, None for its sender

# Confidence that a value is right for the *sending* device's attribute.
SELF_DESCRIBED = 0.9  # the device's own identity answer, the value as it sent it
CODE_NAMED = 0.8  # our table's name for a code the device sent (vendor id -> vendor name)
PATTERN_FOUND = 0.8  # found by pattern in a message with no documented identity layout (S7comm-plus)
APPLICATION = 0.7  # a server application describing itself: software on the host, not its hardware
UNSURE_TARGET = 0.6  # a self-description whose subject may be a module behind the responder
CLIENT_APPLICATION = 0.5  # a client application describing itself, or a server listed by a discovery server

# PROFIBUS/PROFINET manufacturer ids (PI registry) we name; others stay numbers (vendor_id).
PI_VENDORS: dict[int, str] = {0x002A: "Siemens"}
SEND_UNIT_DATA = 0x70  # EtherNet/IP encapsulation command carrying connected (class 3) CIP messages
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")  # RFC 3986 scheme
_VERSION = re.compile(r"^[Vv]?(\d+(?:\.\d+)*)$")  # V6, v1.2, 6.0


def _text(value: Any) -> Any:
    """Strings trimmed of padding (spaces, NULs); empty strings are no value."""
    if isinstance(value, str):
        value = value.strip().strip("\x00").strip()
        return value or None
    return value


def _facts(source: Any, mapping: Mapping[str, str], confidence: float = SELF_DESCRIBED) -> list[Fact]:
    out: list[Fact] = []
    for field_name, attribute in mapping.items():
        value = _text(_g(source, field_name))
        if value is not None:
            out.append((attribute, value, confidence))
    return out


def _named(name: Any) -> str | None:
    """A table name, unless the table did not know the code (``unknown-N``)."""
    name = _text(name)
    return None if not isinstance(name, str) or name.startswith("unknown-") else name


def modbus(e: Any) -> list[Fact]:
    """Read Device Identification (43/14) responses: the server's objects, as it sends them."""
    device = _g(e, "device_id")
    if not _g(e, "is_response") or _g(e, "exception_code") is not None or not isinstance(device, dict):
        return []
    facts = _facts(device, {"vendor_name": "vendor", "product_code": "product_code",
                            "major_minor_revision": "firmware", "user_application_name": "name"})
    product = _text(device.get("product_name")) or _text(device.get("model_name"))
    if product is not None:
        facts.append(("product_name", product, SELF_DESCRIBED))
    return facts


def enip(e: Any) -> list[Fact]:
    """ListIdentity replies and Identity object (class 1) replies: the EtherNet/IP identity item."""
    if not _g(e, "is_response"):
        return []
    serial, major, minor = _g(e, "serial_number"), _g(e, "revision_major"), _g(e, "revision_minor")
    if isinstance(serial, int):
        serial = f"0x{serial:08x}"  # as ICSNPP's cip_identity.log and tshark write it
    firmware = f"{major}.{minor:03d}" if isinstance(major, int) and isinstance(minor, int) else None
    product_code = _g(e, "product_code")
    vendor_id, product_name = _g(e, "vendor_id"), _text(_g(e, "product_name"))
    if all(v is None for v in (serial, firmware, product_code, vendor_id, product_name, _g(e, "device_type"))):
        return []
    route = _text(_g(e, "route_path"))
    if route is not None:  # Unconnected Send, or a connection opened through a port: the module there answers
        if product_name is None:
            return []
        note = " ".join(str(v) for v in (f"cip route {route}:",
                                          _named(_g(e, "vendor_name")), product_name, firmware and f"rev {firmware}",
                                          serial and f"serial {serial}") if v)
        return [("routed_device", note, SELF_DESCRIBED)]
    # Over a CIP connection with no route the reply comes from the Forward Open's target, which may still be
    # a module behind the adapter when the analyzer did not see that Forward Open: direct answers win.
    connected = _g(e, "command") == SEND_UNIT_DATA or _g(e, "command_name") == "send_unit_data"
    own = UNSURE_TARGET if connected else SELF_DESCRIBED
    named = min(own, CODE_NAMED)
    facts: list[Fact] = [(attribute, value, own) for attribute, value in (
        ("vendor_id", vendor_id), ("product_name", product_name), ("serial", serial), ("firmware", firmware),
        ("product_code", None if product_code is None else str(product_code))) if value is not None]
    facts += [(attribute, value, named) for attribute, value in (
        ("vendor", _named(_g(e, "vendor_name"))), ("device_type", _named(_g(e, "device_type_name"))))
        if value is not None]
    return facts


def s7comm(e: Any) -> list[Fact]:
    """SZL answers: module identification (0x0011) and component identification (0x001c)."""
    if not _g(e, "is_response"):
        return []
    facts = _facts(e, {"order_number": "order_number", "module_type_name": "product_name",
                       "firmware_version": "firmware", "hardware_version": "hardware_revision",
                       "serial_number": "serial", "plc_name": "name", "module_name": "name",
                       "location": "location", "plant_id": "zone_hint"})
    vendor = PI_VENDORS.get(_g(e, "manufacturer_id") or -1)
    if vendor is not None:
        facts.append(("vendor", vendor, CODE_NAMED))
    return facts


def s7comm_plus(e: Any) -> list[Fact]:
    """The PLC's module identification blob, found by pattern in S7comm-plus responses."""
    if not _g(e, "is_response"):
        return []
    return _facts(e, {"order_number": "order_number", "serial_number": "serial",
                      "firmware_version": "firmware"}, PATTERN_FOUND)


def bacnet(e: Any) -> list[Fact]:
    """I-Am, Who-Am-I and ReadProperty(Multiple) ACKs on the device object (a BBMD's Forwarded-NPDU: about the
    original sender, ``bacnet_subject``)."""
    if _g(e, "service") == "you_are":  # assigns an identity to the receiver
        return []
    if _g(e, "snet") is not None:  # routed from another BACnet network: a device behind the sender
        instance = _g(e, "device_instance")
        if _g(e, "service") != "i_am" or instance is None:
            return []
        vendor = _named(_g(e, "vendor")) or _g(e, "vendor_id")
        note = f"bacnet network {_g(e, 'snet')} address {_g(e, 'sadr')}: device {instance}, vendor {vendor}"
        return [("routed_device", note, SELF_DESCRIBED)]
    facts = _facts(e, {"vendor_id": "vendor_id", "vendor_name": "vendor", "model_name": "product_name",
                       "firmware_revision": "firmware", "application_software_version": "software_version",
                       "serial_number": "serial", "device_name": "name", "location": "location"})
    if _g(e, "vendor_id") is not None and (vendor := _named(_g(e, "vendor"))) is not None:
        facts.append(("vendor", vendor, CODE_NAMED))
    return facts


def profinet_dcp(e: Any) -> list[Fact]:
    """Identify/Get responses and Hello: the station's own blocks (requests only search or set)."""
    if not ((_g(e, "is_response") and _g(e, "service_type") == 1) or _g(e, "service") == "hello"):
        return []
    facts = _facts(e, {"name_of_station": "name", "vendor_id": "vendor_id", "vendor_name": "product_name"})
    device_id, roles, vendor_id = _g(e, "device_id"), _g(e, "device_role_names"), _g(e, "vendor_id")
    if isinstance(device_id, int):
        facts.append(("product_code", f"0x{device_id:04x}", SELF_DESCRIBED))
    if roles:
        facts.append(("device_type", "+".join(roles), SELF_DESCRIBED))
    if isinstance(vendor_id, int) and vendor_id in PI_VENDORS:
        facts.append(("vendor", PI_VENDORS[vendor_id], CODE_NAMED))
    return facts


def dnp3(e: Any) -> list[Fact]:
    """Device attributes (group 0) an outstation reports in its responses."""
    if not _g(e, "is_response"):
        return []
    return _facts(e, {"vendor_name": "vendor", "product_name": "product_name", "software_version": "firmware",
                      "hardware_version": "hardware_revision", "serial_number": "serial", "device_name": "name",
                      "location": "location"})


def product_of_uri(uri: Any) -> str | None:
    """The product an OPC UA ProductUri names, readably: the segments after its authority (the vendor's
    domain or name), a final version segment as a bare number. ``urn:kepware.com:KEPServerEX:V6`` is
    ``KEPServerEX 6``, ``urn:UnifiedAutomation:UaServerCpp`` is ``UaServerCpp``; a URI naming only an
    authority (``http://open62541.org``) names no product. A value without a scheme is taken as the name."""
    uri = _text(uri)
    if not isinstance(uri, str):
        return None
    scheme, colon, rest = uri.partition(":")
    if not colon or not _SCHEME.match(scheme):
        return uri  # not a URI (node-opcua sends "NodeOPCUA-Server"): the product's name itself
    path = re.split(r"[?#]", rest, maxsplit=1)[0]
    parts = [p for p in re.split(r"[:/]", path) if p][1:]  # the first is the authority
    if len(parts) > 1 and (version := _VERSION.match(parts[-1])):
        parts[-1] = version.group(1)
    return " ".join(parts) or None


def opcua(e: Any) -> list[Fact]:
    """ApplicationDescriptions: a server's (GetEndpoints, CreateSession responses), a client's (CreateSession).

    The product is what the ProductUri names (OPC 10000-4, ApplicationDescription: "globally unique identifier
    for the product"); the ApplicationName describes the application instance (often ``<product>@<host>``),
    so it is evidence, and the product name only when the ProductUri names none."""
    if _g(e, "application_uri") is None and _g(e, "application_name") is None:
        return []
    server = _g(e, "is_response") and _g(e, "service") != "FindServersResponse"
    confidence = APPLICATION if server else CLIENT_APPLICATION
    facts = _facts(e, {"application_name": "application_name", "product_uri": "product_uri",
                       "application_uri": "application_uri"}, confidence)
    product = product_of_uri(_g(e, "product_uri")) or _text(_g(e, "application_name"))
    if product is not None:
        facts.append(("product_name", product, confidence))
    return facts


# Sparkplug B node properties (the specification's NBIRTH example; Eclipse Tahu): metric name -> attribute.
SPARKPLUG_PROPERTIES = {"properties/hardware make": "vendor", "properties/hardware model": "product_name",
                        "properties/fw": "firmware", "properties/serial number": "serial"}


def mqtt(e: Any) -> list[Fact]:
    """Sparkplug B birth certificates a client publishes: an NBIRTH's properties describe the edge node that
    sends it; a DBIRTH's describe a device behind the edge node, so they are a ``routed_device`` note. The
    same message forwarded by the broker to subscribers says nothing about the broker."""
    metrics = _g(e, "sparkplug_metrics")
    if _g(e, "is_response") or not isinstance(metrics, dict):
        return []
    found: dict[str, str] = {}
    for name, value in metrics.items():
        attribute = SPARKPLUG_PROPERTIES.get(str(name).lower())
        value = _text(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
        if attribute is not None and value is not None:
            found.setdefault(attribute, value)
    if _g(e, "sparkplug_message_type") == "NBIRTH":
        return [(attribute, value, SELF_DESCRIBED) for attribute, value in found.items()]
    if _g(e, "sparkplug_message_type") != "DBIRTH" or not found:
        return []
    where = "/".join(str(v) for v in (_g(e, "sparkplug_edge_node"), _g(e, "sparkplug_device")) if v)
    note = " ".join(v for v in (f"sparkplug device {where}:", found.get("vendor"), found.get("product_name"),
                                found.get("firmware") and f"fw {found['firmware']}",
                                found.get("serial") and f"serial {found['serial']}") if v)
    return [("routed_device", note, SELF_DESCRIBED)]


def bacnet_subject(e: Any) -> str | None:
    """A BBMD's Forwarded-NPDU speaks for the original sender its BVLC header names, not for the BBMD."""
    forwarded = _g(e, "forwarded_ip")
    return str(forwarded) if forwarded is not None and forwarded != _g(e, "src") else None


EXTRACTORS: dict[str, Extractor] = {
    "modbus": modbus, "enip": enip, "s7comm": s7comm, "s7comm_plus": s7comm_plus, "bacnet": bacnet,
    "profinet_dcp": profinet_dcp, "dnp3": dnp3, "opcua": opcua, "mqtt": mqtt,
}
# Protocols whose messages may speak for a device other than their sender.
SUBJECTS: dict[str, Subject] = {"bacnet": bacnet_subject}

"""What each protocol's events say about the identity of the device that sent them.

Policy over the documented event fields only (docs/events.md). Each extractor returns
(attribute, value, confidence) facts about the event's sender.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zonewarden.model.events import field_of as _g

Fact = tuple[str, Any, float]
Extractor = Callable[[Any], list[Fact]]

# Confidence: a device describing itself in an identity service is strong evidence; names and
# hints gleaned from other traffic are weaker.
SELF_DESCRIBED = 0.9
DECLARED = 0.7


def _facts(e: Any, mapping: dict[str, str], confidence: float = SELF_DESCRIBED) -> list[Fact]:
    out: list[Fact] = []
    for field_name, attribute in mapping.items():
        value = _g(e, field_name)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            value = value.strip().strip("\x00").strip()
            if not value:
                continue
        out.append((attribute, value, confidence))
    return out


def modbus(e: Any) -> list[Fact]:
    device = _g(e, "device_id")
    if not _g(e, "is_response") or not isinstance(device, dict):
        return []
    return _facts(device, {"vendor_name": "vendor", "product_code": "product_code",
                           "major_minor_revision": "firmware", "product_name": "product_name",
                           "model_name": "product_name", "user_application_name": "name"})


def enip(e: Any) -> list[Fact]:
    """ListIdentity replies and Identity object (class 1) replies carry the same identity item."""
    if not _g(e, "is_response") or (_g(e, "product_name") is None and _g(e, "serial_number") is None):
        return []
    facts = _facts(e, {"vendor_id": "vendor_id", "vendor_name": "vendor", "product_name": "product_name",
                       "product_code": "product_code", "serial_number": "serial", "device_type_name": "device_type"})
    facts = [("serial", f"0x{v:08x}", c) if a == "serial" and isinstance(v, int) else (a, v, c) for a, v, c in facts]
    major, minor = _g(e, "revision_major"), _g(e, "revision_minor")
    if major is not None and minor is not None:
        facts.append(("firmware", f"{major}.{minor:03d}", SELF_DESCRIBED))
    return facts


def s7comm(e: Any) -> list[Fact]:
    if not _g(e, "is_response"):
        return []
    return _facts(e, {"order_number": "order_number", "module_type_name": "product_name",
                      "firmware_version": "firmware", "hardware_version": "hardware_revision",
                      "serial_number": "serial", "plc_name": "name", "module_name": "product_name",
                      "plant_id": "zone_hint", "vendor": "vendor"})


def bacnet(e: Any) -> list[Fact]:
    facts = _facts(e, {"vendor_name": "vendor", "model_name": "product_name", "firmware_revision": "firmware",
                       "application_software_version": "software_version", "serial_number": "serial",
                       "object_name": "name"})
    if _g(e, "service") in ("i_am", "i-am") and _g(e, "vendor_id") is not None:
        facts.append(("vendor_id", _g(e, "vendor_id"), SELF_DESCRIBED))
    return facts


def profinet_dcp(e: Any) -> list[Fact]:
    if not _g(e, "is_response"):
        return []
    return _facts(e, {"name_of_station": "name", "vendor_id": "vendor_id", "device_id": "product_code",
                      "vendor_name": "product_name", "device_role": "device_type"})


def dnp3(e: Any) -> list[Fact]:
    return _facts(e, {"vendor_name": "vendor", "device_model": "product_name", "firmware_version": "firmware",
                      "hardware_version": "hardware_revision", "serial_number": "serial",
                      "device_name": "name", "software_version": "software_version"})


def opcua(e: Any) -> list[Fact]:
    if not _g(e, "is_response"):
        return []
    return _facts(e, {"application_name": "product_name", "product_uri": "product_uri",
                      "application_uri": "name"}, DECLARED)


EXTRACTORS: dict[str, Extractor] = {
    "modbus": modbus, "enip": enip, "s7comm": s7comm, "bacnet": bacnet, "profinet_dcp": profinet_dcp,
    "dnp3": dnp3, "opcua": opcua,
}

"""BACnet/IP (ASHRAE 135 Annex J and clauses 20-21): BVLC, NPDU and the APDUs of device discovery and polling.

Values are encoded with application tags and service parameters with context tags, per clause 20.2.
"""

from __future__ import annotations

import struct

PORT = 47808
BVLC_UNICAST, BVLC_BROADCAST = 0x0A, 0x0B
SVC_I_AM, SVC_WHO_IS = 0x00, 0x08  # unconfirmed services
SVC_READ_PROPERTY, SVC_WRITE_PROPERTY = 0x0C, 0x0F  # confirmed services
OBJ_ANALOG_INPUT, OBJ_ANALOG_VALUE, OBJ_BINARY_INPUT, OBJ_BINARY_VALUE, OBJ_DEVICE = 0, 2, 3, 5, 8
PROP_APPLICATION_SOFTWARE_VERSION, PROP_DESCRIPTION, PROP_FIRMWARE_REVISION = 12, 28, 44
PROP_LOCATION, PROP_MODEL_NAME, PROP_OBJECT_NAME, PROP_PRESENT_VALUE = 58, 70, 77, 85
PROP_VENDOR_IDENTIFIER, PROP_VENDOR_NAME, PROP_SERIAL_NUMBER = 120, 121, 372
SEGMENTED_BOTH, NO_SEGMENTATION = 0, 3

Value = str | float | int | bool


def _tag(number: int, context: bool, content: bytes) -> bytes:
    """Tag octet (number, class, length/value/type) with the extended length forms, then the content."""
    klass = 0x08 if context else 0
    n = len(content)
    if n <= 4:
        return bytes([number << 4 | klass | n]) + content
    if n < 254:
        return bytes([number << 4 | klass | 5, n]) + content
    return bytes([number << 4 | klass | 5, 254]) + struct.pack("!H", n) + content


def _unsigned_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def object_id(obj_type: int, instance: int) -> bytes:
    return struct.pack("!I", obj_type << 22 | instance)


def app_value(value: Value, *, enumerated: bool = False) -> bytes:
    """Application-tagged value: bool (1), unsigned (2), real (4), character string (7), enumerated (9)."""
    if isinstance(value, bool):
        return bytes([0x10 | int(value)])  # boolean: the value is in the LVT bits
    if isinstance(value, float):
        return _tag(4, False, struct.pack("!f", value))
    if isinstance(value, str):
        return _tag(7, False, b"\x00" + value.encode())  # character set 0: UTF-8
    return _tag(9 if enumerated else 2, False, _unsigned_bytes(value))


def bvlc(npdu: bytes, *, broadcast: bool = False) -> bytes:
    return struct.pack("!BBH", 0x81, BVLC_BROADCAST if broadcast else BVLC_UNICAST, 4 + len(npdu)) + npdu


def npdu(apdu: bytes, *, expecting_reply: bool = False) -> bytes:
    return bytes([0x01, 0x04 if expecting_reply else 0x00]) + apdu


def who_is(low: int | None = None, high: int | None = None) -> bytes:
    limits = b""
    if low is not None and high is not None:
        limits = _tag(0, True, _unsigned_bytes(low)) + _tag(1, True, _unsigned_bytes(high))
    return bvlc(npdu(bytes([0x10, SVC_WHO_IS]) + limits), broadcast=True)


def i_am(instance: int, vendor_id: int, max_apdu: int = 1476, segmentation: int = NO_SEGMENTATION) -> bytes:
    body = (
        _tag(12, False, object_id(OBJ_DEVICE, instance))
        + app_value(max_apdu)
        + app_value(segmentation, enumerated=True)
        + app_value(vendor_id)
    )
    return bvlc(npdu(bytes([0x10, SVC_I_AM]) + body), broadcast=True)


def _property_ref(obj_type: int, instance: int, prop: int) -> bytes:
    return _tag(0, True, object_id(obj_type, instance)) + _tag(1, True, _unsigned_bytes(prop))


def read_property(invoke_id: int, obj_type: int, instance: int, prop: int) -> bytes:
    # 0x05: no segmentation accepted, max APDU 1476; service parameters follow the invoke id and choice.
    apdu = bytes([0x00, 0x05, invoke_id & 0xFF, SVC_READ_PROPERTY]) + _property_ref(obj_type, instance, prop)
    return bvlc(npdu(apdu, expecting_reply=True))


def read_property_ack(invoke_id: int, obj_type: int, instance: int, prop: int, value: Value, *,
                      enumerated: bool = False) -> bytes:
    apdu = (
        bytes([0x30, invoke_id & 0xFF, SVC_READ_PROPERTY])
        + _property_ref(obj_type, instance, prop)
        + b"\x3e"
        + app_value(value, enumerated=enumerated)
        + b"\x3f"
    )
    return bvlc(npdu(apdu))


def write_property(invoke_id: int, obj_type: int, instance: int, prop: int, value: Value, priority: int) -> bytes:
    apdu = (
        bytes([0x00, 0x05, invoke_id & 0xFF, SVC_WRITE_PROPERTY])
        + _property_ref(obj_type, instance, prop)
        + b"\x3e"
        + app_value(value)
        + b"\x3f"
        + _tag(4, True, bytes([priority]))
    )
    return bvlc(npdu(apdu, expecting_reply=True))


def simple_ack(invoke_id: int, service: int) -> bytes:
    return bvlc(npdu(bytes([0x20, invoke_id & 0xFF, service])))

"""Service data of the Connection Manager (class 6: Unconnected Send, Forward Open, Large Forward Open,
Forward Close; CIP Vol. 1, 3-5.5) and of the Identity object (class 1; CIP Vol. 1, 5A-2).
Pure: bytes in, typed values out; raises Malformed only.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from zonewarden.errors import Malformed
from zonewarden.protocols.enip.codes import IDENTITY_ATTRIBUTES
from zonewarden.protocols.enip.wire_cip import CipPath, CipRequest, parse_path, parse_request
from zonewarden.protocols.enip.wire_encap import Identity, parse_identity_body


@dataclass(slots=True)
class UnconnectedSend:
    embedded: CipRequest
    route_bytes: bytes
    route: CipPath


def parse_unconnected_send(data: bytes) -> UnconnectedSend:
    """Unconnected Send request data: timing, embedded message request, route path."""
    if len(data) < 4:
        raise Malformed(f"unconnected send: {len(data)} bytes, need at least 4")
    (size,) = struct.unpack_from("<H", data, 2)
    end = 4 + size
    if end > len(data):
        raise Malformed(f"unconnected send: embedded request of {size} bytes exceeds the {len(data) - 4} present")
    embedded = parse_request(data[4:end])
    end += size & 1  # pad byte after an odd-length embedded request
    if end + 2 > len(data):
        raise Malformed("unconnected send: route path size missing")
    words = data[end]
    route = data[end + 2 : end + 2 + 2 * words]
    if len(route) < 2 * words:
        raise Malformed(f"unconnected send: route path of {words} words truncated")
    return UnconnectedSend(embedded, route, parse_path(route))


@dataclass(slots=True)
class Connection:
    """Forward Open / Large Forward Open / Forward Close fields (those a message carries; others None)."""

    serial: int
    vendor_id: int
    originator_serial: int
    ot_connection_id: int | None = None
    to_connection_id: int | None = None
    ot_rpi: int | None = None  # requested packet interval (request) or actual packet interval (reply), µs
    to_rpi: int | None = None
    transport: int | None = None  # transport type/trigger byte
    path_bytes: bytes | None = None
    path: CipPath | None = None


def _connection_path(conn: Connection, data: bytes, pos: int, *, reserved_after_size: bool) -> None:
    if pos >= len(data):
        raise Malformed("connection path size missing")
    words = data[pos]
    start = pos + (2 if reserved_after_size else 1)
    raw = data[start : start + 2 * words]
    if len(raw) < 2 * words:
        raise Malformed(f"connection path of {words} words truncated")
    conn.path_bytes, conn.path = raw, parse_path(raw)


def parse_forward_open_request(data: bytes, *, large: bool) -> Connection:
    params = "I" if large else "H"
    fmt = f"<BBIIHHIB3xI{params}I{params}B"
    need = struct.calcsize(fmt)
    if len(data) < need:
        raise Malformed(f"forward open request: {len(data)} bytes, need at least {need}")
    (_tick, _ticks, ot_id, to_id, serial, vendor, orig_serial, _mult, ot_rpi, _ot_params, to_rpi, _to_params,
     transport) = struct.unpack_from(fmt, data)
    conn = Connection(serial, vendor, orig_serial, ot_id, to_id, ot_rpi, to_rpi, transport)
    _connection_path(conn, data, need, reserved_after_size=False)
    return conn


def parse_forward_open_reply(data: bytes, *, success: bool) -> Connection:
    if success:
        if len(data) < 24:
            raise Malformed(f"forward open reply: {len(data)} bytes, need at least 24")
        ot_id, to_id, serial, vendor, orig_serial, ot_api, to_api = struct.unpack_from("<IIHHIII", data)
        return Connection(serial, vendor, orig_serial, ot_id, to_id, ot_api, to_api)
    return _connection_triad(data, "forward open failure")


def parse_forward_close_request(data: bytes) -> Connection:
    if len(data) < 10:
        raise Malformed(f"forward close request: {len(data)} bytes, need at least 10")
    _tick, _ticks, serial, vendor, orig_serial = struct.unpack_from("<BBHHI", data)
    conn = Connection(serial, vendor, orig_serial)
    _connection_path(conn, data, 10, reserved_after_size=True)
    return conn


def parse_forward_close_reply(data: bytes) -> Connection:
    return _connection_triad(data, "forward close reply")


def _connection_triad(data: bytes, what: str) -> Connection:
    """Connection serial, originator vendor and serial: how every reply names its connection."""
    if len(data) < 8:
        raise Malformed(f"{what}: {len(data)} bytes, need at least 8")
    serial, vendor, orig_serial = struct.unpack_from("<HHI", data)
    return Connection(serial, vendor, orig_serial)


def parse_identity_all(data: bytes) -> Identity:
    """Get_Attributes_All reply of an Identity instance: attributes 1-7, then state if present."""
    identity, end = parse_identity_body(data)
    if end < len(data):
        identity.state = data[end]
    return identity


_ATTRIBUTE_FORMATS = {1: "<H", 2: "<H", 3: "<H", 5: "<H", 6: "<I", 8: "<B"}


def parse_identity_attribute(identity: Identity, attribute: int, data: bytes) -> int:
    """Set one Identity attribute from its value at the start of ``data``; returns the bytes used."""
    if attribute not in IDENTITY_ATTRIBUTES:
        raise Malformed(f"identity attribute {attribute} has no known layout")
    if attribute == 4:
        if len(data) < 2:
            raise Malformed("identity revision truncated")
        identity.revision_major, identity.revision_minor = data[0], data[1]
        return 2
    if attribute == 7:
        if not data or len(data) < 1 + data[0]:
            raise Malformed("identity product name truncated")
        identity.product_name = data[1 : 1 + data[0]].decode("latin-1")
        return 1 + data[0]
    fmt = _ATTRIBUTE_FORMATS[attribute]
    if len(data) < struct.calcsize(fmt):
        raise Malformed(f"identity attribute {attribute} truncated")
    (value,) = struct.unpack_from(fmt, data)
    setattr(identity, {1: "vendor_id", 2: "device_type", 3: "product_code", 5: "status", 6: "serial_number",
                       8: "state"}[attribute], value)
    return struct.calcsize(fmt)


def parse_identity_attribute_list(reply_data: bytes) -> Identity:
    """Get_Attribute_List reply of an Identity instance: count, then (id, status, value) per attribute."""
    identity = Identity()
    if len(reply_data) < 2:
        raise Malformed("attribute list reply without a count")
    (count,) = struct.unpack_from("<H", reply_data)
    pos = 2
    for _ in range(min(count, len(IDENTITY_ATTRIBUTES))):  # progress: pos grows by at least 4 or we stop
        if pos + 4 > len(reply_data):
            raise Malformed("attribute list reply truncated")
        attribute, status = struct.unpack_from("<HH", reply_data, pos)
        pos += 4
        if status != 0:
            continue  # a failed attribute carries no value
        if attribute not in IDENTITY_ATTRIBUTES:
            break  # no known layout: the values after it cannot be located
        pos += parse_identity_attribute(identity, attribute, reply_data[pos:])
    return identity

"""EtherNet/IP encapsulation and CIP explicit messages (ODVA CIP Vol. 1 and Vol. 2).

Encapsulation fields are little-endian; the socket address inside a ListIdentity item is big-endian, as the
spec says (it is a sockaddr_in).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

PORT = 44818
LIST_SERVICES, LIST_IDENTITY = 0x04, 0x63
REGISTER_SESSION, UNREGISTER_SESSION, SEND_RR_DATA = 0x65, 0x66, 0x6F
GET_ATTRIBUTE_ALL, RESET, GET_ATTRIBUTE_SINGLE, SET_ATTRIBUTE_SINGLE = 0x01, 0x05, 0x0E, 0x10
INITIATE_DOWNLOAD, DOWNLOAD_TRANSFER = 0x4C, 0x50  # File object (class 0x37) services
UNCONNECTED_SEND = 0x52
CLASS_IDENTITY, CLASS_ASSEMBLY, CLASS_CONNECTION_MANAGER, CLASS_FILE = 0x01, 0x04, 0x06, 0x37
STATUS_SUCCESS = 0x00


@dataclass(frozen=True, slots=True)
class Identity:
    """The Identity object (class 1) attributes a device reports."""

    vendor_id: int
    device_type: int
    product_code: int
    revision: tuple[int, int]
    serial: int
    product_name: str
    status: int = 0x0060  # owned, configured
    state: int = 3  # operational


def encap(command: int, data: bytes = b"", session: int = 0, context: bytes = bytes(8), status: int = 0) -> bytes:
    return struct.pack("<HHII8sI", command, len(data), session, status, context, 0) + data


def register_session(session: int = 0) -> bytes:
    """Request (session 0) or reply (the session handle the target assigned)."""
    return encap(REGISTER_SESSION, struct.pack("<HH", 1, 0), session)


def unregister_session(session: int) -> bytes:
    return encap(UNREGISTER_SESSION, b"", session)


def list_identity_request(context: bytes = bytes(8)) -> bytes:
    return encap(LIST_IDENTITY, b"", 0, context)


def _identity_body(ident: Identity) -> bytes:
    name = ident.product_name.encode()
    return (
        struct.pack("<HHHBBHI", ident.vendor_id, ident.device_type, ident.product_code, *ident.revision,
                    ident.status, ident.serial)
        + bytes([len(name)])
        + name
    )


def list_identity_reply(ident: Identity, ip: str, context: bytes = bytes(8)) -> bytes:
    sockaddr = struct.pack(">hH4s8x", 2, PORT, ipaddress.IPv4Address(ip).packed)
    item = struct.pack("<H", 1) + sockaddr + _identity_body(ident) + bytes([ident.state])
    data = struct.pack("<HHH", 1, 0x000C, len(item)) + item
    return encap(LIST_IDENTITY, data, 0, context)


def epath(cls: int, instance: int, attribute: int | None = None) -> bytes:
    """Logical segments, 8-bit (0x20/0x24/0x30) or 16-bit (0x21/0x25, padded) as the values need."""
    out = b""
    for seg8, value in ((0x20, cls), (0x24, instance), (0x30, attribute)):
        if value is None:
            continue
        out += bytes([seg8, value]) if value < 0x100 else struct.pack("<BBH", seg8 | 1, 0, value)
    return out


def cip_request(service: int, path: bytes, data: bytes = b"") -> bytes:
    return bytes([service, len(path) // 2]) + path + data


def cip_response(service: int, data: bytes = b"", status: int = STATUS_SUCCESS) -> bytes:
    return bytes([service | 0x80, 0, status, 0]) + data


def send_rr_data(session: int, cip: bytes, context: bytes = bytes(8), timeout: int = 0) -> bytes:
    """Unconnected message: interface handle 0, a Null address item and an Unconnected Data item."""
    data = struct.pack("<IHHHHHH", 0, timeout, 2, 0x0000, 0, 0x00B2, len(cip)) + cip
    return encap(SEND_RR_DATA, data, session, context)


def identity_attributes(ident: Identity) -> bytes:
    """Get_Attribute_All reply data of the Identity object: attributes 1-7 in order."""
    return _identity_body(ident)


def unconnected_send(embedded: bytes, slot: int) -> bytes:
    """Connection Manager Unconnected_Send: route ``embedded`` to the backplane (port 1) ``slot``."""
    # Priority/tick 0x0a, timeout ticks 0xf0 (about 2 s); route path: port 1, link = slot.
    body = struct.pack("<BBH", 0x0A, 0xF0, len(embedded)) + embedded
    if len(embedded) % 2:
        body += b"\x00"
    body += struct.pack("<BBBB", 1, 0, 0x01, slot)
    return cip_request(UNCONNECTED_SEND, epath(CLASS_CONNECTION_MANAGER, 1), body)

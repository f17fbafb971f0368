"""EtherNet/IP encapsulation (CIP Vol. 2, chapter 2): the 24-byte header, the Common Packet Format
items, the list replies (identity, services, interfaces), sessions and the UDP I/O datagrams.

Pure: bytes in, typed messages out. Raises NeedMoreData when the bytes end early and Malformed when
they cannot be EtherNet/IP. Multi-byte fields are little-endian except the socket address items,
which are sockaddr_in in network byte order.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.enip.codes import (
    CPF_CONNECTED_ADDRESS,
    CPF_CONNECTED_DATA,
    CPF_LIST_IDENTITY,
    CPF_LIST_SERVICES,
    CPF_SEQUENCED_ADDRESS,
    LIST_COMMANDS,
    LIST_IDENTITY,
    LIST_SERVICES,
    REGISTER_SESSION,
    SEND_RR_DATA,
    SEND_UNIT_DATA,
)

HEADER_LEN = 24
# Commands are 16-bit but every defined one is below 0x100, as is the undocumented 0x0001 RSLinx sends
# first; framing treats a larger one as "not a header": a flow starting so is handed back, a stream
# resynchronises on it after a gap.
MAX_PLAUSIBLE_COMMAND = 0xFF
# A message carries one to four CPF items in practice (address, data, two socket addresses).
MAX_CPF_ITEMS = 16


@dataclass(slots=True)
class EncapHeader:
    command: int
    length: int
    session: int
    status: int
    context: bytes
    options: int


@dataclass(slots=True)
class CpfItem:
    type_id: int
    data: bytes


@dataclass(slots=True)
class Identity:
    """An identity: the ListIdentity item or the Identity object's attributes (fields it lacks stay None)."""

    vendor_id: int | None = None
    device_type: int | None = None
    product_code: int | None = None
    revision_major: int | None = None
    revision_minor: int | None = None
    status: int | None = None
    serial_number: int | None = None
    product_name: str | None = None
    state: int | None = None
    encap_version: int | None = None
    socket_address: str | None = None
    socket_port: int | None = None


@dataclass(slots=True)
class ServiceItem:
    """One ListServices reply item."""

    version: int
    flags: int
    name: str


@dataclass(slots=True)
class EncapMessage:
    """One encapsulation message with its command-specific data decoded."""

    header: EncapHeader
    items: list[CpfItem] | None = None  # CPF items (SendRRData, SendUnitData, list replies)
    interface: int | None = None  # SendRRData/SendUnitData interface handle
    timeout: int | None = None
    identities: list[Identity] | None = None  # ListIdentity reply items
    services: list[ServiceItem] | None = None  # ListServices reply items
    protocol_version: int | None = None  # RegisterSession
    problem: str | None = None  # an inconsistency inside an otherwise framed message


def parse_header(data: bytes) -> EncapHeader:
    if len(data) < HEADER_LEN:
        raise NeedMoreData("encapsulation header incomplete")
    command, length, session, status = struct.unpack_from("<HHII", data)
    context = data[12:20]
    (options,) = struct.unpack_from("<I", data, 20)
    return EncapHeader(command, length, session, status, context, options)


def message_length(head: bytes) -> int:
    """Total length (header + data) of the message starting at ``head``."""
    if len(head) < 4:
        raise NeedMoreData("encapsulation header incomplete")
    command, length = struct.unpack_from("<HH", head)
    if command > MAX_PLAUSIBLE_COMMAND:
        raise Malformed(f"command 0x{command:04x} is not an encapsulation command")
    return HEADER_LEN + int(length)


def parse_cpf(data: bytes) -> list[CpfItem]:
    """A Common Packet Format item list (item count, then type id, length, data per item)."""
    if len(data) < 2:
        raise Malformed("CPF item count missing")
    (count,) = struct.unpack_from("<H", data)
    if count > MAX_CPF_ITEMS:
        raise Malformed(f"CPF item count {count} exceeds {MAX_CPF_ITEMS}")
    items: list[CpfItem] = []
    pos = 2
    for _ in range(count):  # progress: pos grows by at least 4 each pass or the loop raises
        if pos + 4 > len(data):
            raise Malformed(f"CPF item {len(items) + 1} of {count} truncated")
        type_id, length = struct.unpack_from("<HH", data, pos)
        body = data[pos + 4 : pos + 4 + length]
        if len(body) < length:
            raise Malformed(f"CPF item 0x{type_id:04x} declares {length} bytes, {len(body)} present")
        items.append(CpfItem(type_id, body))
        pos += 4 + length
    return items


def _short_string(data: bytes, pos: int, what: str) -> tuple[str, int]:
    if pos >= len(data):
        raise Malformed(f"{what} length missing")
    size = data[pos]
    text = data[pos + 1 : pos + 1 + size]
    if len(text) < size:
        raise Malformed(f"{what} declares {size} characters, {len(text)} present")
    return text.decode("latin-1"), pos + 1 + size


def parse_identity_body(data: bytes, pos: int = 0) -> tuple[Identity, int]:
    """Identity attributes 1-7 in Get_Attributes_All order; returns the identity and the end offset."""
    if len(data) < pos + 14:
        raise Malformed(f"identity: {len(data) - pos} bytes, need at least 14")
    vendor, device_type, product_code, major, minor, status, serial = struct.unpack_from("<HHHBBHI", data, pos)
    name, end = _short_string(data, pos + 14, "product name")
    return Identity(vendor, device_type, product_code, major, minor, status, serial, name), end


def parse_list_identity_item(data: bytes) -> Identity:
    """The CIP Identity item of a ListIdentity reply (CPF type 0x0C)."""
    if len(data) < 18:
        raise Malformed(f"identity item: {len(data)} bytes, need at least 18")
    (version,) = struct.unpack_from("<H", data)
    _family, port, address = struct.unpack_from("!HH4s", data, 2)
    identity, end = parse_identity_body(data, 18)
    if end >= len(data):
        raise Malformed("identity item without state")
    identity.state = data[end]
    identity.encap_version = version
    identity.socket_address = str(ipaddress.IPv4Address(address))
    identity.socket_port = port
    return identity


def parse_sockaddr_item(data: bytes) -> str:
    """A socket address info item (CPF 0x8000/0x8001) as ``address:port``."""
    if len(data) < 8:
        raise Malformed(f"socket address item: {len(data)} bytes, need 16")
    _family, port, address = struct.unpack_from("!HH4s", data)
    return f"{ipaddress.IPv4Address(address)}:{port}"


def parse_message(pdu: bytes) -> EncapMessage:
    """One complete encapsulation message (header and exactly ``length`` bytes of data)."""
    header = parse_header(pdu)
    body = pdu[HEADER_LEN : HEADER_LEN + header.length]
    if len(body) < header.length:
        raise NeedMoreData("encapsulation data incomplete")
    msg = EncapMessage(header)
    command = header.command
    if command in (SEND_RR_DATA, SEND_UNIT_DATA):
        if len(body) < 6:
            raise Malformed(f"command 0x{command:04x}: {len(body)} bytes, need at least 6")
        msg.interface, msg.timeout = struct.unpack_from("<IH", body)
        msg.items = parse_cpf(body[6:])
    elif command in LIST_COMMANDS and body:
        msg.items = parse_cpf(body)
        if command == LIST_IDENTITY:
            msg.identities = [parse_list_identity_item(i.data) for i in msg.items if i.type_id == CPF_LIST_IDENTITY]
        elif command == LIST_SERVICES:
            msg.services = [_service_item(i.data) for i in msg.items if i.type_id == CPF_LIST_SERVICES]
    elif command == REGISTER_SESSION:
        if len(body) < 4:
            raise Malformed(f"register session: {len(body)} bytes, need 4")
        msg.protocol_version, _flags = struct.unpack_from("<HH", body)
    return msg


def _service_item(data: bytes) -> ServiceItem:
    if len(data) < 4:
        raise Malformed(f"services item: {len(data)} bytes, need at least 4")
    version, flags = struct.unpack_from("<HH", data)
    return ServiceItem(version, flags, data[4:20].split(b"\0", 1)[0].decode("latin-1"))


@dataclass(slots=True)
class IoDatagram:
    """A connected (implicit I/O) datagram on UDP 2222: CPF with an address item and a data item."""

    connection_id: int
    sequence: int | None  # encapsulation sequence number of the sequenced address item
    data: bytes
    types: tuple[int, ...]


def parse_io_datagram(payload: bytes) -> IoDatagram:
    items = parse_cpf(payload)
    address = next((i for i in items if i.type_id in (CPF_SEQUENCED_ADDRESS, CPF_CONNECTED_ADDRESS)), None)
    data = next((i for i in items if i.type_id == CPF_CONNECTED_DATA), None)
    if address is None:
        raise Malformed("I/O datagram without a connected or sequenced address item")
    if len(address.data) < (8 if address.type_id == CPF_SEQUENCED_ADDRESS else 4):
        raise Malformed(f"address item 0x{address.type_id:04x} too short: {len(address.data)} bytes")
    (connection_id,) = struct.unpack_from("<I", address.data)
    sequence = struct.unpack_from("<I", address.data, 4)[0] if address.type_id == CPF_SEQUENCED_ADDRESS else None
    return IoDatagram(connection_id, sequence, data.data if data is not None else b"",
                      tuple(i.type_id for i in items))


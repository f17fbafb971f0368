"""MQTT 3.1, 3.1.1 and 5.0 control packets (OASIS MQTT 3.1.1 and 5.0, section 2 and 3). Pure.

A packet is a fixed header (type, flags, variable-length Remaining Length) then a variable header and
payload that depend on the type and, for properties and reason codes, on the protocol level the CONNECT
announced. Passwords are skipped, never kept; PUBLISH payloads are measured and located, never copied
(wire_sparkplug.py reads Sparkplug B payloads).

Raises NeedMoreData when a fixed header is cut short and Malformed when it cannot be MQTT; a packet whose
body breaks its own rules is returned with what was decoded and the reason in ``problem``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.mqtt.codes import (
    AUTH,
    CONNACK,
    CONNECT,
    DISCONNECT,
    LEVEL_5,
    PACKET_TYPES,
    PINGREQ,
    PINGRESP,
    PROP_ASSIGNED_CLIENT_ID,
    PROP_AUTH_METHOD,
    PROP_CONTENT_TYPE,
    PROP_REASON_STRING,
    PROP_TOPIC_ALIAS,
    PROPERTY_BINARY,
    PROPERTY_BYTE,
    PROPERTY_PAIR,
    PROPERTY_STRING,
    PROPERTY_U16,
    PROPERTY_U32,
    PROPERTY_VARINT,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    REQUIRED_FLAGS,
    SUBACK,
    SUBSCRIBE,
    UNSUBACK,
    UNSUBSCRIBE,
)

# The Remaining Length is at most four 7-bit groups (268,435,455 bytes).
MAX_REMAINING = 268_435_455
# Caps on what one packet may make us keep: string length, topic filters and properties walked.
MAX_STRING = 4096
MAX_TOPICS = 256
MAX_PROPERTIES = 256


@dataclass(frozen=True, slots=True)
class FixedHeader:
    packet_type: int
    flags: int
    header_length: int  # the type byte plus the Remaining Length bytes
    remaining: int

    @property
    def total(self) -> int:
        return self.header_length + self.remaining


@dataclass(slots=True)
class Properties:
    """The MQTT 5 properties zonewarden reports; every other one is walked and skipped."""

    count: int = 0
    topic_alias: int | None = None
    assigned_client_id: str | None = None
    auth_method: str | None = None
    reason_string: str | None = None
    content_type: str | None = None


@dataclass(slots=True)
class Packet:
    """What one control packet says; fields its type does not carry stay None."""

    packet_type: int
    flags: int
    remaining: int
    dup: bool | None = None
    qos: int | None = None
    retain: bool | None = None
    packet_id: int | None = None
    protocol_name: str | None = None
    protocol_level: int | None = None
    clean_session: bool | None = None
    keep_alive: int | None = None
    client_id: str | None = None
    will_topic: str | None = None
    will_qos: int | None = None
    will_retain: bool | None = None
    username: str | None = None
    password_present: bool | None = None
    session_present: bool | None = None
    return_code: int | None = None
    topic: str | None = None
    payload_length: int | None = None
    payload_offset: int | None = None  # where the PUBLISH payload starts in the bytes parsed
    topics: list[str] | None = None
    qos_levels: list[int] | None = None
    return_codes: list[int] | None = None
    properties: Properties = field(default_factory=Properties)
    problem: str | None = None  # why the packet breaks the protocol (details)
    issue: str | None = None  # the anomaly reason for ``problem``: malformed_packet, invalid_flags...


class _Cursor:
    __slots__ = ("data", "end", "pos", "start")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end, self.start = data, pos, end, pos

    @property
    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > self.end:
            raise Malformed(f"{what}: {n} bytes needed, {self.left} left")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str = "byte") -> int:
        return self.take(1, what)[0]

    def u16(self, what: str = "uint16") -> int:
        value: int = struct.unpack("!H", self.take(2, what))[0]
        return value

    def u32(self, what: str = "uint32") -> int:
        value: int = struct.unpack("!I", self.take(4, what))[0]
        return value

    def varint(self, what: str) -> int:
        value, self.pos = _varint(self.data, self.pos, self.end, what)
        return value

    def binary(self, what: str) -> bytes:
        return self.take(self.u16(what), what)

    def string(self, what: str) -> str:
        return self.binary(what)[:MAX_STRING].decode("utf-8", errors="replace")


def _varint(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """A Variable Byte Integer (at most 4 bytes) at ``pos``: its value and the position after it."""
    value = 0
    for shift in range(0, 28, 7):  # progress: one byte per pass, four passes at most
        if pos >= end:
            raise NeedMoreData(f"{what} incomplete")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise Malformed(f"{what} longer than 4 bytes")


def parse_fixed_header(head: bytes) -> FixedHeader:
    if not head:
        raise NeedMoreData("fixed header incomplete")
    packet_type, flags = head[0] >> 4, head[0] & 0x0F  # type 0 is reserved: framed, then reported
    remaining, pos = _varint(head, 1, len(head), "Remaining Length")
    return FixedHeader(packet_type, flags, pos, remaining)


def packet_length(head: bytes) -> int:
    return parse_fixed_header(head).total


def parse_packet(data: bytes, level: int | None = None, remaining: int | None = None) -> Packet:
    """One packet from its first byte. ``level``: the CONNECT's protocol level (None: not seen, 3.1.1
    assumed). ``data`` may stop early when ``remaining`` is the declared length (a PUBLISH too large to
    keep): its payload is then measured from the declared length."""
    header = parse_fixed_header(data)
    declared = header.remaining if remaining is None else remaining
    end = min(len(data), header.header_length + declared)
    if remaining is None and end < header.total:
        raise NeedMoreData("packet incomplete")
    p = Packet(header.packet_type, header.flags, declared)
    if p.packet_type not in PACKET_TYPES:
        return _problem(p, "unknown_packet_type", f"packet type {p.packet_type} unknown")
    if p.packet_type == PUBLISH:
        p.dup, p.qos, p.retain = bool(header.flags & 8), (header.flags >> 1) & 3, bool(header.flags & 1)
        if p.qos == 3:
            _problem(p, "invalid_qos", "PUBLISH with QoS 3")
        elif p.dup and not p.qos:
            _problem(p, "invalid_flags", "DUP set on a QoS 0 PUBLISH")
    elif header.flags != REQUIRED_FLAGS[p.packet_type]:
        _problem(p, "invalid_flags", f"flags 0x{header.flags:x} invalid for {PACKET_TYPES[p.packet_type]}")
    c = _Cursor(data, header.header_length, end)
    v5 = (level if p.packet_type != CONNECT else None) == LEVEL_5
    try:
        _BODY[p.packet_type](c, p, v5)
    except (Malformed, NeedMoreData) as exc:
        _problem(p, "malformed_packet", str(exc))
    else:
        if c.left and p.packet_type != PUBLISH:
            _problem(p, "malformed_packet", f"{c.left} bytes after the packet's fields")
    return p


def _problem(p: Packet, issue: str, detail: str) -> Packet:
    """Record the first problem a packet has (later ones are usually its consequences)."""
    if p.problem is None:
        p.problem, p.issue = detail, issue
    return p


def _properties(c: _Cursor, p: Packet) -> None:
    length = c.varint("property length")
    if length > c.left:
        raise Malformed(f"property length {length} exceeds the {c.left} bytes left")
    props = _Cursor(c.data, c.pos, c.pos + length)
    c.pos += length
    out = p.properties
    while props.left:  # progress: every pass consumes an id and its value, or raises
        ident = props.varint("property id")
        out.count += 1
        if out.count > MAX_PROPERTIES:
            raise Malformed(f"more than {MAX_PROPERTIES} properties")
        if ident in PROPERTY_BYTE:
            props.u8()
        elif ident in PROPERTY_U16:
            value = props.u16()
            if ident == PROP_TOPIC_ALIAS:
                out.topic_alias = value
        elif ident in PROPERTY_U32:
            props.u32()
        elif ident in PROPERTY_VARINT:
            props.varint("subscription identifier")
        elif ident in PROPERTY_STRING:
            text = props.string(f"property 0x{ident:02x}")
            if ident == PROP_ASSIGNED_CLIENT_ID:
                out.assigned_client_id = text
            elif ident == PROP_AUTH_METHOD:
                out.auth_method = text
            elif ident == PROP_REASON_STRING:
                out.reason_string = text
            elif ident == PROP_CONTENT_TYPE:
                out.content_type = text
        elif ident in PROPERTY_BINARY:
            props.binary(f"property 0x{ident:02x}")
        elif ident in PROPERTY_PAIR:
            props.string("user property name")
            props.string("user property value")
        else:
            raise Malformed(f"property id 0x{ident:02x} unknown")


def _connect(c: _Cursor, p: Packet, _v5: bool) -> None:
    p.protocol_name = c.string("protocol name")
    p.protocol_level = c.u8("protocol level")
    flags = c.u8("connect flags")
    p.keep_alive = c.u16("keep alive")
    p.clean_session = bool(flags & 0x02)
    p.password_present = bool(flags & 0x40)
    if flags & 0x01:
        _problem(p, "invalid_flags", "reserved connect flag set")
    v5 = p.protocol_level == LEVEL_5
    if v5:
        _properties(c, p)
    p.client_id = c.string("client id")
    if flags & 0x04:
        p.will_qos, p.will_retain = (flags >> 3) & 3, bool(flags & 0x20)
        if v5:
            _properties(c, Packet(CONNECT, 0, 0))  # will properties: walked, not reported
        p.will_topic = c.string("will topic")
        c.binary("will payload")
    if flags & 0x80:
        p.username = c.string("user name")
    if flags & 0x40:
        c.binary("password")  # skipped: the password is never kept


def _connack(c: _Cursor, p: Packet, v5: bool) -> None:
    p.session_present = bool(c.u8("acknowledge flags") & 1)
    p.return_code = c.u8("return code")
    if v5:
        _properties(c, p)


def _publish(c: _Cursor, p: Packet, v5: bool) -> None:
    p.topic = c.string("topic")
    if "+" in p.topic or "#" in p.topic:
        _problem(p, "invalid_topic", f"wildcard in the topic name {p.topic!r}")
    if p.qos:
        p.packet_id = c.u16("packet id")
    if v5:
        _properties(c, p)
    # the payload is what the declared length leaves after the variable header (it may not all be here)
    p.payload_length = p.remaining - (c.pos - c.start)
    p.payload_offset = c.pos
    c.pos = c.end


def _ack(c: _Cursor, p: Packet, v5: bool) -> None:
    """PUBACK, PUBREC, PUBREL, PUBCOMP: a packet id, then (MQTT 5) an optional reason code and properties."""
    p.packet_id = c.u16("packet id")
    if v5 and c.left:
        p.return_code = c.u8("reason code")
        if c.left:
            _properties(c, p)


def _topic_list(c: _Cursor, p: Packet, with_options: bool) -> None:
    p.topics, p.qos_levels = [], [] if with_options else None
    while c.left:  # progress: each pass consumes a topic (and its options byte)
        topic = c.string("topic filter")
        options = c.u8("subscription options") if with_options else 0
        if len(p.topics) < MAX_TOPICS:
            p.topics.append(topic)
            if p.qos_levels is not None:
                p.qos_levels.append(options & 3)
    if not p.topics:
        _problem(p, "malformed_packet", f"{PACKET_TYPES[p.packet_type]} without topic filters")


def _subscribe(c: _Cursor, p: Packet, v5: bool) -> None:
    p.packet_id = c.u16("packet id")
    if v5:
        _properties(c, p)
    _topic_list(c, p, with_options=True)


def _unsubscribe(c: _Cursor, p: Packet, v5: bool) -> None:
    p.packet_id = c.u16("packet id")
    if v5:
        _properties(c, p)
    _topic_list(c, p, with_options=False)


def _codes_ack(c: _Cursor, p: Packet, v5: bool) -> None:
    """SUBACK (and MQTT 5 UNSUBACK): a packet id, properties, one return code per topic filter."""
    p.packet_id = c.u16("packet id")
    if v5:
        _properties(c, p)
    if p.packet_type == SUBACK or v5:
        p.return_codes = list(c.take(c.left, "return codes")[:MAX_TOPICS])


def _reason_only(c: _Cursor, p: Packet, v5: bool) -> None:
    """DISCONNECT and AUTH: nothing before MQTT 5, then an optional reason code and properties."""
    if v5 or p.packet_type == AUTH:
        if c.left:
            p.return_code = c.u8("reason code")
        if c.left:
            _properties(c, p)


def _empty(_c: _Cursor, _p: Packet, _v5: bool) -> None:
    """PINGREQ, PINGRESP: no variable header."""


_BODY: dict[int, Callable[[_Cursor, Packet, bool], None]] = {
    CONNECT: _connect, CONNACK: _connack, PUBLISH: _publish, PUBACK: _ack, PUBREC: _ack, PUBREL: _ack,
    PUBCOMP: _ack, SUBSCRIBE: _subscribe, SUBACK: _codes_ack, UNSUBSCRIBE: _unsubscribe, UNSUBACK: _codes_ack,
    PINGREQ: _empty, PINGRESP: _empty, DISCONNECT: _reason_only, AUTH: _reason_only,
}


def looks_like_mqtt_connect(payload: bytes) -> bool:
    """Content probe: a CONNECT with the MQTT (3.1.1/5) or MQIsdp (3.1) protocol name (any port)."""
    try:
        header = parse_fixed_header(payload[:5])
    except (NeedMoreData, Malformed):
        return False
    name = payload[header.header_length : header.header_length + 8]
    return header.packet_type == CONNECT and header.flags == 0 and name[:6] in (b"\x00\x04MQTT", b"\x00\x06MQIs")

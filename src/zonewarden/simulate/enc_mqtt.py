"""MQTT 3.1.1 control packets (OASIS standard) and Sparkplug B payloads (Eclipse Sparkplug 3.0, protobuf).

The protobuf encoder is the minimum Sparkplug needs: varints, length-delimited fields and fixed32/64.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

PORT = 1883
NAMESPACE = "spBv1.0"
# Sparkplug B data types.
DT_INT32, DT_UINT64, DT_FLOAT, DT_BOOLEAN, DT_STRING = 3, 8, 9, 11, 12
MetricValue = int | float | bool | str
Metric = tuple[str, int, MetricValue]  # name, Sparkplug data type, value


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    """Fixed header: packet type/flags, then the remaining length as an MQTT variable byte integer."""
    return bytes([first]) + _varint(len(body)) + body


def connect(client_id: str, keepalive: int, will_topic: str | None = None, will_message: bytes = b"",
            username: str | None = None, password: str | None = None) -> bytes:
    flags = 0x02  # clean session
    payload = _string(client_id)
    if will_topic is not None:
        flags |= 0x04 | 0x08  # will, QoS 1 (Sparkplug NDEATH)
        payload += _string(will_topic) + struct.pack("!H", len(will_message)) + will_message
    if username is not None:
        flags |= 0x80
        payload += _string(username)
    if password is not None:
        flags |= 0x40
        payload += _string(password)
    return _packet(0x10, _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload)


def connack(return_code: int = 0) -> bytes:
    return _packet(0x20, bytes([0, return_code]))


def publish(topic: str, payload: bytes, *, qos: int = 0, packet_id: int = 0, retain: bool = False) -> bytes:
    head = _string(topic) + (struct.pack("!H", packet_id) if qos else b"")
    return _packet(0x30 | qos << 1 | int(retain), head + payload)


def puback(packet_id: int) -> bytes:
    return _packet(0x40, struct.pack("!H", packet_id))


def subscribe(packet_id: int, topics: Sequence[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_string(t) + bytes([q]) for t, q in topics)
    return _packet(0x82, body)


def suback(packet_id: int, granted: Sequence[int]) -> bytes:
    return _packet(0x90, struct.pack("!H", packet_id) + bytes(granted))


def pingreq() -> bytes:
    return b"\xc0\x00"


def pingresp() -> bytes:
    return b"\xd0\x00"


def disconnect() -> bytes:
    return b"\xe0\x00"


# --- Sparkplug B payload (org.eclipse.tahu.protobuf.Payload) ---


def _field(number: int, wire_type: int, content: bytes) -> bytes:
    return _varint(number << 3 | wire_type) + content


def _len_field(number: int, content: bytes) -> bytes:
    return _field(number, 2, _varint(len(content)) + content)


def _metric(name: str, datatype: int, value: MetricValue, timestamp_ms: int) -> bytes:
    out = _len_field(1, name.encode()) + _field(3, 0, _varint(timestamp_ms)) + _field(4, 0, _varint(datatype))
    if datatype == DT_BOOLEAN:
        out += _field(14, 0, _varint(int(bool(value))))
    elif datatype == DT_FLOAT:
        out += _field(12, 5, struct.pack("<f", float(value)))
    elif datatype == DT_STRING:
        out += _len_field(15, str(value).encode())
    elif datatype == DT_UINT64:
        out += _field(11, 0, _varint(int(value)))
    else:
        out += _field(10, 0, _varint(int(value) & 0xFFFFFFFF))  # int_value is a uint32 on the wire
    return out


def sparkplug_payload(timestamp_ms: int, seq: int, metrics: Sequence[Metric]) -> bytes:
    body = _field(1, 0, _varint(timestamp_ms))
    body += b"".join(_len_field(2, _metric(n, dt, v, timestamp_ms)) for n, dt, v in metrics)
    return body + _field(3, 0, _varint(seq & 0xFF))


def topic(group: str, message_type: str, edge_node: str, device: str | None = None) -> str:
    return "/".join([NAMESPACE, group, message_type, edge_node] + ([device] if device else []))

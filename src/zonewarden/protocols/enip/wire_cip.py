"""CIP messages (CIP Vol. 1, chapter 2 and Appendix C): request and reply headers, EPATHs, and the
Multiple Service Packet. Pure: bytes in, typed messages out; raises NeedMoreData / Malformed only.

A request is ``service, path size (words), path, data``; a reply is ``service | 0x80, reserved,
general status, additional status size (words), additional status, data``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from zonewarden.errors import Malformed

REPLY_BIT = 0x80
# Multiple Service Packets carry a handful of services; a Logix client batches up to a few dozen.
MAX_MSP_SERVICES = 256
# A path of more segments than this is not addressing anything real.
MAX_PATH_SEGMENTS = 64


@dataclass(slots=True)
class ElectronicKey:
    vendor_id: int
    device_type: int
    product_code: int
    major_revision: int
    minor_revision: int


@dataclass(slots=True)
class CipPath:
    """What an EPATH addresses: the first class, instance, attribute and member, connection points,
    the Logix tag name (symbolic segments), the route (port segments) and an electronic key."""

    cip_class: int | None = None
    instance: int | None = None
    attribute: int | None = None
    member: int | None = None
    connection_points: list[int] = field(default_factory=list)
    symbol: str | None = None
    ports: list[tuple[int, bytes]] = field(default_factory=list)
    route: bytes = b""  # the port segments as sent (with their pad bytes), concatenated: where the path leads
    key: ElectronicKey | None = None
    problem: str | None = None  # a segment we could not decode; decoding stopped there


@dataclass(slots=True)
class CipRequest:
    service: int
    path: CipPath
    path_bytes: bytes
    data: bytes


@dataclass(slots=True)
class CipReply:
    service: int  # without the reply bit
    status: int
    additional: tuple[int, ...]
    data: bytes


CipMessage = CipRequest | CipReply

_LOGICAL_FORMATS = {0: (1, 0), 1: (2, 1), 2: (4, 1)}  # format -> (value bytes, pad bytes before it)


def _logical(path: CipPath, data: bytes, pos: int, seg: int) -> int:
    kind, fmt = (seg >> 2) & 7, seg & 3
    if kind == 5:  # special: electronic key
        if pos + 10 > len(data) or data[pos + 1] != 4:
            raise Malformed("electronic key segment truncated or of unknown format")
        vendor, device, product, major, minor = struct.unpack_from("<HHHBB", data, pos + 2)
        path.key = ElectronicKey(vendor, device, product, major & 0x7F, minor)
        return pos + 10
    if fmt not in _LOGICAL_FORMATS:
        raise Malformed(f"logical segment 0x{seg:02x} has a reserved format")
    size, pad = _LOGICAL_FORMATS[fmt]
    start = pos + 1 + pad
    if start + size > len(data):
        raise Malformed(f"logical segment 0x{seg:02x} truncated")
    value = int.from_bytes(data[start : start + size], "little")
    if kind == 0 and path.cip_class is None:
        path.cip_class = value
    elif kind == 1 and path.instance is None:
        path.instance = value
    elif kind == 2 and path.member is None:
        path.member = value
    elif kind == 3:
        path.connection_points.append(value)
    elif kind == 4 and path.attribute is None:
        path.attribute = value
    return start + size


def _port(path: CipPath, data: bytes, pos: int, seg: int) -> int:
    port, end = seg & 0x0F, pos + 1
    extended_link = seg & 0x10
    link_size = 1
    if extended_link:
        if end >= len(data):
            raise Malformed("port segment link address size missing")
        link_size, end = data[end], end + 1
    if port == 0x0F:
        if end + 2 > len(data):
            raise Malformed("port segment extended port missing")
        (port,) = struct.unpack_from("<H", data, end)
        end += 2
    link = data[end : end + link_size]
    if len(link) < link_size:
        raise Malformed("port segment link address truncated")
    end += link_size
    end += (end - pos) & 1  # padded to an even length
    path.ports.append((port, link))
    path.route += data[pos:end]
    return end


def _symbol(path: CipPath, name: str) -> None:
    path.symbol = name if path.symbol is None else f"{path.symbol}.{name}"


def parse_path(data: bytes) -> CipPath:
    """Decode an EPATH; an undecodable segment stops decoding and is recorded in ``problem``."""
    path = CipPath()
    pos = 0
    try:
        for _ in range(MAX_PATH_SEGMENTS):  # progress: every branch advances pos or leaves the loop
            if pos >= len(data):
                return path
            seg = data[pos]
            kind = seg >> 5
            if kind == 0:
                pos = _port(path, data, pos, seg)
            elif kind == 1:
                pos = _logical(path, data, pos, seg)
            elif kind == 2:  # network segment: one data byte, or a word count for the extended forms
                if pos + 2 > len(data):
                    raise Malformed(f"network segment 0x{seg:02x} truncated")
                pos += 2 if seg & 0x10 == 0 else 2 + 2 * data[pos + 1]
            elif kind == 3:  # symbolic segment: size in the low five bits
                size = seg & 0x1F
                if size == 0 or pos + 1 + size > len(data):
                    raise Malformed("symbolic segment truncated or extended")
                _symbol(path, data[pos + 1 : pos + 1 + size].decode("latin-1"))
                pos += 1 + size + (size + 1) % 2
            elif seg == 0x91:  # ANSI extended symbol
                if pos + 2 > len(data) or pos + 2 + data[pos + 1] > len(data):
                    raise Malformed("ANSI symbol segment truncated")
                size = data[pos + 1]
                _symbol(path, data[pos + 2 : pos + 2 + size].decode("latin-1"))
                pos += 2 + size + size % 2
            elif seg == 0x80:  # simple data segment: word count then data
                if pos + 2 > len(data):
                    raise Malformed("data segment truncated")
                pos += 2 + 2 * data[pos + 1]
            else:
                raise Malformed(f"unsupported path segment 0x{seg:02x}")
        raise Malformed(f"more than {MAX_PATH_SEGMENTS} path segments")
    except Malformed as exc:
        path.problem = str(exc)
    return path


def parse_request(data: bytes) -> CipRequest:
    if len(data) < 2:
        raise Malformed(f"CIP request: {len(data)} bytes, need at least 2")
    service, words = data[0], data[1]
    end = 2 + 2 * words
    if end > len(data):
        raise Malformed(f"CIP request path of {words} words exceeds the {len(data) - 2} bytes present")
    path_bytes = data[2:end]
    return CipRequest(service & 0x7F, parse_path(path_bytes), path_bytes, data[end:])


def parse_reply(data: bytes) -> CipReply:
    if len(data) < 4:
        raise Malformed(f"CIP reply: {len(data)} bytes, need at least 4")
    service, _reserved, status, words = data[:4]
    end = 4 + 2 * words
    if end > len(data):
        raise Malformed(f"CIP reply additional status of {words} words exceeds the message")
    additional = struct.unpack_from(f"<{words}H", data, 4)
    return CipReply(service & 0x7F, status, additional, data[end:])


def parse_cip(data: bytes) -> CipMessage:
    """A request or a reply, told apart by the reply bit of the service code."""
    if not data:
        raise Malformed("empty CIP message")
    return parse_reply(data) if data[0] & REPLY_BIT else parse_request(data)


@dataclass(slots=True)
class MultipleServices:
    """The embedded messages of a Multiple Service Packet (None where one could not be decoded)."""

    messages: list[CipMessage | None]
    declared: int
    problem: str | None = None


def parse_multiple_service(data: bytes) -> MultipleServices:
    """Multiple Service Packet data (request or reply): count, offsets from the count, messages."""
    if len(data) < 2:
        raise Malformed("multiple service packet without a service count")
    (count,) = struct.unpack_from("<H", data)
    listed = min(count, MAX_MSP_SERVICES)
    if 2 + 2 * listed > len(data):
        raise Malformed(f"multiple service packet: {count} offsets do not fit in {len(data)} bytes")
    offsets = struct.unpack_from(f"<{listed}H", data, 2)
    result = MultipleServices([], count)
    for k, start in enumerate(offsets):
        end = offsets[k + 1] if k + 1 < listed else len(data)
        if not start < end <= len(data):
            end = len(data)  # the next offset is bad: this service runs to the end of the packet
        if not 2 + 2 * listed <= start < end:
            result.messages.append(None)
            result.problem = result.problem or f"service {k + 1}: offset {start} outside the packet"
            continue
        try:
            result.messages.append(parse_cip(data[start:end]))
        except Malformed as exc:
            result.messages.append(None)
            result.problem = result.problem or f"service {k + 1}: {exc}"
    return result

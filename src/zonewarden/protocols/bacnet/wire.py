"""BACnet/IP wire format: BVLC (Annex J), NPDU (clause 6) and the APDU header (clause 20.1). Pure.

Raises Malformed when a datagram cannot be BACnet/IP (a datagram is complete, so running out of bytes
is Malformed too). Service parameters are parsed by ``wire_services``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from zonewarden.errors import DecodeError, Malformed
from zonewarden.protocols.bacnet.codes import (
    ABORT,
    BVLC_FUNCTIONS,
    BVLC_TYPE_IP,
    BVLC_TYPE_IPV6,
    COMPLEX_ACK,
    CONFIRMED_REQUEST,
    ERROR,
    MAX_APDU_OCTETS,
    MAX_SEGMENTS,
    REJECT,
    SEGMENT_ACK,
    SIMPLE_ACK,
    UNCONFIRMED_REQUEST,
)

BVLC_HEADER = 4
# BVLC functions followed by an NPDU (after the 6-octet original source for Forwarded-NPDU).
NPDU_FUNCTIONS = frozenset({0x04, 0x09, 0x0A, 0x0B})
FORWARDED_NPDU = 0x04
# A datagram may be reassembled from IP fragments: bound the table entries one message shows.
MAX_ENTRIES = 256
MAX_NETWORKS = 256


@dataclass(frozen=True, slots=True)
class Bvlc:
    type: int
    function: int
    length: int
    result: int | None = None
    forwarded_ip: str | None = None
    forwarded_port: int | None = None
    ttl: int | None = None
    entries: tuple[str, ...] | None = None
    npdu: bytes | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Npdu:
    version: int
    control: int
    dnet: int | None = None
    dadr: str | None = None
    snet: int | None = None
    sadr: str | None = None
    hop_count: int | None = None
    message_type: int | None = None
    networks: tuple[int, ...] | None = None
    reject_reason: int | None = None
    apdu: bytes | None = None
    problem: str | None = None

    @property
    def expecting_reply(self) -> bool:
        return bool(self.control & 0x04)


@dataclass(frozen=True, slots=True)
class Apdu:
    apdu_type: int
    invoke_id: int | None = None
    service_choice: int | None = None
    segmented: bool | None = None
    more_follows: bool | None = None
    segmented_response_accepted: bool | None = None
    max_segments: int | None = None
    max_apdu: int | None = None
    sequence_number: int | None = None
    window_size: int | None = None
    negative_ack: bool | None = None
    server: bool | None = None
    reason: int | None = None
    body: bytes = b""
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    bvlc: Bvlc
    npdu: Npdu | None
    apdu: Apdu | None


def _ipv4(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def parse_bvlc(payload: bytes) -> Bvlc:
    """The BVLC of one UDP datagram."""
    if len(payload) < BVLC_HEADER:
        raise Malformed(f"{len(payload)} octets, a BVLC header needs {BVLC_HEADER}")
    kind, function, length = struct.unpack_from("!BBH", payload)
    if kind not in (BVLC_TYPE_IP, BVLC_TYPE_IPV6):
        raise Malformed(f"BVLC type 0x{kind:02x} is not BACnet/IP")
    if length < BVLC_HEADER:
        raise Malformed(f"BVLC length {length} shorter than its header")
    # UDP already delimits the message: like tshark and Zeek we parse the whole datagram and report a
    # BVLC length that disagrees (some stacks write stale lengths; cutting at it would lose parameters).
    problem = f"BVLC length {length}, datagram has {len(payload)} octets" if length != len(payload) else None
    body = payload[BVLC_HEADER:]
    if kind == BVLC_TYPE_IPV6:  # Annex U: recognised, its virtual addressing is not decoded
        return Bvlc(kind, function, length, problem=problem)
    if function not in BVLC_FUNCTIONS:
        raise Malformed(f"BVLC function 0x{function:02x} unknown")
    if function == 0x00:
        if len(body) != 2:
            raise Malformed(f"BVLC-Result of {len(body)} octets, need 2")
        return Bvlc(kind, function, length, result=struct.unpack("!H", body)[0], problem=problem)
    if function == FORWARDED_NPDU:
        if len(body) < 6:
            raise Malformed("Forwarded-NPDU without its original source address")
        return Bvlc(kind, function, length, forwarded_ip=_ipv4(body[:4]),
                    forwarded_port=struct.unpack_from("!H", body, 4)[0], npdu=body[6:], problem=problem)
    if function in NPDU_FUNCTIONS:
        return Bvlc(kind, function, length, npdu=body, problem=problem)
    if function == 0x05:
        if len(body) != 2:
            raise Malformed(f"Register-Foreign-Device of {len(body)} octets, need 2")
        return Bvlc(kind, function, length, ttl=struct.unpack("!H", body)[0], problem=problem)
    if function in (0x01, 0x03, 0x07):  # BDT entries: ip, port, mask; FDT entries: ip, port, ttl, remaining
        entries, table_problem = _table(body, fdt=function == 0x07)
        return Bvlc(kind, function, length, entries=entries, problem=problem or table_problem)
    if function == 0x08:
        if len(body) != 6:
            raise Malformed(f"Delete-Foreign-Device-Table-Entry of {len(body)} octets, need 6")
        return Bvlc(kind, function, length, entries=(f"{_ipv4(body[:4])}:{struct.unpack_from('!H', body, 4)[0]}",),
                    problem=problem)
    if body and function in (0x02, 0x06):
        problem = problem or f"{len(body)} unexpected octets"
    return Bvlc(kind, function, length, problem=problem)  # Read-BDT, Read-FDT, Secure-BVLL


def _table(body: bytes, *, fdt: bool) -> tuple[tuple[str, ...], str | None]:
    problem = f"{len(body)} table octets is not a multiple of 10" if len(body) % 10 else None
    count = len(body) // 10
    if count > MAX_ENTRIES:
        problem, count = f"{count} table entries, showing {MAX_ENTRIES}", MAX_ENTRIES
    out: list[str] = []
    for k in range(count):
        ip, port, a, b = struct.unpack_from("!4sHHH", body, k * 10)
        if fdt:
            out.append(f"{_ipv4(ip)}:{port} ttl={a} remaining={b}")
        else:
            out.append(f"{_ipv4(ip)}:{port}/{_ipv4(struct.pack('!HH', a, b))}")
    return tuple(out), problem


def parse_npdu(data: bytes) -> Npdu:
    """The network layer: version, control, routing addresses, and a network message or the APDU."""
    if len(data) < 2:
        raise Malformed(f"NPDU of {len(data)} octets")
    version, control = data[0], data[1]
    if version != 1:
        raise Malformed(f"NPDU version {version}, not 1")
    problem = "reserved control bits set" if control & 0x50 else None
    pos = 2
    dnet = dadr = snet = sadr = hop_count = None
    if control & 0x20:
        if pos + 3 > len(data):
            raise Malformed("DNET/DLEN truncated")
        dnet, dlen = struct.unpack_from("!HB", data, pos)
        pos += 3
        if pos + dlen > len(data):
            raise Malformed(f"DADR of {dlen} octets truncated")
        dadr, pos = data[pos : pos + dlen].hex(), pos + dlen
    if control & 0x08:
        if pos + 3 > len(data):
            raise Malformed("SNET/SLEN truncated")
        snet, slen = struct.unpack_from("!HB", data, pos)
        pos += 3
        if slen == 0:
            problem = "SLEN 0 (a source address is never a broadcast)"
        if pos + slen > len(data):
            raise Malformed(f"SADR of {slen} octets truncated")
        sadr, pos = data[pos : pos + slen].hex(), pos + slen
    if control & 0x20:
        if pos >= len(data):
            raise Malformed("hop count missing")
        hop_count, pos = data[pos], pos + 1
    if not control & 0x80:
        if pos >= len(data):
            raise Malformed("NPDU without APDU")
        return Npdu(version, control, dnet, dadr, snet, sadr, hop_count, apdu=data[pos:], problem=problem)
    if pos >= len(data):
        raise Malformed("network message type missing")
    message_type, pos = data[pos], pos + 1
    if message_type >= 0x80:
        pos += 2  # proprietary messages carry a vendor id, then vendor-defined octets
        if pos > len(data):
            raise Malformed("proprietary network message without vendor id")
    networks, reject_reason, msg_problem = _network_message(message_type, data[pos:])
    return Npdu(version, control, dnet, dadr, snet, sadr, hop_count, message_type, networks, reject_reason,
                problem=problem or msg_problem)


def _network_message(kind: int, body: bytes) -> tuple[tuple[int, ...] | None, int | None, str | None]:
    """(network numbers named, reject reason, problem) of a network-layer message."""
    if kind in (0x00, 0x01, 0x04, 0x05, 0x09, 0x12, 0x13):  # lists of (or one optional) DNET
        if kind == 0x13:
            body = body[:2]  # Network-Number-Is: the number, then a "configured/learned" flag
        if len(body) % 2:
            return None, None, f"odd network list length {len(body)}"
        count = min(len(body) // 2, MAX_NETWORKS)
        return tuple(struct.unpack_from(f"!{count}H", body)), None, None
    if kind in (0x02, 0x08):  # DNET then a performance index / termination time
        if len(body) < 3:
            raise Malformed(f"network message 0x{kind:02x} truncated")
        return (struct.unpack_from("!H", body)[0],), None, None
    if kind == 0x03:
        if len(body) < 3:
            raise Malformed("Reject-Message-To-Network truncated")
        return (struct.unpack_from("!H", body, 1)[0],), body[0], None
    if kind in (0x06, 0x07):  # routing table: count, then (DNET, port id, info length, info)
        return _routing_table(body)
    return None, None, None


def _routing_table(body: bytes) -> tuple[tuple[int, ...], None, str | None]:
    if not body:
        return (), None, None  # an empty Initialize-Routing-Table queries the table
    count, pos, networks = body[0], 1, list[int]()
    for _ in range(count):  # progress: pos grows by at least 4 each pass or we stop
        if pos + 4 > len(body):
            return tuple(networks), None, "routing table truncated"
        dnet, _port, info_len = struct.unpack_from("!HBB", body, pos)
        networks.append(dnet)
        pos += 4 + info_len
    return tuple(networks[:MAX_NETWORKS]), None, None


def parse_apdu(data: bytes) -> Apdu:
    """The APDU header; ``body`` holds the service parameters (one segment of them when segmented)."""
    if not data:
        raise Malformed("empty APDU")
    kind, flags = data[0] >> 4, data[0] & 0x0F

    def need(n: int) -> None:
        if len(data) < n:
            raise Malformed(f"APDU type {kind} header needs {n} octets, has {len(data)}")

    if kind == CONFIRMED_REQUEST:
        seg = bool(flags & 0x08)
        need(6 if seg else 4)
        code = data[1] & 0x0F
        max_apdu = MAX_APDU_OCTETS.get(code)
        head = 6 if seg else 4
        return Apdu(kind, invoke_id=data[2], service_choice=data[head - 1], segmented=seg,
                    more_follows=bool(flags & 0x04), segmented_response_accepted=bool(flags & 0x02),
                    max_segments=MAX_SEGMENTS.get((data[1] >> 4) & 0x07), max_apdu=max_apdu,
                    sequence_number=data[3] if seg else None, window_size=data[4] if seg else None,
                    body=data[head:], problem=None if max_apdu is not None else f"reserved max-APDU code {code}")
    if kind == UNCONFIRMED_REQUEST:
        need(2)
        return Apdu(kind, service_choice=data[1], body=data[2:])
    if kind == SIMPLE_ACK:
        need(3)
        return Apdu(kind, invoke_id=data[1], service_choice=data[2], problem=_trailing(data, 3))
    if kind == COMPLEX_ACK:
        seg = bool(flags & 0x08)
        need(5 if seg else 3)
        head = 5 if seg else 3
        return Apdu(kind, invoke_id=data[1], service_choice=data[head - 1], segmented=seg,
                    more_follows=bool(flags & 0x04), sequence_number=data[2] if seg else None,
                    window_size=data[3] if seg else None, body=data[head:])
    if kind == SEGMENT_ACK:
        need(4)
        return Apdu(kind, invoke_id=data[1], sequence_number=data[2], window_size=data[3],
                    negative_ack=bool(flags & 0x02), server=bool(flags & 0x01), problem=_trailing(data, 4))
    if kind == ERROR:
        need(3)
        return Apdu(kind, invoke_id=data[1], service_choice=data[2], body=data[3:])
    if kind in (REJECT, ABORT):
        need(3)
        return Apdu(kind, invoke_id=data[1], reason=data[2], server=bool(flags & 0x01) if kind == ABORT else None,
                    problem=_trailing(data, 3))
    raise Malformed(f"reserved APDU type {kind}")


def _trailing(data: bytes, size: int) -> str | None:
    return f"{len(data) - size} octets after a {size}-octet APDU" if len(data) > size else None


def parse_message(payload: bytes) -> Message:
    """One BACnet/IP datagram: BVLC, then the NPDU and APDU it carries, if any."""
    bvlc = parse_bvlc(payload)
    if bvlc.npdu is None:
        return Message(bvlc, None, None)
    npdu = parse_npdu(bvlc.npdu)
    return Message(bvlc, npdu, parse_apdu(npdu.apdu) if npdu.apdu is not None else None)


def looks_like_bvlc(payload: bytes) -> bool:
    """Content probe: a BACnet/IP BVLC whose length is the datagram's and whose NPDU, if any, parses."""
    try:
        message = parse_message(payload)
    except DecodeError:
        return False
    return message.bvlc.type == BVLC_TYPE_IP and message.bvlc.length == len(payload)

"""Modbus/TCP wire format: MBAP header and PDUs. Pure: bytes in, typed messages out.

Raises NeedMoreData when the bytes end early and Malformed when they cannot be Modbus.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.modbus.codes import MEI_READ_DEVICE_ID

MBAP_LEN = 7
# The MBAP length field counts the unit id plus the PDU; the specification caps a PDU at 253 bytes
# (length 254), but Schneider's UMAS (function 90) sends 255-byte lengths, so framing accepts up to
# the largest 260-byte ADU and the analyzer reports the excess as an anomaly.
SPEC_MAX_MBAP_LENGTH = 254
MAX_MBAP_LENGTH = 254 + 6


@dataclass(frozen=True, slots=True)
class Mbap:
    transaction_id: int
    protocol_id: int
    length: int
    unit_id: int


@dataclass(slots=True)
class Pdu:
    """What one PDU says; fields a function does not carry stay None."""

    function_code: int
    exception_code: int | None = None
    address: int | None = None
    quantity: int | None = None
    byte_count: int | None = None
    values: list[int] | None = None
    write_address: int | None = None
    write_quantity: int | None = None
    sub_function: int | None = None
    mei_type: int | None = None
    device_id_code: int | None = None
    object_id: int | None = None
    conformity_level: int | None = None
    more_follows: bool | None = None
    device_objects: dict[int, str] = field(default_factory=dict)
    problem: str | None = None  # length inconsistency inside an otherwise framed PDU


def parse_mbap(head: bytes) -> Mbap:
    if len(head) < MBAP_LEN:
        raise NeedMoreData("MBAP header incomplete")
    tid, pid, length, unit = struct.unpack_from("!HHHB", head)
    if pid != 0:
        raise Malformed(f"protocol id {pid} is not 0")
    if length < 2 or length > MAX_MBAP_LENGTH:
        raise Malformed(f"MBAP length {length} outside 2..{MAX_MBAP_LENGTH}")
    return Mbap(tid, pid, length, unit)


_PID_LEN = struct.Struct("!HH")


def adu_length(head: bytes) -> int:
    """Total ADU length (MBAP + PDU) from the head of a stream (the framing hot path: no objects)."""
    if len(head) < MBAP_LEN:
        raise NeedMoreData("MBAP header incomplete")
    pid, length = _PID_LEN.unpack_from(head, 2)
    if pid != 0:
        raise Malformed(f"protocol id {pid} is not 0")
    if length < 2 or length > MAX_MBAP_LENGTH:
        raise Malformed(f"MBAP length {length} outside 2..{MAX_MBAP_LENGTH}")
    return 6 + int(length)


def _u16s(data: bytes) -> list[int]:
    return list(struct.unpack(f"!{len(data) // 2}H", data[: len(data) // 2 * 2]))


_BYTE_BITS = tuple(tuple((b >> k) & 1 for k in range(8)) for b in range(256))  # LSB first


def _bits(data: bytes, count: int | None) -> list[int]:
    bits = [bit for b in data for bit in _BYTE_BITS[b]]
    return bits[:count] if count is not None else bits


def _check(pdu: Pdu, data: bytes, need: int, what: str) -> bool:
    if len(data) < need:
        pdu.problem = f"{what}: {len(data)} bytes, need {need}"
        return False
    if len(data) > need:
        pdu.problem = f"{what}: {len(data) - need} trailing bytes"
    return True


def parse_request(pdu_bytes: bytes) -> Pdu:
    """A request PDU (client to server)."""
    if not pdu_bytes:
        raise Malformed("empty PDU")
    fc, data = pdu_bytes[0], pdu_bytes[1:]
    p = Pdu(fc)
    if fc in (1, 2, 3, 4):
        if _check(p, data, 4, "read request"):
            p.address, p.quantity = struct.unpack_from("!HH", data)
    elif fc in (5, 6):
        if _check(p, data, 4, "single write"):
            p.address, value = struct.unpack_from("!HH", data)
            p.quantity = 1
            p.values = [(1 if value == 0xFF00 else 0) if fc == 5 else value]
    elif fc in (15, 16):
        if len(data) < 5:
            p.problem = f"multiple write: {len(data)} bytes, need at least 5"
        else:
            p.address, p.quantity, p.byte_count = struct.unpack_from("!HHB", data)
            payload = data[5:]
            if len(payload) != p.byte_count:
                p.problem = f"byte count {p.byte_count} but {len(payload)} data bytes"
            p.values = _bits(payload, p.quantity) if fc == 15 else _u16s(payload)
    elif fc == 22:
        if _check(p, data, 6, "mask write"):
            p.address, and_mask, or_mask = struct.unpack_from("!HHH", data)
            p.quantity = 1
            p.values = [and_mask, or_mask]
    elif fc == 23:
        if len(data) < 9:
            p.problem = f"read/write request: {len(data)} bytes, need at least 9"
        else:
            p.address, p.quantity, p.write_address, p.write_quantity, p.byte_count = struct.unpack_from(
                "!HHHHB", data)
            p.values = _u16s(data[9:])
            if len(data) - 9 != p.byte_count:
                p.problem = f"byte count {p.byte_count} but {len(data) - 9} data bytes"
    elif fc == 24:
        if _check(p, data, 2, "FIFO request"):
            (p.address,) = struct.unpack_from("!H", data)
    elif fc == 8:
        if len(data) >= 2:
            (p.sub_function,) = struct.unpack_from("!H", data)
            p.values = _u16s(data[2:])
        else:
            p.problem = "diagnostics request without sub-function"
    elif fc == 43:
        if data:
            p.mei_type = data[0]
            if p.mei_type == MEI_READ_DEVICE_ID and _check(p, data[1:], 2, "device identification request"):
                p.device_id_code, p.object_id = data[1], data[2]
        else:
            p.problem = "MEI request without MEI type"
    elif fc in (20, 21) and data:
        p.byte_count = data[0]
    return p


def parse_response(pdu_bytes: bytes) -> Pdu:
    """A response PDU (server to client); exceptions have the function code's high bit set."""
    if not pdu_bytes:
        raise Malformed("empty PDU")
    fc, data = pdu_bytes[0], pdu_bytes[1:]
    p = Pdu(fc)
    if fc & 0x80:
        if _check(p, data, 1, "exception response"):
            p.exception_code = data[0]
        return p
    if fc in (1, 2, 3, 4, 23, 17, 12, 20, 21):
        if not data:
            p.problem = "response without byte count"
            return p
        p.byte_count = data[0]
        payload = data[1:]
        if len(payload) != p.byte_count:
            p.problem = f"byte count {p.byte_count} but {len(payload)} data bytes"
        if fc in (3, 4, 23):
            p.values = _u16s(payload)
        elif fc in (1, 2):
            p.values = _bits(payload, None)
    elif fc in (5, 6):
        if _check(p, data, 4, "single write echo"):
            p.address, value = struct.unpack_from("!HH", data)
            p.quantity = 1
            p.values = [(1 if value == 0xFF00 else 0) if fc == 5 else value]
    elif fc in (15, 16):
        if _check(p, data, 4, "multiple write response"):
            p.address, p.quantity = struct.unpack_from("!HH", data)
    elif fc == 22:
        if _check(p, data, 6, "mask write echo"):
            p.address, and_mask, or_mask = struct.unpack_from("!HHH", data)
            p.quantity = 1
            p.values = [and_mask, or_mask]
    elif fc == 24:
        if len(data) >= 4:
            p.byte_count, fifo_count = struct.unpack_from("!HH", data)
            p.quantity = fifo_count
            p.values = _u16s(data[4 : 4 + 2 * fifo_count])
    elif fc == 8:
        if len(data) >= 2:
            (p.sub_function,) = struct.unpack_from("!H", data)
            p.values = _u16s(data[2:])
    elif fc == 43 and data:
        p.mei_type = data[0]
        if p.mei_type == MEI_READ_DEVICE_ID:
            _parse_device_id(p, data[1:])
    return p


def _parse_device_id(p: Pdu, data: bytes) -> None:
    if len(data) < 5:
        p.problem = f"device identification response: {len(data)} bytes, need at least 5"
        return
    p.device_id_code, p.conformity_level, more, p.object_id, count = data[:5]
    p.more_follows = more == 0xFF
    pos = 5
    for _ in range(count):  # progress: pos grows by at least 2 each pass or the loop stops
        if pos + 2 > len(data):
            p.problem = "device identification object list truncated"
            return
        oid, olen = data[pos], data[pos + 1]
        value = data[pos + 2 : pos + 2 + olen]
        if len(value) < olen:
            p.problem = f"device identification object {oid} truncated"
            return
        p.device_objects[oid] = value.decode("latin-1")
        pos += 2 + olen


def parse_adu(adu: bytes, *, is_response: bool) -> tuple[Mbap, Pdu]:
    """One complete ADU (for fuzzing and tests)."""
    mbap = parse_mbap(adu)
    if len(adu) < 6 + mbap.length:
        raise NeedMoreData("ADU incomplete")
    pdu = adu[MBAP_LEN : 6 + mbap.length]
    return mbap, (parse_response(pdu) if is_response else parse_request(pdu))


def looks_like_modbus(payload: bytes) -> bool:
    """Content probe: a plausible MBAP header whose length matches the segment, and a known function."""
    try:
        mbap = parse_mbap(payload)
    except (NeedMoreData, Malformed):
        return False
    return len(payload) == 6 + mbap.length and (payload[7] & 0x7F) in range(1, 128)

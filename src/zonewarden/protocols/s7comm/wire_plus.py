"""S7comm-plus (protocol id 0x72, S7-1200/1500 and TIA Portal) PDU heads. Pure.

Layout (Wireshark s7comm_plus plugin): header ``72 <version> <data length:2>``; in version 3 an
integrity part (digest length 0x20 + 32-byte digest) opens the data part, in version 2 it closes
it; the data part starts with the opcode, then ``reserved:2 function:2 reserved:2 sequence:2`` and,
in requests, the 4-byte session id. A trailer ``72 <version> 00 00`` ends a message; a message too
large for one PDU is sent as several PDUs of which only the last has the trailer. Version 0xFE (system
event) is a single PDU without trailer; version 0xFF is a 4-byte keep-alive.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.s7comm.codes import (
    OPCODE_NOTIFICATION,
    OPCODE_REQUEST,
    OPCODE_RESPONSE,
    OPCODE_RESPONSE2,
    S7PLUS_KEEPALIVE,
    S7PLUS_PROTOCOL_ID,
    S7PLUS_SYSTEM_EVENT,
)
from zonewarden.protocols.s7comm.wire_userdata import version_text

DIGEST_LENGTH = 32
TRAILER_LENGTH = 4
# Siemens order numbers (MLFB) as the CPUs report them, e.g. "6ES7 214-1HE30-0XB0".
_MLFB = re.compile(rb"6[A-Z]{2}\d \d{3}-[0-9A-Z]{5}-[0-9A-Z]{4}")
# A module identification blob: length 42, MLFB (20), serial number (16), type (2), version words (4).
_IDENT_BLOB = 42


@dataclass(frozen=True, slots=True)
class PlusFragment:
    """One S7comm-plus PDU (a COTP TSDU): its header, integrity part and data part."""

    version: int
    data_length: int
    data: bytes  # the data part without the version 3 integrity part
    ends_message: bool  # False: more PDUs of this message follow (no trailer yet)
    v3_digest: bool  # version 3 integrity part present at the start
    keepalive_sequence: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class PlusHead:
    """The head of a (reassembled) S7comm-plus message's data part."""

    opcode: int | None
    function: int | None = None
    sequence_number: int | None = None
    session: int | None = None
    transport_flags: int | None = None
    subscription: int | None = None
    v2_digest: bool = False


def parse_plus_fragment(tsdu: bytes) -> PlusFragment:
    """One S7comm-plus PDU: a complete COTP TSDU starting with 0x72."""
    if len(tsdu) < 4:
        raise NeedMoreData("S7comm-plus header incomplete")
    if tsdu[0] != S7PLUS_PROTOCOL_ID:
        raise Malformed(f"protocol id 0x{tsdu[0]:02x} is not 0x72")
    version = tsdu[1]
    if version == S7PLUS_KEEPALIVE:
        if len(tsdu) != 4:
            raise Malformed(f"keep-alive of {len(tsdu)} bytes, not 4")
        return PlusFragment(version, 0, b"", True, False, keepalive_sequence=tsdu[2])
    if version not in (1, 2, 3, S7PLUS_SYSTEM_EVENT):
        raise Malformed(f"S7comm-plus version 0x{version:02x} unknown")
    (dlen,) = struct.unpack_from("!H", tsdu, 2)
    # The data unit holds exactly the header and data part, plus the trailer when it ends a message
    # (system events never have one); any other size means the length field is wrong.
    rest = len(tsdu) - 4 - dlen
    if rest not in ((0,) if version == S7PLUS_SYSTEM_EVENT else (0, TRAILER_LENGTH)):
        raise Malformed(f"data length {dlen} in a data unit of {len(tsdu)} bytes")
    body = tsdu[4 : 4 + dlen]
    if version == S7PLUS_SYSTEM_EVENT:
        return PlusFragment(version, dlen, body, True, False)
    problem = None
    ends = rest == TRAILER_LENGTH
    if ends and tsdu[-4:] != bytes((S7PLUS_PROTOCOL_ID, version, 0, 0)):
        problem = f"trailer {tsdu[-4:].hex()} is not 72{version:02x}0000"
    v3_digest = False
    if version == 3 and body:
        if body[0] == DIGEST_LENGTH and len(body) > DIGEST_LENGTH:
            v3_digest, body = True, body[1 + DIGEST_LENGTH :]
        else:
            problem = f"version 3 integrity part has digest length {body[0]}, expected 32"
    return PlusFragment(version, dlen, body, ends, v3_digest, problem=problem)


def parse_plus_head(data: bytes) -> PlusHead:
    """The opcode and request/response head at the start of a message's data part."""
    if not data:
        return PlusHead(None)
    opcode = data[0]
    if opcode in (OPCODE_REQUEST, OPCODE_RESPONSE, OPCODE_RESPONSE2) and len(data) >= 9:
        function, seq = struct.unpack_from("!H", data, 3)[0], struct.unpack_from("!H", data, 7)[0]
        # version 2 puts the integrity part at the end: digest length 0x20 then the 32-byte digest
        v2_digest = len(data) >= 1 + 9 + DIGEST_LENGTH and data[-1 - DIGEST_LENGTH] == DIGEST_LENGTH
        if opcode == OPCODE_REQUEST and len(data) >= 14:
            session, flags = struct.unpack_from("!IB", data, 9)
            return PlusHead(opcode, function, seq, session, flags, v2_digest=v2_digest)
        flags = data[9] if len(data) > 9 else None
        return PlusHead(opcode, function, seq, None, flags, v2_digest=v2_digest)
    if opcode == OPCODE_NOTIFICATION and len(data) >= 5:
        return PlusHead(opcode, subscription=struct.unpack_from("!I", data, 1)[0])
    return PlusHead(opcode)


def plus_identity(data: bytes) -> dict[str, str]:
    """Order number (and, in a module identification blob, serial number and firmware) found in a message."""
    match = _MLFB.search(data)
    if match is None:
        return {}
    out = {"order_number": match.group().decode("ascii")}
    start = match.start()
    if start >= 1 and data[start - 1] == _IDENT_BLOB and len(data) >= start + _IDENT_BLOB:
        serial = data[start + 20 : start + 36].split(b"\x00", 1)[0].decode("latin-1").strip()
        if serial.isprintable() and serial:
            out["serial_number"] = serial
        ausbg, ausbe = struct.unpack_from("!HH", data, start + 38)
        if fw := version_text(ausbg, ausbe):
            out["firmware_version"] = fw
    return out

"""IEC 60870-5-104 wire format: APCI framing (I/S/U formats) and the ASDU. Pure: bytes in, typed messages out.

An APDU is ``0x68, length, four control octets[, ASDU]``; the length octet counts the control field and
the ASDU. The ASDU uses the 104 sizes: two-octet cause of transmission (with the originator address),
two-octet common address, three-octet information object addresses.
Raises NeedMoreData when the bytes end early and Malformed when they cannot be IEC 104.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.iec104.codes import ELEMENTS, TYPE_NAMES, U_FUNCTIONS
from zonewarden.protocols.iec104.wire_elements import InfoObject, decode_element

START = 0x68
APCI_LEN = 6
MIN_APDU_LENGTH = 4
# The standard caps the length octet at 253; framing accepts the octet's full range and the analyzer
# reports the excess.
SPEC_MAX_APDU_LENGTH = 253
ASDU_HEADER_LEN = 6
IOA_LEN = 3
SEQ_MODULO = 1 << 15

Format = Literal["I", "S", "U"]


@dataclass(frozen=True, slots=True)
class Apci:
    format: Format
    length: int
    """The APDU length octet (control field plus ASDU)."""
    send_seq: int | None = None
    """N(S), I format."""
    recv_seq: int | None = None
    """N(R), I and S formats."""
    u_code: int | None = None
    """U format function bits: the first control octet shifted right by two."""
    problem: str | None = None
    """Control-field bits the format leaves at zero that are set, or a length the format forbids."""


@dataclass(slots=True)
class Asdu:
    type_id: int
    sq: bool
    num_objects: int
    cause: int
    negative: bool
    test: bool
    originator: int
    common_address: int
    objects: list[InfoObject] = field(default_factory=list)
    # (reason, detail) for inconsistencies inside an otherwise framed ASDU
    problems: list[tuple[str, str]] = field(default_factory=list)


def apdu_length(head: bytes) -> int:
    """Total APDU length (start and length octets included) from the head of a stream."""
    if not head:
        raise NeedMoreData("no APDU start")
    if head[0] != START:
        raise Malformed(f"APDU start octet 0x{head[0]:02x}, expected 0x68")
    if len(head) < 2:
        raise NeedMoreData("APDU length octet missing")
    if head[1] < MIN_APDU_LENGTH:
        raise Malformed(f"APDU length {head[1]} below {MIN_APDU_LENGTH}")
    return 2 + head[1]


def parse_apci(apdu: bytes) -> Apci:
    """The APCI of one complete APDU."""
    length = apdu_length(apdu) - 2
    if len(apdu) < APCI_LEN:
        raise NeedMoreData("APCI incomplete")
    c0, c1, c2, c3 = apdu[2:6]
    recv = (c2 | c3 << 8) >> 1
    if c0 & 0x01 == 0:
        problem = f"I format with APDU length {length}: no ASDU" if length == MIN_APDU_LENGTH else None
        return Apci("I", length, send_seq=(c0 | c1 << 8) >> 1, recv_seq=recv, problem=problem)
    if c0 & 0x03 == 0x01:
        problem = None
        if length != MIN_APDU_LENGTH:
            problem = f"S format with APDU length {length}"
        elif c0 != 0x01 or c1 or c2 & 0x01:
            problem = f"S format control field {apdu[2:6].hex()} sets reserved bits"
        return Apci("S", length, recv_seq=recv, problem=problem)
    code = c0 >> 2
    problem = None
    if length != MIN_APDU_LENGTH:
        problem = f"U format with APDU length {length}"
    elif code not in U_FUNCTIONS or c1 or c2 or c3:
        problem = f"U format control field {apdu[2:6].hex()} is not exactly one function"
    return Apci("U", length, u_code=code, problem=problem)


def parse_asdu(data: bytes) -> Asdu:
    """An ASDU (the APDU after its six APCI octets)."""
    if len(data) < ASDU_HEADER_LEN:
        raise Malformed(f"ASDU of {len(data)} octets is shorter than its {ASDU_HEADER_LEN}-octet header")
    type_id, vsq, cot, originator = data[:4]
    asdu = Asdu(type_id=type_id, sq=bool(vsq & 0x80), num_objects=vsq & 0x7F, cause=cot & 0x3F,
                negative=bool(cot & 0x40), test=bool(cot & 0x80), originator=originator,
                common_address=data[4] | data[5] << 8)
    fields = ELEMENTS.get(type_id)
    if fields is None:
        # No known layout: report the first address (it always follows the header) and nothing else.
        if type_id not in TYPE_NAMES:
            asdu.problems.append(("unknown_type_id", f"type identification {type_id}"))
        if len(data) >= ASDU_HEADER_LEN + IOA_LEN and type_id not in TYPE_NAMES:
            asdu.objects.append(InfoObject(_ioa(data, ASDU_HEADER_LEN)))
        return asdu
    if asdu.num_objects == 0:
        asdu.problems.append(("no_objects", "variable structure qualifier announces 0 objects"))
    _parse_objects(asdu, fields, data)
    return asdu


def _ioa(data: bytes, pos: int) -> int:
    return data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16


def _parse_objects(asdu: Asdu, fields: tuple[str, ...], data: bytes) -> None:
    pos, ioa = ASDU_HEADER_LEN, 0
    for index in range(asdu.num_objects):  # at most 127 (7-bit count); pos only grows
        if index == 0 or not asdu.sq:
            if pos + IOA_LEN > len(data):
                asdu.problems.append(("truncated_asdu", f"object {index + 1} of {asdu.num_objects}: no address"))
                return
            ioa, pos = _ioa(data, pos), pos + IOA_LEN
        else:
            ioa = (ioa + 1) & 0xFFFFFF  # SQ=1: consecutive addresses from the first
        obj = InfoObject(ioa)
        asdu.objects.append(obj)  # the address is known even when the element is cut short
        end = decode_element(obj, fields, data, pos)
        if end is None:
            asdu.problems.append(("truncated_asdu", f"object {index + 1} of {asdu.num_objects} (IOA {ioa}) "
                                                    f"cut short at octet {len(data)}"))
            return
        pos = end
    if pos != len(data):
        asdu.problems.append(("length_mismatch", f"{len(data) - pos} octets after {asdu.num_objects} objects"))


def parse_apdu(apdu: bytes) -> tuple[Apci, Asdu | None]:
    """One complete APDU: its APCI and, for the I format, its ASDU."""
    apci = parse_apci(apdu)
    if len(apdu) < apci.length + 2:
        raise NeedMoreData("APDU incomplete")
    if apci.format != "I":
        return apci, None
    return apci, parse_asdu(apdu[APCI_LEN : apci.length + 2])


def looks_like_iec104(payload: bytes) -> bool:
    """Content probe: the payload is a chain of complete, well-formed APDUs (strict, to spare other protocols)."""
    pos = 0
    while pos < len(payload):  # progress: every pass consumes at least MIN_APDU_LENGTH + 2 octets
        try:
            end = pos + apdu_length(payload[pos : pos + 2])
            if end > len(payload):
                return False
            apci, asdu = parse_apdu(payload[pos:end])
        except (NeedMoreData, Malformed):
            return False
        if apci.problem is not None or (asdu is not None and (asdu.type_id not in TYPE_NAMES or asdu.problems)):
            return False
        pos = end
    return pos > 0

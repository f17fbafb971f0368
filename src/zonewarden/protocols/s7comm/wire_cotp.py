"""ISO-on-TCP framing: TPKT (RFC 1006) and COTP (ISO 8073 / X.224 class 0). Pure: bytes in, typed values out.

Raises NeedMoreData when the bytes end early and Malformed when they cannot be TPKT/COTP.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.s7comm.codes import COTP_CC, COTP_CR, COTP_DC, COTP_DR, COTP_DT, COTP_TYPES

TPKT_HEADER = 4
TPKT_VERSION = 3
# The smallest useful TPKT carries a COTP DT header (length indicator, code, EOT/number): 4 + 3 bytes.
TPKT_MIN_LENGTH = 7

# COTP variable-part parameter codes used on ISO-on-TCP connection set-up.
PARAM_TPDU_SIZE, PARAM_CALLING_TSAP, PARAM_CALLED_TSAP = 0xC0, 0xC1, 0xC2


@dataclass(slots=True)
class Cotp:
    """One COTP TPDU. ``data`` is the user data (DT) after the header; other fields depend on the type."""

    code: int  # TPDU code, high nibble of the second byte (0xF DT, 0xE CR, 0xD CC...)
    eot: bool = True
    tpdu_number: int = 0
    dst_ref: int | None = None
    src_ref: int | None = None
    class_option: int | None = None
    tpdu_size: int | None = None
    calling_tsap: bytes | None = None
    called_tsap: bytes | None = None
    reason: int | None = None
    data: bytes = b""


def tpkt_length(head: bytes) -> int:
    """Total TPKT length (header included) from the first bytes of a stream."""
    if len(head) < TPKT_HEADER:
        raise NeedMoreData("TPKT header incomplete")
    if head[0] != TPKT_VERSION:
        raise Malformed(f"TPKT version {head[0]} is not 3")
    length: int = struct.unpack_from("!H", head, 2)[0]
    if length < TPKT_MIN_LENGTH:
        raise Malformed(f"TPKT length {length} below {TPKT_MIN_LENGTH}")
    return length


def _parameters(cotp: bytes, pos: int, end: int) -> dict[int, bytes]:
    params: dict[int, bytes] = {}
    while pos + 2 <= end:  # progress: each pass consumes at least the 2-byte code/length pair
        code, length = cotp[pos], cotp[pos + 1]
        value = cotp[pos + 2 : pos + 2 + length]
        if pos + 2 + length > end:
            raise Malformed(f"COTP parameter 0x{code:02x} runs past the header")
        params.setdefault(code, value)
        pos += 2 + length
    return params


def parse_cotp(payload: bytes) -> Cotp:
    """One COTP TPDU: the TPKT payload (everything after the 4-byte TPKT header)."""
    if len(payload) < 2:
        raise NeedMoreData("COTP header incomplete")
    li = payload[0]
    if li == 0 or li == 255 or li + 1 > len(payload):
        raise Malformed(f"COTP length indicator {li} does not fit {len(payload)} bytes")
    code = payload[1] >> 4
    if code not in COTP_TYPES:
        raise Malformed(f"COTP TPDU code 0x{payload[1]:02x} unknown")
    header_end = li + 1
    if code == COTP_DT:
        if li < 2:
            raise Malformed(f"COTP DT length indicator {li} below 2")
        return Cotp(code, eot=bool(payload[2] & 0x80), tpdu_number=payload[2] & 0x7F, data=payload[header_end:])
    if code in (COTP_CR, COTP_CC):
        if li < 6:
            raise Malformed(f"COTP {COTP_TYPES[code]} length indicator {li} below 6")
        dst_ref, src_ref, class_option = struct.unpack_from("!HHB", payload, 2)
        params = _parameters(payload, 7, header_end)
        size = params.get(PARAM_TPDU_SIZE)
        return Cotp(code, dst_ref=dst_ref, src_ref=src_ref, class_option=class_option >> 4,
                    tpdu_size=1 << size[0] if size and 7 <= size[0] <= 13 else None,
                    calling_tsap=params.get(PARAM_CALLING_TSAP), called_tsap=params.get(PARAM_CALLED_TSAP),
                    data=payload[header_end:])
    if code in (COTP_DR, COTP_DC):
        if li < 5:
            raise Malformed(f"COTP {COTP_TYPES[code]} length indicator {li} below 5")
        dst_ref, src_ref = struct.unpack_from("!HH", payload, 2)
        return Cotp(code, dst_ref=dst_ref, src_ref=src_ref, reason=payload[6] if code == COTP_DR and li >= 6 else None)
    # ED, EA, AK, RJ, ER: not used by class 0 data transfer; the header is enough.
    (dst_ref,) = struct.unpack_from("!H", payload, 2) if li >= 3 else (None,)
    return Cotp(code, dst_ref=dst_ref, data=payload[header_end:])


def parse_tpkt(tpkt: bytes) -> Cotp:
    """One whole TPKT (header included)."""
    length = tpkt_length(tpkt)
    if len(tpkt) < length:
        raise NeedMoreData("TPKT incomplete")
    return parse_cotp(tpkt[TPKT_HEADER:length])


def tsap_text(tsap: bytes | None) -> str | None:
    """A TSAP as text when it is printable ASCII (S7-1200/1500 use names like ``SIMATIC-ROOT-HMI``)."""
    if not tsap or len(tsap) < 3 or not all(0x20 <= b < 0x7F for b in tsap):
        return None
    return tsap.decode("ascii")


def rack_slot(tsap: bytes | None) -> tuple[int, int] | None:
    """Rack and slot from a two-byte S7 TSAP (second byte: rack in bits 5-7, slot in bits 0-4)."""
    if tsap is None or len(tsap) != 2:
        return None
    return tsap[1] >> 5, tsap[1] & 0x1F

"""Building DNP3 link frames for analyzer tests (the wire tests use literal captured bytes instead)."""

from __future__ import annotations

from zonewarden.protocols.dnp3.wire_link import crc16

MASTER = 1
OUTSTATION = 10
UNCONFIRMED_FROM_MASTER = 0xC4  # DIR, PRM, unconfirmed user data
UNCONFIRMED_FROM_OUTSTATION = 0x44  # PRM, unconfirmed user data


def link_frame(control: int, dst: int, src: int, user_data: bytes) -> bytes:
    head = b"\x05\x64" + bytes([len(user_data) + 5, control]) + dst.to_bytes(2, "little") + src.to_bytes(2, "little")
    out = bytearray(head + crc16(head).to_bytes(2, "little"))
    for i in range(0, len(user_data), 16):
        chunk = user_data[i : i + 16]
        out += chunk + crc16(chunk).to_bytes(2, "little")
    return bytes(out)


def segment(apdu_part: bytes, seq: int, fir: bool = True, fin: bool = True, from_master: bool = True) -> bytes:
    """One transport segment (at most 249 bytes of application data) in a link frame."""
    th = (0x80 if fin else 0) | (0x40 if fir else 0) | (seq & 0x3F)
    if from_master:
        return link_frame(UNCONFIRMED_FROM_MASTER, OUTSTATION, MASTER, bytes([th]) + apdu_part)
    return link_frame(UNCONFIRMED_FROM_OUTSTATION, MASTER, OUTSTATION, bytes([th]) + apdu_part)


def segments(apdu: bytes, first_seq: int, from_master: bool = True) -> list[bytes]:
    """An application fragment cut into transport segments of 249 bytes."""
    parts = [apdu[i : i + 249] for i in range(0, len(apdu), 249)] or [b""]
    return [segment(part, (first_seq + n) % 64, fir=n == 0, fin=n == len(parts) - 1, from_master=from_master)
            for n, part in enumerate(parts)]

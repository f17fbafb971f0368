"""DNP3 data link and transport layers: FT3 frames with CRC-16/DNP, and the transport header.

Pure: bytes in, typed frames out. Raises NeedMoreData when a frame is incomplete, BadCrc when a
checksum fails (the header's, or one of the 16-byte user data blocks') and Malformed otherwise.

A link frame is ``05 64 | length | control | dst (LE16) | src (LE16) | header CRC`` followed by
``length - 5`` bytes of user data sent in blocks of at most 16 bytes, each followed by its CRC.
"""

from __future__ import annotations

from dataclasses import dataclass

from zonewarden.errors import Malformed, NeedMoreData

START = b"\x05\x64"
HEADER_LEN = 10
MIN_LENGTH = 5  # control, destination and source: a frame without user data
BLOCK = 16
MAX_FRAME = HEADER_LEN + 250 + 2 * 16  # length 255: 250 user data bytes in 16 blocks

DIR = 0x80
PRM = 0x40
FCB = 0x20
FCV_DFC = 0x10
FUNCTION_MASK = 0x0F

TR_FIN = 0x80
TR_FIR = 0x40
TR_SEQ = 0x3F


def _crc_table() -> tuple[int, ...]:
    # CRC-16/DNP: polynomial 0x3D65, reflected (0xA6BC), initial value 0, result complemented.
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/DNP of ``data`` (as stored on the wire: little-endian after the bytes it covers)."""
    crc = 0
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return ~crc & 0xFFFF


class BadCrc(Malformed):
    """A checksum failed. ``frame_size`` is the frame's length when the header (hence the length) was
    trustworthy and only a data block failed, else None (the header itself failed)."""

    def __init__(self, message: str, frame_size: int | None) -> None:
        super().__init__(message)
        self.frame_size = frame_size


@dataclass(slots=True)
class LinkHeader:
    length: int
    control: int
    dst: int
    src: int

    @property
    def dir(self) -> bool:
        return bool(self.control & DIR)

    @property
    def prm(self) -> bool:
        return bool(self.control & PRM)

    @property
    def function(self) -> int:
        return self.control & FUNCTION_MASK

    @property
    def user_data_len(self) -> int:
        return self.length - MIN_LENGTH

    @property
    def frame_size(self) -> int:
        return frame_size(self.length)


@dataclass(slots=True)
class LinkFrame:
    header: LinkHeader
    user_data: bytes  # with the block CRCs removed
    size: int  # bytes the frame occupies on the wire


@dataclass(slots=True)
class TransportSegment:
    fin: bool
    fir: bool
    seq: int
    payload: bytes


def frame_size(length: int) -> int:
    """Wire size of a frame whose length field is ``length`` (header, user data and block CRCs)."""
    data = max(length - MIN_LENGTH, 0)
    return HEADER_LEN + data + 2 * ((data + BLOCK - 1) // BLOCK)


def parse_link_header(data: bytes) -> LinkHeader:
    if len(data) < 2:
        raise NeedMoreData("link header incomplete")
    if data[:2] != START:
        raise Malformed(f"start bytes {data[:2].hex()} are not 0564")
    if len(data) < HEADER_LEN:
        raise NeedMoreData("link header incomplete")
    want = data[8] | data[9] << 8
    got = crc16(data[:8])
    if want != got:
        raise BadCrc(f"header CRC {want:04x}, computed {got:04x}", None)
    length = data[2]
    if length < MIN_LENGTH:
        raise Malformed(f"link length {length} below {MIN_LENGTH}")
    return LinkHeader(length, data[3], data[4] | data[5] << 8, data[6] | data[7] << 8)


def parse_link_frame(data: bytes) -> LinkFrame:
    """The frame at the start of ``data``; its user data blocks are checked and joined."""
    header = parse_link_header(data)
    size = header.frame_size
    if len(data) < size:
        raise NeedMoreData("link frame incomplete")
    chunks = []
    pos, remaining, block = HEADER_LEN, header.user_data_len, 0
    while remaining > 0:  # progress: remaining shrinks by at least one byte each pass
        n = min(remaining, BLOCK)
        chunk = data[pos : pos + n]
        want = data[pos + n] | data[pos + n + 1] << 8
        got = crc16(chunk)
        if want != got:
            raise BadCrc(f"user data block {block} CRC {want:04x}, computed {got:04x}", size)
        chunks.append(chunk)
        pos += n + 2
        remaining -= n
        block += 1
    return LinkFrame(header, b"".join(chunks), size)


def parse_transport(user_data: bytes) -> TransportSegment:
    if not user_data:
        raise Malformed("no transport header")
    th = user_data[0]
    return TransportSegment(bool(th & TR_FIN), bool(th & TR_FIR), th & TR_SEQ, user_data[1:])


def looks_like_dnp3(payload: bytes) -> bool:
    """Content probe: a link header with start bytes, a sane length and a valid header CRC."""
    try:
        parse_link_header(payload)
    except (NeedMoreData, Malformed):
        return False
    return True


"""pcapng files: sections, interfaces with their own link type and resolution, EPB/SPB/OPB packets.

Packet blocks are walked by the compiled walker; every other block (SHB, IDB, NRB, ISB, custom,
unknown) comes back to Python, which is fine because they are rare.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from zonewarden import kernels
from zonewarden.capture.batching import BatchArrays
from zonewarden.capture.chunks import ChunkReader
from zonewarden.capture.walk_status import CORRUPT, FULL, MAX_CAPLEN, OTHER_BLOCK
from zonewarden.model.frames import FrameBatch

if TYPE_CHECKING:
    from zonewarden.capture.source import ReadContext

SHB = 0x0A0D0D0A
IDB = 0x00000001
EPB, OPB, SPB = 6, 2, 3
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
SHB_MIN_LEN = 28
MAX_BLOCK_LEN = MAX_CAPLEN * 64  # as the compiled walk: anything longer is a corrupt length
NS = 1_000_000_000
INT64_MAX = 2**63 - 1
U64_LIMIT = 2**64


def tick_conversion(units: int) -> tuple[int, int, int]:
    """(mul, shift, div) with ns = floor(ticks * mul / 2**shift / div) = floor(ticks * 10**9 / units).

    10**9 / units in lowest terms, its denominator split into a power of two (a shift) and the rest.
    This is exact for every 10**-n and 2**-n resolution (ticks are truncated to the ns, as Wireshark
    does); a denominator beyond 64 bits turns every tick count below 2**64 into 0 ns.
    """
    g = math.gcd(NS, units)
    mul, den = NS // g, units // g
    shift = (den & -den).bit_length() - 1
    div = den >> shift
    if div >= U64_LIMIT:
        return 0, 0, 1
    return mul, shift, div


class CorruptBlock(Exception):
    """A block whose content contradicts the format; the reader reports it and stops there."""


@dataclass
class _Section:
    swapped: bool = False
    linktype: list[int] = field(default_factory=list)
    ts_mul: list[int] = field(default_factory=list)
    ts_shift: list[int] = field(default_factory=list)
    ts_div: list[int] = field(default_factory=list)
    offset_ns: list[int] = field(default_factory=list)
    snaplen: list[int] = field(default_factory=list)

    def tables(self) -> tuple[npt.NDArray[np.generic], ...]:
        """The interface tables in walk_pcapng's argument order."""
        return (
            np.array(self.linktype, dtype=np.int32),
            np.array(self.ts_mul, dtype=np.uint64),
            np.array(self.ts_shift, dtype=np.int64),
            np.array(self.ts_div, dtype=np.uint64),
            np.array(self.offset_ns, dtype=np.int64),
            np.array(self.snaplen, dtype=np.int64),
        )


def _parse_idb(block: bytes, order: str, section: _Section) -> None:
    """Add the interface an IDB describes to the section; CorruptBlock if its options do not fit."""
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", block, 8)
    units = 1_000_000  # default resolution: microseconds
    offset_s = 0
    pos, end = 16, len(block) - 4
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", block, pos)
        if code == 0:
            break
        if pos + 4 + length > end:
            raise CorruptBlock(f"interface block option {code} runs past the end of the block")
        value = block[pos + 4 : pos + 4 + length]
        if code == OPT_IF_TSRESOL and length >= 1:
            exponent = value[0] & 0x7F
            units = 2**exponent if value[0] & 0x80 else 10**exponent
        elif code == OPT_IF_TSOFFSET and length >= 8:
            offset_s = struct.unpack(order + "q", value[:8])[0]
            if abs(offset_s) * NS > INT64_MAX:
                raise CorruptBlock(f"interface time offset {offset_s} s is out of range")
        pos += 4 + ((length + 3) & ~3)
    mul, shift, div = tick_conversion(units)
    section.linktype.append(linktype)
    section.ts_mul.append(mul)
    section.ts_shift.append(shift)
    section.ts_div.append(div)
    section.offset_ns.append(offset_s * NS)
    section.snaplen.append(snaplen)


def _section_order(block_head: bytes) -> bool | None:
    """Byte order of a section from its SHB's byte-order magic: True if big-endian, None if invalid."""
    (magic_le,) = struct.unpack_from("<I", block_head, 8)
    if magic_le == BYTE_ORDER_MAGIC:
        return False
    if magic_le == 0x4D3C2B1A:
        return True
    return None


def _corrupt_reason(head: bytes, order: str, section: _Section) -> str:
    """Why the compiled walk called the block at ``head`` (its first 28 bytes, or fewer) corrupt."""
    btype, blen = struct.unpack_from(order + "II", head, 0)
    if blen < 12 or blen % 4 or blen > MAX_BLOCK_LEN:
        return f"corrupt pcapng block: bad block length {blen}"
    caplen = -1
    if btype in (EPB, OPB) and len(head) >= 28:
        ifid = struct.unpack_from(order + ("I" if btype == EPB else "H"), head, 8)[0]
        if ifid >= len(section.linktype):
            return f"corrupt pcapng packet block: unknown interface {ifid}"
        caplen = struct.unpack_from(order + "I", head, 20)[0]
    elif btype == SPB and len(head) >= 12:
        if not section.linktype:
            return "corrupt pcapng simple packet block: no interface described before it"
        caplen = min(struct.unpack_from(order + "I", head, 8)[0], blen - 16)
        if section.snaplen[0] > 0:
            caplen = min(caplen, section.snaplen[0])
    if caplen > MAX_CAPLEN:
        return f"corrupt pcapng packet block: captured length {caplen} exceeds the maximum {MAX_CAPLEN}"
    return f"corrupt pcapng packet block: {blen} bytes cannot hold its header and data"


def read_pcapng(reader: ChunkReader, ctx: ReadContext) -> Iterator[FrameBatch]:
    section = _Section()
    tables = section.tables()
    carry = np.empty(0, dtype=np.uint8)
    while True:
        buf = reader.next_buffer(carry)
        if buf is None:
            break
        pos = 0
        while True:
            out = BatchArrays.allocate()
            n, pos, status = kernels.walk_pcapng(buf, pos, section.swapped, *tables, out.off, out.cap, out.wire,
                                                 out.ts, out.lt)
            if n:
                yield ctx.batch(buf, out, n)
            if status == FULL:
                continue
            order = ">" if section.swapped else "<"
            if status == CORRUPT:
                ctx.problem(reader.base + pos, _corrupt_reason(bytes(buf[pos : pos + 28]), order, section))
                return
            if status != OTHER_BLOCK:
                break  # need more data
            head = bytes(buf[pos : pos + 12])
            if head[:4] == b"\x0a\x0d\x0d\x0a":
                swapped = _section_order(head)
                if swapped is None:
                    ctx.problem(reader.base + pos, "corrupt pcapng section header (bad byte-order magic)")
                    return
                # The new section's byte order applies to its own header, length included.
                blen = struct.unpack_from(">I" if swapped else "<I", head, 4)[0]
                if blen < SHB_MIN_LEN or blen % 4 or blen > MAX_BLOCK_LEN:
                    ctx.problem(reader.base + pos, f"corrupt pcapng section header (bad block length {blen})")
                    return
                if pos + blen > buf.shape[0]:
                    break
                section = _Section(swapped=swapped)
                tables = section.tables()
                pos += blen
                continue
            btype, blen = struct.unpack_from(order + "II", head, 0)
            if btype == IDB:
                try:
                    if blen < 20:
                        raise CorruptBlock("interface block too short")
                    _parse_idb(bytes(buf[pos : pos + blen]), order, section)
                except CorruptBlock as exc:
                    ctx.problem(reader.base + pos, f"corrupt pcapng {exc}")
                    return
                tables = section.tables()
            else:
                ctx.skipped_blocks += 1
            pos += blen
        reader.advance(pos)
        carry = buf[pos:]
    if carry.shape[0]:
        ctx.problem(reader.base, f"capture truncated: last block incomplete ({carry.shape[0]} bytes left)")

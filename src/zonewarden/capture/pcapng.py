"""pcapng files: sections, interfaces with their own link type and resolution, EPB/SPB/OPB packets.

Packet blocks are walked by the compiled walker; every other block (SHB, IDB, NRB, ISB, custom,
unknown) comes back to Python, which is fine because they are rare.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from zonewarden.capture.batching import BatchArrays
from zonewarden.capture.chunks import ChunkReader
from zonewarden.capture.walk_status import CORRUPT, FULL, OTHER_BLOCK
from zonewarden.kernels import walk_pcapng
from zonewarden.model.frames import FrameBatch

if TYPE_CHECKING:
    from zonewarden.capture.source import ReadContext

SHB = 0x0A0D0D0A
IDB = 0x00000001
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


@dataclass
class _Section:
    swapped: bool = False
    linktype: list[int] = field(default_factory=list)
    units: list[int] = field(default_factory=list)
    offset_ns: list[int] = field(default_factory=list)
    snaplen: list[int] = field(default_factory=list)

    def tables(
        self,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        return (
            np.array(self.linktype, dtype=np.int32),
            np.array(self.units, dtype=np.int64),
            np.array(self.offset_ns, dtype=np.int64),
            np.array(self.snaplen, dtype=np.int64),
        )


def _parse_idb(block: bytes, order: str, section: _Section) -> None:
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", block, 8)
    units = 1_000_000  # default resolution: microseconds
    offset_s = 0
    pos, end = 16, len(block) - 4
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", block, pos)
        value = block[pos + 4 : pos + 4 + length]
        if code == 0:
            break
        if code == OPT_IF_TSRESOL and length >= 1:
            res = value[0]
            exponent = res & 0x7F
            units = 2**exponent if res & 0x80 else 10**exponent
            units = max(1, min(units, 2**62))
        elif code == OPT_IF_TSOFFSET and length >= 8:
            offset_s = struct.unpack(order + "q", value[:8])[0]
        pos += 4 + ((length + 3) & ~3)
    section.linktype.append(linktype)
    section.units.append(units)
    section.offset_ns.append(offset_s * 1_000_000_000)
    section.snaplen.append(snaplen)


def _section_order(block_head: bytes) -> bool | None:
    """Byte order of a section from its SHB's byte-order magic: True if big-endian, None if invalid."""
    (magic_le,) = struct.unpack_from("<I", block_head, 8)
    if magic_le == BYTE_ORDER_MAGIC:
        return False
    if magic_le == 0x4D3C2B1A:
        return True
    return None


def read_pcapng(reader: ChunkReader, ctx: ReadContext) -> Iterator[FrameBatch]:
    section = _Section()
    tables = section.tables()
    carry = np.empty(0, dtype=np.uint8)
    while True:
        buf = reader.next_buffer(carry)
        if buf is None:
            break
        pos = 0
        done = False
        while True:
            out = BatchArrays.allocate()
            n, pos, status = walk_pcapng(buf, pos, section.swapped, *tables, out.off, out.cap, out.wire,
                                         out.ts, out.lt)
            if n:
                yield ctx.batch(buf, out, n)
            if status == FULL:
                continue
            if status == CORRUPT:
                ctx.problem(reader.base + pos, "corrupt pcapng block (bad length or unknown interface)")
                return
            if status != OTHER_BLOCK:
                break  # need more data
            head = bytes(buf[pos : pos + 12])
            btype = struct.unpack_from(">I" if section.swapped else "<I", head, 0)[0]
            if btype == SHB or head[:4] == b"\x0a\x0d\x0d\x0a":
                swapped = _section_order(head)
                if swapped is None:
                    ctx.problem(reader.base + pos, "corrupt pcapng section header (bad byte-order magic)")
                    return
                blen = struct.unpack_from(">I" if swapped else "<I", head, 4)[0]
                if pos + blen > buf.shape[0]:
                    break
                section = _Section(swapped=swapped)
                tables = section.tables()
                pos += blen
                continue
            order = ">" if section.swapped else "<"
            blen = struct.unpack_from(order + "I", head, 4)[0]
            if btype == IDB:
                if blen < 20:
                    ctx.problem(reader.base + pos, "corrupt pcapng interface block")
                    return
                _parse_idb(bytes(buf[pos : pos + blen]), order, section)
                tables = section.tables()
            else:
                ctx.skipped_blocks += 1
            pos += blen
        if done:
            break
        reader.advance(pos)
        carry = buf[pos:]
    if carry.shape[0]:
        ctx.problem(reader.base, f"capture truncated: last block incomplete ({carry.shape[0]} bytes left)")

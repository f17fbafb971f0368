"""Classic libpcap files: both byte orders, microsecond and nanosecond timestamps."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from zonewarden import kernels
from zonewarden.capture.batching import BatchArrays
from zonewarden.capture.chunks import ChunkReader
from zonewarden.capture.walk_status import (
    CORRUPT,
    FULL,
    LENGTHS_IN_ORDER,
    LENGTHS_MAYBE_SWAPPED,
    LENGTHS_SWAPPED,
    MAX_CAPLEN,
)
from zonewarden.model.frames import FrameBatch

if TYPE_CHECKING:
    from zonewarden.capture.source import ReadContext

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": (False, False),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (True, False),
    b"\x4d\x3c\xb2\xa1": (False, True),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (True, True),
}
# libpcap's LT_LINKTYPE: the low 26 bits are the link type; above them sit the FCS length and its flag.
LINKTYPE_MASK = 0x03FFFFFF


def lengths_order(major: int, minor: int) -> int:
    """How records store (captured, wire) lengths: libpcap before 2.3 wrote them the other way round,
    and 2.3 files come from both kinds of writer (libpcap's sf-pcap.c rule)."""
    if major == 2 and minor < 3:
        return LENGTHS_SWAPPED
    if major == 2 and minor == 3:
        return LENGTHS_MAYBE_SWAPPED
    return LENGTHS_IN_ORDER


def read_pcap(reader: ChunkReader, header: bytes, ctx: ReadContext) -> Iterator[FrameBatch]:
    swapped, nano = PCAP_MAGICS[header[:4]]
    order = ">" if swapped else "<"
    major, minor, _zone, _sigfigs, _snaplen, network = struct.unpack(order + "HHiIII", header[4:24])
    # The upper bits of the link-type field carry FCS information (pcap spec): keep the type only.
    linktype = network & LINKTYPE_MASK
    swap_lengths = lengths_order(major, minor)
    frac_ns = 1 if nano else 1000
    carry = np.empty(0, dtype=np.uint8)
    while True:
        buf = reader.next_buffer(carry)
        if buf is None:
            break
        pos = 0
        while True:
            out = BatchArrays.allocate()
            n, pos, status = kernels.walk_pcap(
                buf, pos, swapped, frac_ns, linktype, swap_lengths, out.off, out.cap, out.wire, out.ts, out.lt
            )
            if n:
                yield ctx.batch(buf, out, n)
            if status == FULL:
                continue
            if status == CORRUPT:
                incl, orig = struct.unpack_from(order + "II", buf[pos + 8 : pos + 16].tobytes())
                if swap_lengths == LENGTHS_SWAPPED or (swap_lengths == LENGTHS_MAYBE_SWAPPED and incl > orig):
                    incl = orig
                ctx.problem(
                    reader.base + pos,
                    f"corrupt record header: captured length {incl} exceeds the maximum {MAX_CAPLEN}",
                )
                return
            break
        reader.advance(pos)
        carry = buf[pos:]
    if carry.shape[0]:
        ctx.problem(reader.base, f"capture truncated: last record incomplete ({carry.shape[0]} bytes left)")

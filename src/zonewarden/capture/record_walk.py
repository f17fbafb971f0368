"""Compiled record walks: turn a byte buffer into frame offset/length/timestamp arrays.

The walk is sequential by nature (each record's position depends on the previous length), so it is
compiled with numba rather than vectorised. Each walk stops at a record it cannot finish in the buffer
(status NEED_MORE), when the output arrays are full (FULL), at a corrupt header (CORRUPT), or, for
pcapng, at a block that is not a packet block (OTHER_BLOCK), which Python then handles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.capture.walk_status import (
    CORRUPT,
    FULL,
    LENGTHS_MAYBE_SWAPPED,
    LENGTHS_SWAPPED,
    MAX_CAPLEN,
    NEED_MORE,
    OTHER_BLOCK,
)

SHB_TYPE = 0x0A0D0D0A  # the same in both byte orders, so a section header is found before its order is known
INT64_MAX = np.uint64(0x7FFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def _u32(buf, pos, swapped):  # type: ignore[no-untyped-def]
    b0 = np.int64(buf[pos])
    b1 = np.int64(buf[pos + 1])
    b2 = np.int64(buf[pos + 2])
    b3 = np.int64(buf[pos + 3])
    if swapped:
        return (b0 << 24) | (b1 << 16) | (b2 << 8) | b3
    return b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)


@njit(cache=True, inline="always")
def _u16(buf, pos, swapped):  # type: ignore[no-untyped-def]
    b0 = np.int64(buf[pos])
    b1 = np.int64(buf[pos + 1])
    if swapped:
        return (b0 << 8) | b1
    return b0 | (b1 << 8)


@njit(cache=True)
def walk_pcap(  # type: ignore[no-untyped-def]
    buf, pos, swapped, frac_ns, linktype, swap_lengths, out_off, out_cap, out_wire, out_ts, out_lt
):
    """Walk classic pcap records from ``pos``; ``frac_ns`` is 1000 (usec files) or 1 (nsec files).

    ``swap_lengths`` says whether the file stores (wire, captured) instead of (captured, wire): files
    older than version 2.3 always do, 2.3 files sometimes (LENGTHS_MAYBE_SWAPPED: swap when the
    captured length exceeds the wire length, as libpcap does).

    Returns (frames written, position after the last complete record, status).
    """
    end = buf.shape[0]
    cap = out_off.shape[0]
    n = 0
    while n < cap:
        if pos + 16 > end:
            return n, pos, NEED_MORE
        sec = _u32(buf, pos, swapped)
        frac = _u32(buf, pos + 4, swapped)
        incl = _u32(buf, pos + 8, swapped)
        orig = _u32(buf, pos + 12, swapped)
        if swap_lengths == LENGTHS_SWAPPED or (swap_lengths == LENGTHS_MAYBE_SWAPPED and incl > orig):
            incl, orig = orig, incl
        if incl > MAX_CAPLEN:
            return n, pos, CORRUPT
        if pos + 16 + incl > end:
            return n, pos, NEED_MORE
        out_off[n] = pos + 16
        out_cap[n] = incl
        out_wire[n] = orig if orig >= incl else incl
        out_ts[n] = sec * 1_000_000_000 + frac * frac_ns
        out_lt[n] = linktype
        n += 1
        pos += 16 + incl
    return n, pos, FULL


@njit(cache=True, inline="always")
def _ticks_to_ns(ticks_hi, ticks_lo, mul, shift, div):  # type: ignore[no-untyped-def]
    """floor(ticks * mul / 2**shift / div) for an unsigned 64-bit tick count, exactly.

    ``(mul, shift, div)`` is the interface's 10**9 / units-per-second in lowest terms (pcapng.tick_conversion),
    with ``mul`` < 2**30, so the product needs at most 94 bits: it is formed from 32-bit halves as a
    128-bit (hi, lo) pair. A result past int64 (after the year 2262) saturates.
    """
    m32 = np.uint64(0xFFFFFFFF)
    lo_part = np.uint64(ticks_lo) * mul  # < 2**62
    hi_part = np.uint64(ticks_hi) * mul
    mid = (lo_part >> np.uint64(32)) + (hi_part & m32)
    p_lo = ((mid & m32) << np.uint64(32)) | (lo_part & m32)
    p_hi = (hi_part >> np.uint64(32)) + (mid >> np.uint64(32))
    if shift >= 64:
        p_lo = p_hi >> np.uint64(shift - 64)
        p_hi = np.uint64(0)
    elif shift > 0:
        p_lo = (p_lo >> np.uint64(shift)) | (p_hi << np.uint64(64 - shift))
        p_hi = p_hi >> np.uint64(shift)
    if p_hi != np.uint64(0):
        return np.int64(INT64_MAX)
    q = p_lo // div
    if q > INT64_MAX:
        return np.int64(INT64_MAX)
    return np.int64(q)


@njit(cache=True)
def walk_pcapng(  # type: ignore[no-untyped-def]
    buf, pos, swapped, if_linktype, if_ts_mul, if_ts_shift, if_ts_div, if_offset_ns, if_snaplen,
    out_off, out_cap, out_wire, out_ts, out_lt,
):
    """Walk pcapng packet blocks (EPB, SPB, OPB) from ``pos`` within one section.

    Interface tables are indexed by interface id: link type, the tick-to-ns conversion (see
    _ticks_to_ns), if_tsoffset in ns, snap length. A packet naming an interface that does not exist, or
    longer than MAX_CAPLEN, is CORRUPT. A section header block comes back as OTHER_BLOCK before its
    length is read: it may switch the byte order. Returns (frames written, position of the first
    unconsumed block, status).
    """
    end = buf.shape[0]
    cap = out_off.shape[0]
    n_if = if_linktype.shape[0]
    n = 0
    while n < cap:
        if pos + 12 > end:
            return n, pos, NEED_MORE
        btype = _u32(buf, pos, swapped)
        if btype == SHB_TYPE:
            return n, pos, OTHER_BLOCK
        blen = _u32(buf, pos + 4, swapped)
        if blen < 12 or blen % 4 != 0 or blen > MAX_CAPLEN * 64:
            return n, pos, CORRUPT
        if pos + blen > end:
            return n, pos, NEED_MORE
        if btype == 6 or btype == 2:
            if blen < 32:
                return n, pos, CORRUPT
            if btype == 6:
                ifid = _u32(buf, pos + 8, swapped)
            else:
                ifid = _u16(buf, pos + 8, swapped)
            if ifid >= n_if:
                return n, pos, CORRUPT
            ticks_hi = _u32(buf, pos + 12, swapped)
            ticks_lo = _u32(buf, pos + 16, swapped)
            incl = _u32(buf, pos + 20, swapped)
            orig = _u32(buf, pos + 24, swapped)
            if incl > MAX_CAPLEN or 28 + incl + 4 > blen:
                return n, pos, CORRUPT
            out_off[n] = pos + 28
            out_cap[n] = incl
            out_wire[n] = orig if orig >= incl else incl
            out_ts[n] = _ticks_to_ns(ticks_hi, ticks_lo, if_ts_mul[ifid], if_ts_shift[ifid], if_ts_div[ifid])
            out_ts[n] += if_offset_ns[ifid]
            out_lt[n] = if_linktype[ifid]
            n += 1
        elif btype == 3:
            if n_if == 0 or blen < 16:
                return n, pos, CORRUPT
            orig = _u32(buf, pos + 8, swapped)
            incl = blen - 16
            if orig < incl:
                incl = orig
            snap = if_snaplen[0]
            if snap > 0 and incl > snap:
                incl = snap
            if incl > MAX_CAPLEN:
                return n, pos, CORRUPT
            out_off[n] = pos + 12
            out_cap[n] = incl
            out_wire[n] = orig
            # A simple packet block carries no timestamp; Wireshark shows it as time 0.
            out_ts[n] = 0
            out_lt[n] = if_linktype[0]
            n += 1
        else:
            return n, pos, OTHER_BLOCK
        pos += blen
    return n, pos, FULL

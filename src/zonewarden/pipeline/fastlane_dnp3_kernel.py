"""The fast lane's DNP3 walker (link frames with their CRCs, transport reassembly, application header and
object headers), compiled by numba. The rules mirror dnp3/wire_link.py, wire_app.py and the analyzer:
a change there needs the same change here.

A segment must hold whole link frames with sound CRCs (else the flow goes to the Python path). Link
frames without user data are counted. An application fragment is counted when its object headers walk
cleanly; fragments carrying device attributes (group 0), secure authentication (120) or files (70),
and everything the analyzer would report as a problem, are handed off, with all their link frames. The
frames of a fragment in several frames are kept in an arena slot until its last one arrives (and handed
off from there if need be); what goes beyond the slot, or beyond one reassembly per direction, is left
to the Python analyzer.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED
from zonewarden.pipeline.fastlane_layout import (
    ARENA_BYTES,
    C_DNP,
    C_MSGS,
    C_SKIPPED,
    C_TCP,
    D_KEPT,
    D_NEXT,
    D_PAIR,
    D_REASM,
    D_SEGMENTS,
    D_SLOT,
    DNP_COLS,
    DNP_DATA,
    DNP_FREEZE,
    DNP_RESPONSE,
    OBJ_OCTETS,
    OBJ_PACKED1,
    OBJ_PACKED2,
    OBJ_PYTHON,
    OBJ_UNKNOWN,
    OP_NONE,
    P_FREE,
    REASM_KERNEL,
    REASM_NONE,
    REASM_PYTHON,
    T_SYNC,
    TCP_COLS,
)
from zonewarden.pipeline.fastlane_pdus_kernel import OPS_DNP3, consumed, count, hand_off

HEADER, BLOCK, MIN_LENGTH = 10, 16, 5
LINK_NO_DATA = (0, 9, 11)
MAX_OBJECTS = 256
DEFAULT_MAX_FRAGMENT = 2048  # the analyzer reports a larger fragment (an anomaly): handed off
MAX_UNSYNCED_SKIP = 1024  # as the analyzer: bytes without a frame before it decides the flow is not DNP3
NEED_SLOT = -2  # (as the run count of a failed segment) no arena slot free: grow the arena, walk it again
# Qualifier range codes: bytes of the range field and its kind (1 start/stop, 2 address, 3 count, 0 all).
RANGE_WIDTH = (2, 4, 8, 1, 2, 4, 0, 1, 2, 4, -1, 1, -1, -1, -1, -1)
RANGE_KIND = (1, 1, 1, 2, 2, 2, 0, 3, 3, 3, -1, 3, -1, -1, -1, -1)
PREFIX_LEN = (0, 1, 2, 4, -1, -1, -1, -1)  # size prefixes (4-6) and reserved (7): handed off


@njit(**UNCOUNTED)
def _crc_ok(data, p, n, crc_table):  # type: ignore[no-untyped-def]
    """The CRC-16/DNP of data[p:p+n] matches the two bytes after it."""
    crc = 0
    for k in range(n):
        crc = (crc >> 8) ^ crc_table[(crc ^ data[p + k]) & 0xFF]
    crc = ~crc & 0xFFFF
    return crc == (np.int64(data[p + n]) | (np.int64(data[p + n + 1]) << 8))


@njit(**UNCOUNTED)
def _transport_payload(data, frame, app, at):  # type: ignore[no-untyped-def]
    """Append the frame's user data after the transport header (block CRCs left out) to ``app`` at ``at``."""
    n = np.int64(data[frame + 2]) - MIN_LENGTH
    for k in range(1, n):
        app[at + k - 1] = data[frame + HEADER + k + 2 * (k // BLOCK)]
    return at + n - 1


@njit(**UNCOUNTED)
def _walk(app, pos, n, fc, fc_table, obj_kind, obj_empty):  # type: ignore[no-untyped-def]
    """Walk the object headers of the fragment app[:n] from ``pos`` as wire_app._Walker does; True when it
    gets to the end with no problem and no object the Python analyzer must see."""
    data_function = fc_table[fc] & (DNP_DATA | DNP_RESPONSE) != 0
    freeze = fc_table[fc] & DNP_FREEZE != 0
    objects = 0
    while n - pos >= 2:
        if objects >= MAX_OBJECTS or n - pos < 3:
            return False
        objects += 1
        group, variation, qualifier = np.int64(app[pos]), np.int64(app[pos + 1]), np.int64(app[pos + 2])
        pos += 3
        prefix = PREFIX_LEN[(qualifier >> 4) & 7]
        width, kind = RANGE_WIDTH[qualifier & 0x0F], RANGE_KIND[qualifier & 0x0F]
        gv = group * 256 + variation
        if width < 0 or prefix < 0 or obj_kind[gv] == OBJ_PYTHON or pos + width > n:
            return False
        value = first = 0
        for k in range(width):
            value |= np.int64(app[pos + k]) << (8 * k)
        if kind == 1:
            half = width // 2
            first = value & ((np.int64(1) << (8 * half)) - 1)
            points = (value >> (8 * half)) - first + 1
            if points <= 0:
                return False
        elif kind == 2:
            points = np.int64(1)
        elif kind == 3:
            points = value
        else:
            points = np.int64(0)
        pos += width
        if points == 0:
            continue
        if not ((data_function and not obj_empty[gv]) or (freeze and group == 50)):
            pos += points * prefix  # a request naming points by index
        else:
            size = obj_kind[gv]
            if size == OBJ_PACKED1 or size == OBJ_PACKED2:
                bits = 1 if size == OBJ_PACKED1 else 2
                pos += points * (prefix + 1) if prefix else (points * bits + 7) // 8
            elif size == OBJ_OCTETS:
                pos += points * (prefix + variation)
            elif size == OBJ_UNKNOWN:
                return False
            else:
                pos += points * (prefix + size)
        if pos > n:
            return False
    return pos == n


@njit(**UNCOUNTED)
def _message(app, n, fc_table, obj_kind, obj_empty):  # type: ignore[no-untyped-def]
    """(is_response, function code) of the fragment app[:n] to count, or (-1, 0) to hand it off."""
    if n < 2 or n > DEFAULT_MAX_FRAGMENT:
        return -1, 0
    fc = np.int64(app[1])
    resp = 1 if fc_table[fc] & DNP_RESPONSE else 0
    if resp and n < 4:
        return -1, 0
    if not _walk(app, 4 if resp else 2, n, fc, fc_table, obj_kind, obj_empty):
        return -1, 0
    return resp, fc


@njit(**UNCOUNTED)
def _after_handoff(work, d, pair, fir, fin, seq):  # type: ignore[no-untyped-def]
    """Follow the Python analyzer's transport reassembly through a frame handed to it, so that frames are
    counted here only while it has none in progress in that direction. False: beyond what is followed."""
    base = C_DNP + d * DNP_COLS
    if work[base + D_REASM] == REASM_NONE:
        if fir and not fin:
            work[base + D_REASM], work[base + D_PAIR] = REASM_PYTHON, pair
            work[base + D_NEXT], work[base + D_SEGMENTS] = (seq + 1) % 64, 1
        return True
    if work[base + D_PAIR] != pair:
        return not (fir and not fin)  # a second reassembly at once
    nxt, segments = work[base + D_NEXT], work[base + D_SEGMENTS]
    if seq == (nxt + 63) % 64 and (not fir or segments == 1):
        return True  # a link-layer retry: ignored there
    if fir:
        if fin:
            work[base + D_REASM] = REASM_NONE
        else:
            work[base + D_NEXT], work[base + D_SEGMENTS] = (seq + 1) % 64, 1
    elif seq != nxt or fin:
        work[base + D_REASM] = REASM_NONE
    else:
        work[base + D_NEXT], work[base + D_SEGMENTS] = (seq + 1) % 64, segments + 1
    return True


@njit(**UNCOUNTED)
def spill(arena, slot, kept, out_bytes, n_bytes):  # type: ignore[no-untyped-def]
    """Copy a slot's kept frames to out_bytes; returns the run offset (negative: out_bytes) and n_bytes."""
    for k in range(kept):
        out_bytes[n_bytes + k] = arena[slot, k]
    return -1 - n_bytes, n_bytes + kept


@njit(**UNCOUNTED)
def _kept_fragment(arena, slot, kept, app):  # type: ignore[no-untyped-def]
    """The fragment the kept frames carry, into ``app``; returns its length."""
    at = pos = 0
    while pos < kept:
        at = _transport_payload(arena[slot], pos, app, at)
        pos += HEADER + (np.int64(arena[slot, pos + 2]) - MIN_LENGTH) + 2 * (
            (np.int64(arena[slot, pos + 2]) - MIN_LENGTH + BLOCK - 1) // BLOCK)
    return at


@njit(**UNCOUNTED)
def _kernel_reassembly(data, pos, size, d, side, ts, seq, fin, work, runs, nr, ops, fc_table, obj_kind, obj_empty,  # type: ignore[no-untyped-def]
                       arena, out_bytes, n_bytes, app):
    """The next frame of the fragment the kernel holds: kept, and at the last one, counted or handed off
    with all its frames. Returns (ok, nr, n_bytes)."""
    base = C_DNP + d * DNP_COLS
    slot, kept = work[base + D_SLOT] - 1, work[base + D_KEPT]
    if kept + size > ARENA_BYTES:
        # Beyond the slot: the Python analyzer takes this reassembly over, frames kept so far first.
        off, n_bytes = spill(arena, slot, kept, out_bytes, n_bytes)
        nr = hand_off(work, d, runs, nr, off, kept)
        nr = hand_off(work, d, runs, nr, pos, size)
        work[base + D_REASM] = REASM_PYTHON
        work[base + D_NEXT], work[base + D_SEGMENTS] = (seq + 1) % 64, work[base + D_SEGMENTS] + 1
        if fin:
            work[base + D_REASM] = REASM_NONE
        return nr >= 0, nr, n_bytes
    for k in range(size):
        arena[slot, kept + k] = data[pos + k]
    kept += size
    work[base + D_KEPT] = kept
    work[base + D_NEXT], work[base + D_SEGMENTS] = (seq + 1) % 64, work[base + D_SEGMENTS] + 1
    consumed(work, d)
    if not fin:
        return True, nr, n_bytes
    work[base + D_REASM] = REASM_NONE
    resp, fc = _message(app, _kept_fragment(arena, slot, kept, app), fc_table, obj_kind, obj_empty)
    if resp < 0:
        work[base + D_KEPT] = 0
        off, n_bytes = spill(arena, slot, kept, out_bytes, n_bytes)
        nr = hand_off(work, d, runs, nr, off, kept)
        return nr >= 0, nr, n_bytes
    count(work, d, side, resp, OP_NONE if resp else np.int64(ops[OPS_DNP3, fc]), ts)
    return True, nr, n_bytes


@njit(**UNCOUNTED)
def _new_slot(work, base, pool_free, params):  # type: ignore[no-untyped-def]
    """An arena slot for a reassembly starting in this direction (the row's own if it has one); -1: none."""
    if work[base + D_SLOT] == 0:
        if params[P_FREE] == 0:
            return -1
        params[P_FREE] -= 1
        work[base + D_SLOT] = pool_free[params[P_FREE]] + 1
    return work[base + D_SLOT] - 1


@njit(**UNCOUNTED)
def _skip_garbage(data, pos, end, d, work):  # type: ignore[no-untyped-def]
    """Bytes before the first link frame of a direction, skipped as the analyzer skips them while it looks
    for one: silently, counted until a frame is seen (past MAX_UNSYNCED_SKIP it gives the flow up). Returns
    (ok, next position); not ok where the analyzer would report them, keep a byte, or give up."""
    if work[C_TCP + d * TCP_COLS + T_SYNC]:
        return False, pos  # garbage after frames: an anomaly there
    stop = pos + 1
    while stop < end - 1 and not (data[stop] == 0x05 and data[stop + 1] == 0x64):
        stop += 1
    if stop >= end - 1:
        if data[end - 1] == 0x05:
            return False, pos
        stop = end
    if work[C_MSGS] == 0:
        if work[C_SKIPPED] + stop - pos > MAX_UNSYNCED_SKIP:
            return False, pos
        work[C_SKIPPED] += stop - pos
    return True, stop


@njit(**UNCOUNTED)
def dnp3_segment(data, pos, end, d, side, ts, work, runs, ops, fc_table, obj_kind, obj_empty, crc_table,  # type: ignore[no-untyped-def]
                 arena, pool_free, params, out_bytes, n_bytes, app):
    """Returns (ok, runs, n_bytes)."""
    nr = 0
    base = C_DNP + d * DNP_COLS
    while pos < end:
        if end - pos < 2:
            return False, nr, n_bytes  # a byte the analyzer keeps for the next segment
        if data[pos] != 0x05 or data[pos + 1] != 0x64:
            ok, pos = _skip_garbage(data, pos, end, d, work)
            if not ok:
                return False, nr, n_bytes
            continue
        if end - pos < HEADER or not _crc_ok(data, pos, 8, crc_table):
            return False, nr, n_bytes
        length = np.int64(data[pos + 2])
        if length < MIN_LENGTH:
            return False, nr, n_bytes
        n = length - MIN_LENGTH
        size = HEADER + n + 2 * ((n + BLOCK - 1) // BLOCK)
        if pos + size > end:
            return False, nr, n_bytes
        for b in range((n + BLOCK - 1) // BLOCK):
            if not _crc_ok(data, pos + HEADER + b * (BLOCK + 2), min(BLOCK, n - b * BLOCK), crc_table):
                return False, nr, n_bytes  # the analyzer drops the frame with an anomaly: the Python path's
        control = np.int64(data[pos + 3])
        if n == 0 or control & 0x0F in LINK_NO_DATA:
            if n == 0:  # a link-layer frame: a message of its own, a response when sent by a secondary
                count(work, d, side, 0 if control & 0x40 else 1, OP_NONE, ts)
            else:
                nr = hand_off(work, d, runs, nr, pos, size)  # user data where none belongs: an anomaly there
            if nr < 0:
                return False, 0, n_bytes
            pos += size
            continue
        th = np.int64(data[pos + HEADER])
        fir, fin, seq = th & 0x40 != 0, th & 0x80 != 0, th & 0x3F
        pair = (np.int64(data[pos + 6]) | (np.int64(data[pos + 7]) << 8)) * 65536 + (
            np.int64(data[pos + 4]) | (np.int64(data[pos + 5]) << 8))
        state, mine = work[base + D_REASM], work[base + D_PAIR] == pair
        handed = False
        if state == REASM_PYTHON:
            handed = True
            if not _after_handoff(work, d, pair, fir, fin, seq):
                return False, nr, n_bytes
        elif state == REASM_KERNEL and mine:
            nxt, segments = work[base + D_NEXT], work[base + D_SEGMENTS]
            if seq == (nxt + 63) % 64 and (not fir or segments == 1):
                consumed(work, d)  # a link-layer retry: ignored there too
            elif fir or seq != nxt:
                return False, nr, n_bytes  # the fragment breaks off (an anomaly there): the Python path's
            else:
                ok, nr, n_bytes = _kernel_reassembly(data, pos, size, d, side, ts, seq, fin, work, runs, nr, ops,
                                                     fc_table, obj_kind, obj_empty, arena, out_bytes, n_bytes, app)
                if not ok:
                    return False, 0, n_bytes
        elif fir and fin:
            resp, fc = _message(app, _transport_payload(data, pos, app, 0), fc_table, obj_kind, obj_empty)
            if resp < 0:
                handed = True
            else:
                count(work, d, side, resp, OP_NONE if resp else np.int64(ops[OPS_DNP3, fc]), ts)
        elif fir:
            if state == REASM_KERNEL:
                return False, nr, n_bytes  # a second reassembly in this direction
            slot = _new_slot(work, base, pool_free, params)
            if slot < 0:
                return False, NEED_SLOT, n_bytes
            for k in range(size):
                arena[slot, k] = data[pos + k]
            work[base + D_REASM], work[base + D_PAIR], work[base + D_KEPT] = REASM_KERNEL, pair, size
            work[base + D_NEXT], work[base + D_SEGMENTS] = (seq + 1) % 64, 1
            consumed(work, d)
        else:
            handed = True  # a later segment of no fragment in progress: an anomaly or a retry there
        if handed:
            nr = hand_off(work, d, runs, nr, pos, size)
            if nr < 0:
                return False, 0, n_bytes
        pos += size
    return True, nr, n_bytes

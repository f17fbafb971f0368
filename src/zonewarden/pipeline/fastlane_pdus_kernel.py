"""The fast lane's PDU walkers for Modbus/TCP and S7comm (ISO-on-TCP), and what every walker shares,
compiled by numba (EtherNet/IP: fastlane_enip_kernel.py, DNP3: fastlane_dnp3_kernel.py).

Each walker takes one in-order TCP segment and either accounts for every PDU in it (``True``) or gives
up (``False``: the flow goes to the Python path from this segment on). A PDU is *counted* (message
counts by kind and operation class in the flow's row) when the Python analyzer would turn it into an
event whose inventory effect is fully known from a few header bytes; every other well-framed PDU is
*handed off* (recorded as a run of bytes the Python analyzer parses itself): identity-bearing ones,
connection set-up, and anything the analyzer would report as an anomaly. The rules mirror the
analyzers' wire parsers (protocols/*/wire*.py): a change there needs the same change here, and the
fast-lane parity tests catch a difference.

``work`` is a scratch copy of the flow's row (fastlane_layout columns), committed only on success.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED
from zonewarden.pipeline.fastlane_layout import (
    C_CNT,
    C_EXCEPTIONS,
    C_FIRST,
    C_FLAGS,
    C_MSGS,
    C_SKIPPED,
    C_TCP,
    C_TS_FIRST,
    C_TS_LAST,
    C_UNITS,
    F_DIRTY,
    F_FIRST_DONE,
    F_S7,
    N_OPS,
    OP_HANDOFF,
    OP_NONE,
    PRIME_DATA_SHIFT,
    PRIME_S7,
    PRIME_SKIPPED_SHIFT,
    PRIME_SYNC_SHIFT,
    T_DATA,
    T_SYNC,
    TCP_COLS,
)

MBAP_MAX_LENGTH, MBAP_SPEC_MAX = 260, 254  # as modbus/wire.py: framed up to 260, reported above 254
MODBUS_READ_DEVICE_ID = 43
S7_ID, COTP_DT = 0x32, 0xF
S7_SETUP, S7_PI_SERVICE = 0xF0, 0x28
NO_FUNCTION = 256  # column of the operation tables for an S7 job without a parameter
OPS_MODBUS, OPS_S7, OPS_DNP3, OPS_ENIP, OPS_ENIP_FILE = 0, 1, 2, 3, 4


@njit(**UNCOUNTED)
def be16(data, p):  # type: ignore[no-untyped-def]
    return (np.int64(data[p]) << 8) | np.int64(data[p + 1])


@njit(**UNCOUNTED)
def le16(data, p):  # type: ignore[no-untyped-def]
    return np.int64(data[p]) | (np.int64(data[p + 1]) << 8)


@njit(**UNCOUNTED)
def prime_word(work):  # type: ignore[no-untyped-def]
    """What the Python analyzer must know when it takes a PDU over: see fastlane_layout.PRIME_*."""
    w = min(work[C_MSGS], 0x7FFFFFFF) | (min(work[C_SKIPPED], 0x7FFF) << PRIME_SKIPPED_SHIFT)
    for d in range(2):
        if work[C_TCP + d * TCP_COLS + T_SYNC]:
            w |= np.int64(1) << (PRIME_SYNC_SHIFT + d)
        if work[C_TCP + d * TCP_COLS + T_DATA]:
            w |= np.int64(1) << (PRIME_DATA_SHIFT + d)
    if work[C_FLAGS] & F_S7:
        w |= PRIME_S7
    return w


@njit(**UNCOUNTED)
def add_run(runs, nr, off, length, prime):  # type: ignore[no-untyped-def]
    """Hand off ``length`` bytes at ``off`` (negative: in out_bytes, see fastlane_layout.R_OFF); returns the
    new run count, -1 when the runs are full."""
    if nr > 0 and off >= 0 and runs[nr - 1, 0] >= 0 and runs[nr - 1, 0] + runs[nr - 1, 1] == off:
        runs[nr - 1, 1] += length
        return nr
    if nr >= runs.shape[0]:
        return -1
    runs[nr, 0] = off
    runs[nr, 1] = length
    runs[nr, 2] = prime
    return nr + 1


@njit(**UNCOUNTED)
def hand_off(work, d, runs, nr, off, length):  # type: ignore[no-untyped-def]
    """A well-framed PDU for the Python analyzer (which is then in sync in direction d)."""
    nr = add_run(runs, nr, off, length, prime_word(work))
    work[C_MSGS] += 1
    work[C_TCP + d * TCP_COLS + T_SYNC] = 1
    return nr


@njit(**UNCOUNTED)
def count(work, d, side, resp, op, ts):  # type: ignore[no-untyped-def]
    """One message counted: sent in flow direction ``d`` by the client (side 0) or server (1)."""
    combo = side * 2 + resp
    work[C_CNT + combo * N_OPS + op] += 1
    if ts < work[C_TS_FIRST + combo]:
        work[C_TS_FIRST + combo] = ts
    if ts > work[C_TS_LAST + combo]:
        work[C_TS_LAST + combo] = ts
    if work[C_FIRST] < 0 and not work[C_FLAGS] & F_FIRST_DONE:
        work[C_FIRST] = combo
    work[C_FLAGS] |= F_DIRTY
    consumed(work, d)


@njit(**UNCOUNTED)
def consumed(work, d):  # type: ignore[no-untyped-def]
    work[C_MSGS] += 1
    work[C_TCP + d * TCP_COLS + T_SYNC] = 1


@njit(**UNCOUNTED)
def set_bit(work, col, value):  # type: ignore[no-untyped-def]
    work[col + (value >> 6)] |= np.int64(1) << (value & 63)


# ---- Modbus/TCP (modbus/wire.py)
@njit(**UNCOUNTED)
def _modbus_problem(data, p, dl, fc, resp):  # type: ignore[no-untyped-def]
    """True where parse_request / parse_response would report a length problem (an anomaly event)."""
    if resp:
        if fc & 0x80:
            return dl != 1
        if fc in (1, 2, 3, 4, 23, 17, 12, 20, 21):
            return dl == 0 or np.int64(data[p]) != dl - 1
        if fc in (5, 6, 15, 16):
            return dl != 4
        return fc == 22 and dl != 6
    if 1 <= fc <= 6:
        return dl != 4
    if fc == 15 or fc == 16:
        return dl < 5 or np.int64(data[p + 4]) != dl - 5
    if fc == 22:
        return dl != 6
    if fc == 23:
        return dl < 9 or np.int64(data[p + 8]) != dl - 9
    if fc == 24:
        return dl != 2
    return fc == 8 and dl < 2


@njit(**UNCOUNTED)
def modbus_segment(data, pos, end, d, side, ts, work, runs, ops):  # type: ignore[no-untyped-def]
    nr = 0
    resp = side
    while pos < end:
        if end - pos < 7:
            return False, nr
        length = be16(data, pos + 4)
        if be16(data, pos + 2) != 0 or length < 2 or length > MBAP_MAX_LENGTH:
            return False, nr
        total = 6 + length
        if pos + total > end:
            return False, nr
        fc = np.int64(data[pos + 7])
        if (fc & 0x7F) == MODBUS_READ_DEVICE_ID or length > MBAP_SPEC_MAX or _modbus_problem(
                data, pos + 8, total - 8, fc, resp):
            nr = hand_off(work, d, runs, nr, pos, total)
            if nr < 0:
                return False, 0
        else:
            op = np.int64(OP_NONE)
            if resp:
                if fc & 0x80:
                    set_bit(work, C_EXCEPTIONS, np.int64(data[pos + 8]))
                else:
                    set_bit(work, C_UNITS, np.int64(data[pos + 6]))
            else:
                op = np.int64(ops[OPS_MODBUS, fc & 0x7F])
            count(work, d, side, resp, op, ts)
        pos += total
    return True, nr


# ---- S7comm over TPKT/COTP (s7comm/wire_cotp.py, wire_s7.py)
@njit(**UNCOUNTED)
def _cotp_connection_ok(data, c, li, code):  # type: ignore[no-untyped-def]
    """parse_cotp accepts this connection TPDU (CR, CC, DR, DC, ER)."""
    if code == 0xE or code == 0xD:
        if li < 6:
            return False
        p, hend = c + 7, c + li + 1
        while p + 2 <= hend:
            p += 2 + np.int64(data[p + 1])
            if p > hend:
                return False
        return True
    if code == 0x8 or code == 0xC:
        return li >= 5
    return True


@njit(**UNCOUNTED)
def _s7_job(data, ds, dl):  # type: ignore[no-untyped-def]
    """(is_response, function or NO_FUNCTION) of an S7comm PDU, or (-1, 0) to hand it off."""
    if dl < 10:
        return -1, 0
    rosctr = data[ds + 1]
    if rosctr != 1 and rosctr != 2 and rosctr != 3:
        return -1, 0  # userdata (identity, diagnostics) or an unknown ROSCTR
    hlen = 10
    if rosctr != 1:
        if dl < 12:
            return -1, 0
        hlen = 12
    plen = be16(data, ds + 6)
    if hlen + plen + be16(data, ds + 8) != dl:
        return -1, 0
    function = np.int64(NO_FUNCTION)
    if plen > 0:
        function = np.int64(data[ds + hlen])
        if (function == S7_SETUP and plen < 8) or (function == S7_PI_SERVICE and rosctr == 1 and plen < 11):
            return -1, 0
    return (0 if rosctr == 1 else 1), function


@njit(**UNCOUNTED)
def s7_segment(data, pos, end, d, side, ts, work, runs, ops):  # type: ignore[no-untyped-def]
    nr = 0
    while pos < end:
        if end - pos < 4 or data[pos] != 3:
            return False, nr
        length = be16(data, pos + 2)
        if length < 7 or pos + length > end:
            return False, nr
        c = pos + 4
        li = np.int64(data[c])
        if li == 0 or li == 255 or li + 1 > length - 4:
            return False, nr
        code = data[c + 1] >> 4
        if code == COTP_DT:
            if li < 2:
                return False, nr
            ds = c + li + 1
            dl = pos + length - ds
            if not data[c + 2] & 0x80 and dl > 0:
                return False, nr  # a data unit in several TPDUs: the Python path reassembles it
            if dl == 0:
                consumed(work, d)  # an empty TPDU (with or without end of unit) changes nothing
            elif data[ds] != S7_ID:
                return False, nr  # S7comm-plus, or no S7 at all: the Python analyzer decides
            else:
                resp, function = _s7_job(data, ds, dl)
                if resp < 0 or ops[OPS_S7, function] == OP_HANDOFF:
                    nr = hand_off(work, d, runs, nr, pos, length)
                else:
                    work[C_FLAGS] |= F_S7
                    count(work, d, side, resp, OP_NONE if resp else np.int64(ops[OPS_S7, function]), ts)
        elif code in (0xE, 0xD, 0x8, 0xC, 0x7):
            if not _cotp_connection_ok(data, c, li, code):
                return False, nr
            nr = hand_off(work, d, runs, nr, pos, length)  # connection TPDUs become events there
        elif code in (0x1, 0x2, 0x5, 0x6):
            nr = hand_off(work, d, runs, nr, pos, length)  # not class 0: the analyzer reports it
        else:
            return False, nr
        if nr < 0:
            return False, 0
        pos += length
    return True, nr

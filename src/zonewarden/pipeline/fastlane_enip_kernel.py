"""The fast lane's EtherNet/IP walker (encapsulation header, Common Packet Format items, the CIP request
path and the Unconnected Send around it), compiled by numba. The rules mirror enip/wire_encap.py,
wire_cip.py, wire_cm.py and the analyzer's request/reply matching: a change there needs the same change
here.

SendRRData and SendUnitData messages are counted. Requests the analyzer must see (the Identity object,
directly or through an Unconnected Send, connection set-up, anything it would report as a problem) are
handed off, and their replies follow them there: a SendRRData reply by its sender context, a SendUnitData
reply by its CIP sequence count. Every other command (sessions, ListIdentity, ListServices) is handed off.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED
from zonewarden.pipeline.fastlane_layout import C_RR, C_RR_N, C_UNIT, C_UNIT_N, ENIP_SLOTS, OP_NONE
from zonewarden.pipeline.fastlane_pdus_kernel import OPS_ENIP, OPS_ENIP_FILE, count, hand_off, le16

ENIP_HEADER, SEND_RR_DATA, SEND_UNIT_DATA, MAX_CPF_ITEMS = 24, 0x6F, 0x70, 16
CPF_CONNECTED_ADDRESS, CPF_CONNECTED_DATA, CPF_UNCONNECTED_DATA = 0xA1, 0xB1, 0xB2
CPF_SOCKADDR_OT, CPF_SOCKADDR_TO = 0x8000, 0x8001
CLASS_IDENTITY, CLASS_CONNECTION_MANAGER, UNCONNECTED_SEND = 0x01, 0x06, 0x52
CONNECTION_SETUP = (0x54, 0x5B, 0x4E)  # Forward Open, Large Forward Open, Forward Close
MAX_PATH_SEGMENTS = 64


@njit(**UNCOUNTED)
def path_class(data, pos, end):  # type: ignore[no-untyped-def]
    """The first logical class of the EPATH in [pos, end) as parse_path reads it: (class or -1, ok).

    ``ok`` is False where parse_path would record a problem (the analyzer then reports an anomaly).
    """
    cls = np.int64(-1)
    for _ in range(MAX_PATH_SEGMENTS):
        if pos >= end:
            return cls, True
        seg = np.int64(data[pos])
        kind = seg >> 5
        if kind == 0:  # port segment
            p = pos + 1
            link = np.int64(1)
            if seg & 0x10:
                if p >= end:
                    return cls, False
                link = np.int64(data[p])
                p += 1
            if seg & 0x0F == 0x0F:
                if p + 2 > end:
                    return cls, False
                p += 2
            if p + link > end:
                return cls, False
            p += link
            pos = p + ((p - pos) & 1)
        elif kind == 1:  # logical segment
            lkind, fmt = (seg >> 2) & 7, seg & 3
            if lkind == 5:
                if pos + 10 > end or data[pos + 1] != 4:
                    return cls, False
                pos += 10
                continue
            if fmt == 3:
                return cls, False
            size, pad = (1, 0) if fmt == 0 else ((2, 1) if fmt == 1 else (4, 1))
            start = pos + 1 + pad
            if start + size > end:
                return cls, False
            if lkind == 0 and cls < 0:
                cls = 0
                for k in range(size):
                    cls |= np.int64(data[start + k]) << (8 * k)
            pos = start + size
        elif kind == 2:  # network segment
            if pos + 2 > end:
                return cls, False
            pos += 2 if seg & 0x10 == 0 else 2 + 2 * np.int64(data[pos + 1])
        elif kind == 3:  # symbolic segment
            size = seg & 0x1F
            if size == 0 or pos + 1 + size > end:
                return cls, False
            pos += 1 + size + (size + 1) % 2
        elif seg == 0x91:  # ANSI extended symbol
            if pos + 2 > end or pos + 2 + np.int64(data[pos + 1]) > end:
                return cls, False
            size = np.int64(data[pos + 1])
            pos += 2 + size + size % 2
        elif seg == 0x80:  # simple data segment
            if pos + 2 > end:
                return cls, False
            pos += 2 + 2 * np.int64(data[pos + 1])
        else:
            return cls, False
    return cls, pos >= end


@njit(**UNCOUNTED)
def _cip_request(data, cip, cend):  # type: ignore[no-untyped-def]
    """(service, class, count it?) of a CIP request; not counted: the analyzer needs it (identity, connection
    set-up, problems), so it is handed off with its reply."""
    if cend - cip < 2:
        return 0, -1, False
    service = np.int64(data[cip]) & 0x7F
    pend = cip + 2 + 2 * np.int64(data[cip + 1])
    if pend > cend:
        return service, -1, False
    cls, ok = path_class(data, cip + 2, pend)
    if not ok or cls == CLASS_IDENTITY:
        return service, cls, False
    if cls == CLASS_CONNECTION_MANAGER and service in CONNECTION_SETUP:
        return service, cls, False
    if cls == CLASS_CONNECTION_MANAGER and service == UNCONNECTED_SEND:
        dl = cend - pend
        if dl < 4:
            return service, cls, False
        size = le16(data, pend + 2)
        e = 4 + size
        if e > dl or size < 2:
            return service, cls, False
        emb = pend + 4
        epend = emb + 2 + 2 * np.int64(data[emb + 1])
        if epend > emb + size:
            return service, cls, False
        ecls, eok = path_class(data, emb + 2, epend)
        if not eok or ecls == CLASS_IDENTITY:
            return service, cls, False
        e += size & 1
        if e + 2 > dl or e + 2 + 2 * np.int64(data[pend + e]) > dl:
            return service, cls, False
    return service, cls, True


@njit(**UNCOUNTED)
def _slot(work, col_n, col, key, take):  # type: ignore[no-untyped-def]
    """Find ``key`` among the flow's handed requests of one kind; ``take``: remove it. Returns found."""
    n = work[col_n]
    for k in range(n):
        if work[col + k] == key:
            if take:
                work[col + k] = work[col + n - 1]
                work[col_n] = n - 1
            return True
    return False


@njit(**UNCOUNTED)
def _enip_message(data, pos, total, resp_dir, work, ops):  # type: ignore[no-untyped-def]
    """(is_response, op) of a SendRRData/SendUnitData message to count; is_response -1: hand it off;
    -2: hand it off and remember its key (its reply goes to Python too); -3: give the flow up."""
    body, end = pos + ENIP_HEADER, pos + total
    if end - body < 8:
        return -1, 0
    n_items = le16(data, body + 6)
    if n_items > MAX_CPF_ITEMS:
        return -1, 0
    p = body + 8
    data_at = data_len = addr_len = -1
    command = le16(data, pos)
    data_kind = CPF_UNCONNECTED_DATA if command == SEND_RR_DATA else CPF_CONNECTED_DATA
    for _ in range(n_items):
        if p + 4 > end:
            return -1, 0
        kind, length = le16(data, p), le16(data, p + 2)
        if p + 4 + length > end:
            return -1, 0
        if kind == CPF_SOCKADDR_OT or kind == CPF_SOCKADDR_TO:
            return -1, 0
        if kind == data_kind and data_at < 0:
            data_at, data_len = p + 4, length
        elif command == SEND_UNIT_DATA and kind == CPF_CONNECTED_ADDRESS and addr_len < 0:
            addr_len = length
        p += 4 + length
    if command == SEND_RR_DATA:
        if data_at < 0:
            return -1, 0
        cip, key = data_at, np.int64(0)
        for k in range(8):
            key |= np.int64(data[pos + 12 + k]) << (8 * k)
        col_n, col = np.int64(C_RR_N), np.int64(C_RR)
    else:
        if addr_len < 4 or data_at < 0 or data_len < 2:
            return -1, 0
        cip, key = data_at + 2, le16(data, data_at)
        col_n, col = np.int64(C_UNIT_N), np.int64(C_UNIT)
    cend = data_at + data_len
    if cend <= cip:
        return -1, 0
    if data[cip] & 0x80:  # a reply
        if cend - cip < 4 or cip + 4 + 2 * np.int64(data[cip + 3]) > cend:
            return -1, 0
        if _slot(work, col_n, col, key, True):
            return -1, 0  # its request went to Python, so does the reply (identity, connection ids)
        return 1, OP_NONE
    service, cls, counted = _cip_request(data, cip, cend)
    if not counted:
        if _slot(work, col_n, col, key, False) or work[col_n] >= ENIP_SLOTS:
            return -3, 0
        work[col + work[col_n]] = key
        work[col_n] += 1
        return -2, 0
    return 0, np.int64(ops[OPS_ENIP_FILE if cls == 0x37 else OPS_ENIP, service])


@njit(**UNCOUNTED)
def enip_segment(data, pos, end, d, side, ts, work, runs, ops):  # type: ignore[no-untyped-def]
    nr = 0
    while pos < end:
        if end - pos < ENIP_HEADER:
            return False, nr
        command = le16(data, pos)
        if command > 0xFF:
            return False, nr
        total = ENIP_HEADER + le16(data, pos + 2)
        if pos + total > end:
            return False, nr
        resp = np.int64(-1)
        op = np.int64(OP_NONE)
        if command == SEND_RR_DATA or command == SEND_UNIT_DATA:
            resp, op = _enip_message(data, pos, total, side, work, ops)
            if resp == -3:
                return False, nr
        if resp < 0:  # sessions, list commands (identity), and what the analyzer must see
            nr = hand_off(work, d, runs, nr, pos, total)
            if nr < 0:
                return False, 0
        else:
            count(work, d, side, resp, op, ts)
        pos += total
    return True, nr

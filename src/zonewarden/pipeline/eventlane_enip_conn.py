"""Connection state of the event lane's EtherNet/IP encoder (eventlane_enip): the outstanding requests, the
connection pairs and routes (EnipCore._rr, _unit, _pairs, _routes), and the Connection Manager's fields
(Forward Open, Large Forward Open, Forward Close: wire_cm.py, cip_fields._connection_fields) with the socket
address items, as the event's tail writes them.

State columns: counts, then MAX_PENDING slots of SLOT columns (the outstanding requests in the order they
were made: the analyzer's two ordered dicts in one list, a SendRRData request with sequence -1), the pairs
(reply connection id << 32 | request connection id) and the routes (connection id << 8 | dictionary index of
the route's bytes). State bytes: the path dictionary's entry ends (eventlane_enip_cip), then the MSP entries'
references (one byte each, the outstanding requests' in their order), then the dictionary's bytes.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import msgspec
import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED, lit, write_bytes, write_hex, write_ipv4, write_null, write_uint
from zonewarden.pipeline import eventlane_enip_cip as cip
from zonewarden.pipeline.eventlane_layout import ST_COLS
from zonewarden.protocols.enip.events import EnipEvent

ST_NPEND, ST_NPAIR, ST_NROUTE, ST_SLOTS = 0, 1, 3, 4  # (column 2: cip.ST_NDICT)
MAX_PENDING = 12
# Per outstanding request: key (sender context or connection id), sequence (-1: SendRRData), frame,
# services (request | target << 8), paths (dictionary indices: request | target << 8 | (route + 1) << 16, the
# route an Unconnected Send's or a Forward Open's connection path's), MSP entries of the target (-1: not one).
SLOT = 6
ST_PAIRS = ST_SLOTS + MAX_PENDING * SLOT
MAX_PAIRS = 14
ST_ROUTES = ST_PAIRS + MAX_PAIRS
MAX_ROUTES = ST_COLS - ST_ROUTES
SB_REFS = 2 * cip.MAX_DICT
REFS_BYTES = cip.SB_DICT - SB_REFS
U32 = 0xFFFFFFFF
NO = -1

# Connection fields' kinds.
C_NONE, C_OPEN, C_LARGE_OPEN, C_CLOSE, C_OPEN_REPLY, C_TRIAD = 0, 1, 2, 3, 4, 5
_FIELDS = [f.name for f in msgspec.structs.fields(EnipEvent)]


def _keys(first: str, last: str, value: str = "") -> list[str]:
    return [f',"{n}":{value}' for n in _FIELDS[_FIELDS.index(first) : _FIELDS.index(last) + 1]]


K_OT_ID, K_TO_ID, K_SERIAL, K_VENDOR, K_ORIG_SERIAL, K_OT_RPI, K_TO_RPI, K_TRANSPORT = (
    lit(k) for k in _keys("ot_connection_id", "transport_type"))
K_CONN_NULLS = lit("".join(_keys("ot_connection_id", "connection_path", "null")))
K_TRIAD_NULLS = lit("".join(_keys("ot_rpi", "connection_path", "null")))
K_PATH = lit(',"connection_path":"')
K_PATH_NULL = lit(',"connection_path":null')
K_OT_SOCK = lit(',"ot_sockaddr":"')
K_OT_SOCK_NULL = lit(',"ot_sockaddr":null')
K_TO_SOCK = lit(',"to_sockaddr":"')
K_TO_SOCK_NULL = lit(',"to_sockaddr":null')
K_TAIL = lit("".join(_keys("vendor_id", "capability_flags", "null")) + ',"request_frame":')
K_ROUTE = lit(',"route_path":"')
K_ROUTE_NULL = lit(',"route_path":null')
K_END = lit("}\n")


# --- outstanding requests, pairs, routes ----------------------------------------------------------------


@njit(**UNCOUNTED)
def refs_start(st, k):  # type: ignore[no-untyped-def]
    """Where slot k's MSP references start (the slots' references are stored in slot order)."""
    r = 0
    for j in range(k):
        r += max(st[ST_SLOTS + j * SLOT + 5], 0)
    return r


@njit(**UNCOUNTED)
def find(st, key, seq):  # type: ignore[no-untyped-def]
    for k in range(st[ST_NPEND]):
        s = ST_SLOTS + k * SLOT
        if st[s] == key and st[s + 1] == seq:
            return k
    return -1


@njit(**UNCOUNTED)
def remove(st, sb, k):  # type: ignore[no-untyped-def]
    """Drop slot k, keeping the others (and their references) in order."""
    n = st[ST_NPEND]
    r0 = refs_start(st, k)
    m = max(st[ST_SLOTS + k * SLOT + 5], 0)
    total = refs_start(st, n)
    for j in range(r0, total - m):
        sb[SB_REFS + j] = sb[SB_REFS + j + m]
    for j in range(ST_SLOTS + k * SLOT, ST_SLOTS + (n - 1) * SLOT):
        st[j] = st[j + SLOT]
    st[ST_NPEND] = n - 1


@njit(**UNCOUNTED)
def pair(st, reply_id, request_id):  # type: ignore[no-untyped-def]
    """EnipCore._pair; False when the pairs are full (refuse)."""
    n = st[ST_NPAIR]
    for k in range(n):
        if (st[ST_PAIRS + k] >> 32) & U32 == reply_id:
            st[ST_PAIRS + k] = (reply_id << 32) | request_id
            return True
    if n >= MAX_PAIRS:
        return False
    st[ST_PAIRS + n] = (reply_id << 32) | request_id
    st[ST_NPAIR] = n + 1
    return True


@njit(**UNCOUNTED)
def match(st, key, seq):  # type: ignore[no-untyped-def]
    """EnipCore._match: the slot of the request a reply answers, -1 if none; -2: refuse (pairs full)."""
    if seq < 0:
        return find(st, key, -1)
    for k in range(st[ST_NPAIR]):
        if (st[ST_PAIRS + k] >> 32) & U32 == key:
            return find(st, st[ST_PAIRS + k] & U32, seq)
    for k in range(st[ST_NPEND]):  # the oldest SendUnitData request with this sequence count: pair them
        s = ST_SLOTS + k * SLOT
        if st[s + 1] == seq:
            return k if pair(st, key, st[s]) else -2
    return -1


@njit(**UNCOUNTED)
def _renumber(mask, k):  # type: ignore[no-untyped-def]
    """The index of dictionary entry k once the entries not in ``mask`` are dropped."""
    n = 0
    for j in range(k):
        n += (mask >> j) & 1
    return n


@njit(**UNCOUNTED)
def dict_gc(st, sb):  # type: ignore[no-untyped-def]
    """Drop the path dictionary's entries no outstanding request and no route refers to, keeping the others in
    order (their references renumbered)."""
    npend, nref = st[ST_NPEND], refs_start(st, st[ST_NPEND])
    mask = np.int64(0)
    for k in range(npend):
        paths = st[ST_SLOTS + k * SLOT + 4]
        mask |= (np.int64(1) << (paths & 0xFF)) | (np.int64(1) << ((paths >> 8) & 0xFF))
        if paths >> 16 > 0:
            mask |= np.int64(1) << ((paths >> 16) - 1)
    for r in range(nref):
        mask |= np.int64(1) << sb[SB_REFS + r]
    for k in range(st[ST_NROUTE]):
        mask |= np.int64(1) << (st[ST_ROUTES + k] & 0xFF)
    prev = used = m = 0
    for k in range(st[cip.ST_NDICT]):
        end = cip.u16(sb, cip.SB_DOFF + 2 * k)
        if (mask >> k) & 1:
            for j in range(prev, end):
                sb[cip.SB_DICT + used + j - prev] = sb[cip.SB_DICT + j]
            used += end - prev
            sb[cip.SB_DOFF + 2 * m] = used & 0xFF
            sb[cip.SB_DOFF + 2 * m + 1] = used >> 8
            m += 1
        prev = end
    st[cip.ST_NDICT] = m
    for k in range(npend):
        s = ST_SLOTS + k * SLOT + 4
        paths = st[s]
        route = paths >> 16
        st[s] = _renumber(mask, paths & 0xFF) | (_renumber(mask, (paths >> 8) & 0xFF) << 8) | (
            (_renumber(mask, route - 1) + 1) << 16 if route > 0 else 0)
    for r in range(nref):
        sb[SB_REFS + r] = _renumber(mask, sb[SB_REFS + r])
    for k in range(st[ST_NROUTE]):
        v = st[ST_ROUTES + k]
        st[ST_ROUTES + k] = (v >> 8 << 8) | _renumber(mask, v & 0xFF)


@njit(**UNCOUNTED)
def route_get(st, connection):  # type: ignore[no-untyped-def]
    """The dictionary index of the route of a connection a Forward Open opened, -1 if none."""
    for k in range(st[ST_NROUTE]):
        if st[ST_ROUTES + k] >> 8 == connection:
            return st[ST_ROUTES + k] & 0xFF
    return -1


@njit(**UNCOUNTED)
def route_set(st, connection, index):  # type: ignore[no-untyped-def]
    """EnipCore._route for one id; False when the routes are full (refuse)."""
    n = st[ST_NROUTE]
    for k in range(n):
        if st[ST_ROUTES + k] >> 8 == connection:
            st[ST_ROUTES + k] = (connection << 8) | index
            return True
    if n >= MAX_ROUTES:
        return False
    st[ST_ROUTES + n] = (connection << 8) | index
    st[ST_NROUTE] = n + 1
    return True


# --- the Connection Manager's fields ------------------------------------------------------------------


@njit(**UNCOUNTED)
def conn_fields_ok(kind, data, a, b):  # type: ignore[no-untyped-def]
    """Whether the request or reply data data[a:b] holds the connection fields of ``kind`` (the analyzer
    reports a malformed_cip otherwise); returns (ok, connection path start, its end)."""
    n = b - a
    if kind in (C_OPEN, C_LARGE_OPEN):
        need = 35 if kind == C_OPEN else 39
        if n < need + 1 or n < need + 1 + 2 * data[a + need]:
            return False, 0, 0
        return True, a + need + 1, a + need + 1 + 2 * data[a + need]
    if kind == C_CLOSE:
        if n < 11 or n < 12 + 2 * data[a + 10]:
            return False, 0, 0
        return True, a + 12, a + 12 + 2 * data[a + 10]
    return n >= (24 if kind == C_OPEN_REPLY else 8), 0, 0


@njit(**UNCOUNTED)
def _triad(out, pos, data, a):  # type: ignore[no-untyped-def]
    pos = write_uint(out, write_bytes(out, pos, K_SERIAL), cip.u16(data, a))
    pos = write_uint(out, write_bytes(out, pos, K_VENDOR), cip.u16(data, a + 2))
    return write_uint(out, write_bytes(out, pos, K_ORIG_SERIAL), cip.u32(data, a + 4))


@njit(**UNCOUNTED)
def _sockaddr(out, pos, data, item, key, null):  # type: ignore[no-untyped-def]
    """A socket address item's data (sockaddr_in: family, port, address in network byte order) as address:port."""
    if item < 0:
        return write_bytes(out, pos, null)
    pos = write_bytes(out, pos, key)
    addr = np.int64(0)
    for k in range(4):
        addr = (addr << 8) | data[item + 4 + k]
    pos = write_ipv4(out, pos, addr)
    out[pos] = 58
    pos = write_uint(out, pos + 1, (np.int64(data[item + 2]) << 8) | data[item + 3])
    out[pos] = 34
    return pos + 1


@njit(**UNCOUNTED)
def tail(out, pos, data, kind, a, b, ot_item, to_item, request_frame):  # type: ignore[no-untyped-def]
    """The event from ot_connection_id to its end: the connection fields of ``kind`` (data[a:b] the request's
    or the reply's data), the socket address items (at ot_item / to_item, -1: none), request_frame (-1: null)."""
    if kind == C_NONE:
        pos = write_bytes(out, pos, K_CONN_NULLS)
    elif kind in (C_OPEN_REPLY, C_TRIAD):
        if kind == C_OPEN_REPLY:
            pos = write_uint(out, write_bytes(out, pos, K_OT_ID), cip.u32(data, a))
            pos = write_uint(out, write_bytes(out, pos, K_TO_ID), cip.u32(data, a + 4))
            pos = _triad(out, pos, data, a + 8)
            pos = write_uint(out, write_bytes(out, pos, K_OT_RPI), cip.u32(data, a + 16))
            pos = write_uint(out, write_bytes(out, pos, K_TO_RPI), cip.u32(data, a + 20))
            pos = write_null(out, write_bytes(out, pos, K_TRANSPORT))
            pos = write_bytes(out, pos, K_PATH_NULL)
        else:
            pos = write_null(out, write_bytes(out, pos, K_OT_ID))
            pos = write_null(out, write_bytes(out, pos, K_TO_ID))
            pos = write_bytes(out, _triad(out, pos, data, a), K_TRIAD_NULLS)
    else:
        _ok, p0, p1 = conn_fields_ok(kind, data, a, b)
        if kind == C_CLOSE:
            pos = write_null(out, write_bytes(out, pos, K_OT_ID))
            pos = write_null(out, write_bytes(out, pos, K_TO_ID))
            pos = _triad(out, pos, data, a + 2)
            pos = write_null(out, write_bytes(out, pos, K_OT_RPI))
            pos = write_null(out, write_bytes(out, pos, K_TO_RPI))
            pos = write_null(out, write_bytes(out, pos, K_TRANSPORT))
        else:
            large = 2 if kind == C_LARGE_OPEN else 0
            pos = write_uint(out, write_bytes(out, pos, K_OT_ID), cip.u32(data, a + 2))
            pos = write_uint(out, write_bytes(out, pos, K_TO_ID), cip.u32(data, a + 6))
            pos = _triad(out, pos, data, a + 10)
            pos = write_uint(out, write_bytes(out, pos, K_OT_RPI), cip.u32(data, a + 22))
            pos = write_uint(out, write_bytes(out, pos, K_TO_RPI), cip.u32(data, a + 28 + large))
            pos = write_uint(out, write_bytes(out, pos, K_TRANSPORT), data[a + 34 + 2 * large])
        pos = write_hex(out, write_bytes(out, pos, K_PATH), data, p0, p1)
        out[pos] = 34
        pos += 1
    pos = _sockaddr(out, pos, data, ot_item, K_OT_SOCK, K_OT_SOCK_NULL)
    pos = _sockaddr(out, pos, data, to_item, K_TO_SOCK, K_TO_SOCK_NULL)
    pos = write_bytes(out, pos, K_TAIL)
    pos = write_null(out, pos) if request_frame < 0 else write_uint(out, pos, request_frame)
    return write_bytes(out, pos, K_END)


@njit(**UNCOUNTED)
def route_path(out, pos, sb, conn_route, src, r0, r1):  # type: ignore[no-untyped-def]
    """route_path: the route of the connection (dictionary index conn_route, -1: none) when it names a port,
    then the Unconnected Send's (src[r0:r1], r0 -1: none); null when neither."""
    a = b = 0
    if conn_route >= 0:
        a, b = cip.dict_span(sb, conn_route)
    if a == b and r0 < 0:
        return write_bytes(out, pos, K_ROUTE_NULL)
    pos = write_hex(out, write_bytes(out, pos, K_ROUTE), sb, a, b)
    if r0 >= 0:
        pos = write_hex(out, pos, src, r0, r1)
    out[pos] = 34
    return pos + 1

"""CIP pieces of the event lane's EtherNet/IP encoder (eventlane_enip): EPATHs, CIP request and reply headers,
Multiple Service Packet entries, and the JSON they make in an EnipEvent (the path fields, CipService records).

The rules mirror enip/wire_cip.py, wire_cm.py and cip_fields.py; a change there needs the same change here.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED, lit, write_bytes, write_null, write_slice, write_uint
from zonewarden.pipeline.eventlane_layout import SB_BYTES
from zonewarden.protocols.enip.codes import service_name

MAX_PATH_SEGMENTS = 64
MAX_MSP_SERVICES = 256  # wire_cip: above it the analyzer reports too_many_services
MAX_MSP = 64  # Multiple Service Packet entries written at most (more: refused)
CLASS_IDENTITY, CLASS_CM, CLASS_PCCC = 0x01, 0x06, 0x67
NO = -1
# The path dictionary: the raw EPATHs (request paths, route paths) the replies of outstanding requests need,
# kept in the flow's state bytes as entry ends (u16, relative to SB_DICT) and the entries' bytes; its
# entry count is state column ST_NDICT. When it is full, eventlane_enip_conn.dict_gc drops the entries no one
# needs any more.
ST_NDICT = 2
MAX_DICT = 40
SB_DOFF = 0
SB_DICT = 464
DICT_BYTES = SB_BYTES - SB_DICT


def _names_by_context() -> tuple[np.ndarray, np.ndarray]:
    """Service names for the 8 naming contexts (bit 0: Connection Manager class, bit 1: symbolic path or a
    Logix class, bit 2: PCCC class): what codes.service_name gives, quoted."""
    parts: list[bytes] = []
    offsets = np.zeros((8, 129), np.int64)
    total = 0
    for ctx in range(8):
        cls = CLASS_CM if ctx & 1 else (CLASS_PCCC if ctx & 4 else None)
        for s in range(128):
            b = ('"' + service_name(s, cls, bool(ctx & 2)) + '"').encode("ascii")
            offsets[ctx, s] = total
            parts.append(b)
            total += len(b)
        offsets[ctx, 128] = total
    return np.frombuffer(b"".join(parts), np.uint8).copy(), offsets


SVC_NAMES, SVC_OFFSETS = _names_by_context()


SVC_NAMES, SVC_OFFSETS = _names_by_context()
K_CLASS = lit(',"cip_class":')
K_INSTANCE = lit(',"cip_instance":')
K_ATTRIBUTE = lit(',"cip_attribute":')
K_SYMBOL = lit(',"cip_symbol":"')
K_SYMBOL_NULL = lit(',"cip_symbol":null')
K_STATUS = lit(',"cip_status":')
K_EXTENDED = lit(',"cip_extended_status":')
K_REC_SERVICE = lit('{"service":')
K_REC_NAME = lit(',"service_name":')
K_EMBEDDED = lit(',"embedded":')


@njit(**UNCOUNTED)
def u16(src, k):  # type: ignore[no-untyped-def]
    return np.int64(src[k]) | (np.int64(src[k + 1]) << 8)


@njit(**UNCOUNTED)
def u32(src, k):  # type: ignore[no-untyped-def]
    return u16(src, k) | (u16(src, k + 2) << 16)


@njit(**UNCOUNTED)
def path_ctx(cls, symbolic):  # type: ignore[no-untyped-def]
    """The naming context (SVC_NAMES row) of a path's class and whether it names a symbol."""
    c = 0
    if cls == CLASS_CM:
        c |= 1
    if symbolic or cls == 0x6B or cls == 0x6C:
        c |= 2
    if cls == CLASS_PCCC:
        c |= 4
    return c


@njit(**UNCOUNTED)
def svc_name(out, pos, ctx, service):  # type: ignore[no-untyped-def]
    return write_slice(out, pos, SVC_NAMES, SVC_OFFSETS[ctx, service], SVC_OFFSETS[ctx, service + 1])


@njit(**UNCOUNTED)
def _symbol_ok(src, a, b):  # type: ignore[no-untyped-def]
    """Whether msgspec writes these (latin-1) characters as themselves: printable ASCII, no quote or backslash."""
    for k in range(a, b):
        c = src[k]
        if c < 0x20 or c > 0x7E or c == 0x22 or c == 0x5C:
            return False
    return True


@njit(**UNCOUNTED)
def path(src, a, b, out, opos, write):  # type: ignore[no-untyped-def]
    """wire_cip.parse_path over src[a:b]: (ok, class, instance, attribute, symbol length or -1, opos).

    ``ok`` False where parse_path records a problem (or a symbol would need escaping). ``write`` 1: the
    symbol's characters (segments joined with ``.``) are written to out at opos; 2: the port segments as
    sent (CipPath.route), symbols unchecked."""
    cls = inst = attr = member = NO
    sym = NO
    pos = a
    for _ in range(MAX_PATH_SEGMENTS):
        if pos >= b:
            return True, cls, inst, attr, sym, opos
        seg = np.int64(src[pos])
        kind = seg >> 5
        if kind == 0:  # port segment
            p = pos + 1
            link = np.int64(1)
            if seg & 0x10:
                if p >= b:
                    return False, cls, inst, attr, sym, opos
                link = np.int64(src[p])
                p += 1
            if seg & 0x0F == 0x0F:
                if p + 2 > b:
                    return False, cls, inst, attr, sym, opos
                p += 2
            if p + link > b:
                return False, cls, inst, attr, sym, opos
            p += link
            p += (p - pos) & 1
            if write == 2:
                opos = write_slice(out, opos, src, pos, min(p, b))  # (a missing pad byte: the path's end)
            pos = p
        elif kind == 1:  # logical segment
            lkind, fmt = (seg >> 2) & 7, seg & 3
            if lkind == 5:  # electronic key
                if pos + 10 > b or src[pos + 1] != 4:
                    return False, cls, inst, attr, sym, opos
                pos += 10
                continue
            if fmt == 3:
                return False, cls, inst, attr, sym, opos
            size = np.int64(1) if fmt == 0 else (np.int64(2) if fmt == 1 else np.int64(4))
            start = pos + 1 + (0 if fmt == 0 else 1)
            if start + size > b:
                return False, cls, inst, attr, sym, opos
            value = np.int64(0)
            for k in range(size):
                value |= np.int64(src[start + k]) << (8 * k)
            if lkind == 0 and cls < 0:
                cls = value
            elif lkind == 1 and inst < 0:
                inst = value
            elif lkind == 2 and member < 0:
                member = value
            elif lkind == 4 and attr < 0:
                attr = value
            pos = start + size
        elif kind == 2:  # network segment
            if pos + 2 > b:
                return False, cls, inst, attr, sym, opos
            pos += 2 if seg & 0x10 == 0 else 2 + 2 * np.int64(src[pos + 1])
        elif kind == 3 or seg == 0x91:  # symbolic / ANSI extended symbol segment
            if kind == 3:
                size = seg & 0x1F
                if size == 0 or pos + 1 + size > b:
                    return False, cls, inst, attr, sym, opos
                s0 = pos + 1
                nxt = pos + 1 + size + (size + 1) % 2
            else:
                if pos + 2 > b or pos + 2 + np.int64(src[pos + 1]) > b:
                    return False, cls, inst, attr, sym, opos
                size = np.int64(src[pos + 1])
                s0 = pos + 2
                nxt = pos + 2 + size + size % 2
            if write != 2 and not _symbol_ok(src, s0, s0 + size):
                return False, cls, inst, attr, sym, opos
            if sym >= 0:
                sym += 1
                if write == 1:
                    out[opos] = 46
                    opos += 1
            else:
                sym = 0
            sym += size
            if write == 1:
                opos = write_slice(out, opos, src, s0, s0 + size)
            pos = nxt
        elif seg == 0x80:  # simple data segment
            if pos + 2 > b:
                return False, cls, inst, attr, sym, opos
            pos += 2 + 2 * np.int64(src[pos + 1])
        else:
            return False, cls, inst, attr, sym, opos
    return False, cls, inst, attr, sym, opos


@njit(**UNCOUNTED)
def opt_uint(out, pos, key, v):  # type: ignore[no-untyped-def]
    pos = write_bytes(out, pos, key)
    return write_null(out, pos) if v < 0 else write_uint(out, pos, v)


@njit(**UNCOUNTED)
def event_path(out, pos, src, a, b):  # type: ignore[no-untyped-def]
    """The event's cip_class, cip_instance, cip_attribute and cip_symbol of the path src[a:b] (nulls written)."""
    _ok, cls, inst, attr, sym, _o = path(src, a, b, out, 0, 0)
    pos = opt_uint(out, pos, K_CLASS, cls)
    pos = opt_uint(out, pos, K_INSTANCE, inst)
    pos = opt_uint(out, pos, K_ATTRIBUTE, attr)
    if sym < 0:
        return write_bytes(out, pos, K_SYMBOL_NULL)
    pos = write_bytes(out, pos, K_SYMBOL)
    pos = path(src, a, b, out, pos, 1)[5]
    out[pos] = 34
    return pos + 1


@njit(**UNCOUNTED)
def record(out, pos, service, src, a, b, has_path, status, extended):  # type: ignore[no-untyped-def]
    """A CipService record (null fields left out): the service named in the context of the path src[a:b]
    (none: has_path False), the path's fields, and a reply's status (status >= 0)."""
    pos = write_bytes(out, pos, K_REC_SERVICE)
    pos = write_uint(out, pos, service)
    pos = write_bytes(out, pos, K_REC_NAME)
    if not has_path:
        pos = svc_name(out, pos, 0, service)
    else:
        _ok, cls, inst, attr, sym, _o = path(src, a, b, out, 0, 0)
        pos = svc_name(out, pos, path_ctx(cls, sym >= 0), service)
        if cls >= 0:
            pos = write_bytes(out, pos, K_CLASS)
            pos = write_uint(out, pos, cls)
        if inst >= 0:
            pos = write_bytes(out, pos, K_INSTANCE)
            pos = write_uint(out, pos, inst)
        if attr >= 0:
            pos = write_bytes(out, pos, K_ATTRIBUTE)
            pos = write_uint(out, pos, attr)
        if sym >= 0:
            pos = write_bytes(out, pos, K_SYMBOL)
            pos = path(src, a, b, out, pos, 1)[5]
            out[pos] = 34
            pos += 1
    if status >= 0:
        pos = write_bytes(out, pos, K_STATUS)
        pos = write_uint(out, pos, status)
        if extended >= 0:
            pos = write_bytes(out, pos, K_EXTENDED)
            pos = write_uint(out, pos, extended)
    out[pos] = 125
    return pos + 1


@njit(**UNCOUNTED)
def embedded(out, pos, service, src, a, b):  # type: ignore[no-untyped-def]
    """``embedded``: the record of the request src[a:b] names (an Unconnected Send's)."""
    return record(out, write_bytes(out, pos, K_EMBEDDED), service, src, a, b, True, NO, NO)


@njit(**UNCOUNTED)
def msp_span(data, t0, t1, k, listed):  # type: ignore[no-untyped-def]
    """Entry k of the Multiple Service Packet data[t0:t1] as parse_multiple_service cuts it: (start, end),
    start -1 when the analyzer would report the entry (offset outside the packet)."""
    n = t1 - t0
    start = u16(data, t0 + 2 + 2 * k)
    end = u16(data, t0 + 4 + 2 * k) if k + 1 < listed else n
    if not (start < end <= n):
        end = n
    if not (2 + 2 * listed <= start < end):
        return -1, 0
    return t0 + start, t0 + end


@njit(**UNCOUNTED)
def msp_count(data, t0, t1):  # type: ignore[no-untyped-def]
    """The number of entries of the Multiple Service Packet data[t0:t1]; -1: refuse (an anomaly or too many)."""
    if t1 - t0 < 2:
        return -1
    count = u16(data, t0)
    if count > MAX_MSP_SERVICES or count > MAX_MSP or 2 + 2 * count > t1 - t0:
        return -1
    return count


@njit(**UNCOUNTED)
def cip_request(data, a, b, out):  # type: ignore[no-untyped-def]
    """parse_request over data[a:b] with a path the analyzer reports nothing about: (ok, path end)."""
    if b - a < 2:
        return False, 0
    pe = a + 2 + 2 * np.int64(data[a + 1])
    if pe > b:
        return False, 0
    ok, _c, _i, _a, _s, _o = path(data, a + 2, pe, out, 0, 0)
    return ok, pe


@njit(**UNCOUNTED)
def cip_reply(data, a, b):  # type: ignore[no-untyped-def]
    """parse_reply over data[a:b]: (ok, status, first extended status or -1, data start)."""
    if b - a < 4:
        return False, 0, NO, 0
    words = np.int64(data[a + 3])
    if a + 4 + 2 * words > b:
        return False, 0, NO, 0
    ext = u16(data, a + 4) if words > 0 else NO
    return True, np.int64(data[a + 2]), ext, a + 4 + 2 * words


@njit(**UNCOUNTED)
def dict_span(sb, k):  # type: ignore[no-untyped-def]
    """Where dictionary entry k is in sb: (start, stop)."""
    start = 0 if k == 0 else u16(sb, SB_DOFF + 2 * (k - 1))
    return SB_DICT + start, SB_DICT + u16(sb, SB_DOFF + 2 * k)


@njit(**UNCOUNTED)
def dict_put(st, sb, src, a, b):  # type: ignore[no-untyped-def]
    """The index of the dictionary entry holding src[a:b] (added if new); -1 when the dictionary is full."""
    n = st[ST_NDICT]
    size = b - a
    for k in range(n):
        s, e = dict_span(sb, k)
        if e - s == size:
            same = True
            for j in range(size):
                if sb[s + j] != src[a + j]:
                    same = False
                    break
            if same:
                return k
    used = 0 if n == 0 else u16(sb, SB_DOFF + 2 * (n - 1))
    if n >= MAX_DICT or used + size > DICT_BYTES:
        return -1
    for j in range(size):
        sb[SB_DICT + used + j] = src[a + j]
    used += size
    sb[SB_DOFF + 2 * n] = used & 0xFF
    sb[SB_DOFF + 2 * n + 1] = used >> 8
    st[ST_NDICT] = n + 1
    return n

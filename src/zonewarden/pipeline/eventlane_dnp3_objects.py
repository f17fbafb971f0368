"""The event lane's DNP3 encoder, its object walk: the object headers of an application fragment as
wire_app's walker reads them (qualifiers, ranges, index and size prefixes, which objects carry values), and
their points as wire_objects' layouts decode them, written as Dnp3Point's JSON (absent fields left out).
eventlane_dnp3 has the rest (link frames, transport, request matching, the event).
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import math

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED, lit, write_bytes, write_uint
from zonewarden.protocols.dnp3 import codes
from zonewarden.protocols.dnp3.codes import DATA_REQUESTS, RESPONSE_FUNCTIONS
from zonewarden.protocols.dnp3.wire_app import MAX_OBJECTS, MAX_POINTS
from zonewarden.protocols.dnp3.wire_objects import LAYOUTS, OCTET_GROUPS, PACKED_1BIT, PACKED_2BIT, is_empty

# Per function code: 1 a request whose objects carry values (codes.DATA_REQUESTS), 2 a response (the walker's
# data_function is either), 0 else.
DATA_FUNCTION = np.zeros(256, np.uint8)
DATA_FUNCTION[list(DATA_REQUESTS)] = 1
DATA_FUNCTION[list(RESPONSE_FUNCTIONS)] = 2
FREEZE_AT_TIME = np.zeros(256, np.uint8)  # codes.FREEZE_AT_TIME: the g50 object carries values
FREEZE_AT_TIME[list(codes.FREEZE_AT_TIME)] = 1
# Per group * 256 + variation: objects that never carry values (wire_objects.is_empty); bits per point of the
# packed objects (0 not packed); octet string groups.
EMPTY = np.array([is_empty(k >> 8, k & 255) for k in range(256 * 256)], np.uint8)
PACKED = np.zeros(256 * 256, np.int64)
for _g, _v in PACKED_1BIT:
    PACKED[_g * 256 + _v] = 1
for _g, _v in PACKED_2BIT:
    PACKED[_g * 256 + _v] = 2
OCTETS = np.zeros(256, np.uint8)
OCTETS[list(OCTET_GROUPS)] = 1
# Qualifier range codes: bytes of the range field and its kind (1 start/stop, 2 address, 3 count, 0 all);
# -1 reserved. Prefix codes: bytes of the prefix (index prefixes 1-3, size prefixes 4-6); -1 reserved.
RANGE_WIDTH = np.array([2, 4, 8, 1, 2, 4, 0, 1, 2, 4, -1, 1, -1, -1, -1, -1], np.int64)
RANGE_KIND = np.array([1, 1, 1, 2, 2, 2, 0, 3, 3, 3, -1, 3, -1, -1, -1, -1], np.int64)
PREFIX_LEN = np.array([0, 1, 2, 4, 1, 2, 4, -1], np.int64)

# Fixed layouts (wire_objects.LAYOUTS) as letter strings: LAYOUT_OF[group * 256 + variation] is the layout
# number (-1 none), its letters LAYOUT_BYTES[LAYOUT_OFF[n]:LAYOUT_OFF[n + 1]]; layout B_LAYOUT is "B"
# (packed points with an index prefix, one octet each).
_layouts = sorted({*LAYOUTS.values(), "B"})
LAYOUT_OFF = np.zeros(len(_layouts) + 1, np.int64)
LAYOUT_OFF[1:] = np.cumsum([len(x) for x in _layouts])
LAYOUT_BYTES = lit("".join(_layouts))
B_LAYOUT = _layouts.index("B")
LAYOUT_OF = np.full(256 * 256, -1, np.int64)
for (_g, _v), _layout in LAYOUTS.items():
    LAYOUT_OF[_g * 256 + _v] = _layouts.index(_layout)
INT_LETTER = np.zeros(128, np.uint8)  # the integer value letters
for _c in "BuiUI":
    INT_LETTER[ord(_c)] = 1
# Bytes per layout letter (0 for letters not in any layout).
LETTER_SIZE = np.zeros(128, np.int64)
for _c, _n in {"f": 1, "q": 1, "d": 1, "c": 1, "s": 1, "B": 1, "x": 1, "u": 2, "i": 2, "R": 2, "U": 4, "I": 4,
               "F": 4, "D": 8, "T": 6, "C": 11}.items():
    LETTER_SIZE[ord(_c)] = _n
LAYOUT_SIZE = np.array([sum(int(LETTER_SIZE[ord(c)]) for c in x) for x in _layouts], np.int64)

K_P_OBJECT = lit('{"object":"g')
K_P_INDEX = lit(',"index":')
K_P_VALUE = lit(',"value":')
K_P_FLAGS = lit(',"flags":')
K_P_TIME = lit(',"time":')
K_P_STATUS = lit(',"status":')
K_P_CONTROL_CODE = lit(',"control_code":')
K_P_COUNT = lit(',"count":')
K_P_ON_TIME = lit(',"on_time":')
K_P_OFF_TIME = lit(',"off_time":')

# Walker modes: check (and count), then write objects, qualifiers, ranges, points.
W_CHECK, W_OBJECTS, W_QUALIFIERS, W_RANGES, W_POINTS = 0, 1, 2, 3, 4
# Ordinary letters (ord) of the layouts.
L_f, L_q, L_d, L_c, L_s, L_B, L_x = ord("f"), ord("q"), ord("d"), ord("c"), ord("s"), ord("B"), ord("x")
L_u, L_i, L_U, L_I, L_F, L_D, L_T, L_R, L_C = (ord("u"), ord("i"), ord("U"), ord("I"), ord("F"), ord("D"), ord("T"),
                                             ord("R"), ord("C"))
TWO53 = 9007199254740992.0
SMALLEST_FRACTION = 2.0 ** -13  # below it msgspec might write an exponent: refused


@njit(**UNCOUNTED)
def _le(buf, p, n):  # type: ignore[no-untyped-def]
    """Unsigned little-endian integer of buf[p:p+n]."""
    v = np.int64(0)
    for k in range(n - 1, -1, -1):
        v = (v << 8) | np.int64(buf[p + k])
    return v


@njit(**UNCOUNTED)
def _f32(u):  # type: ignore[no-untyped-def]
    """The float32 with bits ``u`` as a double (exact); finite: False for inf and NaN."""
    e = (u >> 23) & 0xFF
    m = u & 0x7FFFFF
    if e == 0xFF:
        return 0.0, False
    x = math.ldexp(np.float64(m), -149) if e == 0 else math.ldexp(np.float64(m | 0x800000), e - 150)
    return (-x if u >> 31 else x), True


@njit(**UNCOUNTED)
def _f64(u):  # type: ignore[no-untyped-def]
    """The double with bits ``u`` (an int64 holding the 64 bits); finite: False for inf and NaN."""
    e = (u >> 52) & 0x7FF
    m = u & 0xFFFFFFFFFFFFF
    if e == 0x7FF:
        return 0.0, False
    x = math.ldexp(np.float64(m), -1074) if e == 0 else math.ldexp(np.float64(m | 0x10000000000000), e - 1075)
    return (-x if (u >> 63) & 1 else x), True


@njit(**UNCOUNTED)
def _ndigits(v):  # type: ignore[no-untyped-def]
    n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


@njit(**UNCOUNTED)
def _write_float(out, pos, x, neg):  # type: ignore[no-untyped-def]
    """A finite double as msgspec writes it, or -1 when this cannot be proven. Written: integral values below
    2**53 (``N.0``), and values whose exact decimal form has at most 15 significant digits and at most 18
    fraction digits (a dyadic fraction k / 2**n, n <= 18), at least SMALLEST_FRACTION: at most 15 digits
    (DBL_DIG), the exact form is the only one that reads back as x, hence the shortest, which msgspec and
    repr write positionally in this range."""
    a = -x if neg else x
    if a >= TWO53:
        return -1
    ip = np.int64(a)
    frac = a - np.float64(ip)
    k = 0
    digits = np.int64(0)
    while frac != math.floor(frac):
        frac *= 2.0
        k += 1
        if k > 18:
            return -1
    if k:
        if ip == 0 and a < SMALLEST_FRACTION:
            return -1
        digits = np.int64(frac)
        for _ in range(k):
            digits *= 5
        sig = _ndigits(ip) + k if ip else _ndigits(digits)
        if sig > 15:
            return -1
    if neg:
        out[pos] = 45
        pos += 1
    pos = write_uint(out, pos, ip)
    out[pos] = 46
    pos += 1
    if k == 0:
        out[pos] = 48
        return pos + 1
    for j in range(k):
        out[pos + k - 1 - j] = 48 + digits % 10
        digits //= 10
    return pos + k


@njit(**UNCOUNTED)
def _point(buf, at, lay, mask, out, pos, group, variation, has_index, index):  # type: ignore[no-untyped-def]
    """One point of layout ``lay`` at buf[at:] as Dnp3Point's JSON (absent fields left out); -1 when its value
    is a float this cannot write exactly."""
    has_value = False
    vkind = 0  # 1 int, 2 float, 3 non-finite float (null: left out)
    ival = np.int64(0)
    fval = 0.0
    fneg = False
    flags = status = time = control = count = on_time = off_time = np.int64(-1)
    p = at
    for li in range(LAYOUT_OFF[lay], LAYOUT_OFF[lay + 1]):
        c = LAYOUT_BYTES[li]
        if c == L_f:
            flags = np.int64(buf[p])
        elif c == L_q:
            flags = np.int64(buf[p])
            has_value, vkind, ival = True, 1, flags >> 7
        elif c == L_d:
            flags = np.int64(buf[p])
            has_value, vkind, ival = True, 1, (flags >> 6) & 3
        elif c == L_c:
            b = np.int64(buf[p])
            status = b & 0x7F
            has_value, vkind, ival = True, 1, b >> 7
        elif c == L_s:
            status = np.int64(buf[p]) & 0x7F
        elif c == L_T:
            time = _le(buf, p, 6)
        elif c == L_C:
            control = np.int64(buf[p])
            count = np.int64(buf[p + 1])
            on_time = _le(buf, p + 2, 4)
            off_time = _le(buf, p + 6, 4)
            status = np.int64(buf[p + 10]) & 0x7F
        elif not has_value and INT_LETTER[c]:
            has_value, vkind = True, 1
            n = LETTER_SIZE[c]
            ival = _le(buf, p, n)
            if c == L_B:
                if mask:
                    ival &= mask
            elif c == L_i and ival >= 0x8000:
                ival -= 0x10000
            elif c == L_I and ival >= 0x80000000:
                ival -= 0x100000000
        elif not has_value and c == L_F:
            has_value = True
            u = _le(buf, p, 4)
            fval, finite = _f32(u)
            vkind = 2 if finite else 3
            fneg = (u >> 31) & 1 == 1
        elif not has_value and c == L_D:
            has_value = True
            u = _le(buf, p, 8)  # wraps into the sign bit: _f64 reads the bits
            fval, finite = _f64(u)
            vkind = 2 if finite else 3
            fneg = (u >> 63) & 1 == 1
        p += LETTER_SIZE[c]
    pos = write_bytes(out, pos, K_P_OBJECT)
    pos = write_uint(out, pos, group)
    out[pos] = 118  # v
    pos = write_uint(out, pos + 1, variation)
    out[pos] = 34
    pos += 1
    if has_index:
        pos = write_bytes(out, pos, K_P_INDEX)
        pos = write_uint(out, pos, index)
    if vkind == 1:
        pos = write_bytes(out, pos, K_P_VALUE)
        if ival < 0:
            out[pos] = 45
            pos = write_uint(out, pos + 1, -ival)
        else:
            pos = write_uint(out, pos, ival)
    elif vkind == 2:
        pos = write_bytes(out, pos, K_P_VALUE)
        pos = _write_float(out, pos, fval, fneg)
        if pos < 0:
            return -1
    if flags >= 0:
        pos = write_bytes(out, pos, K_P_FLAGS)
        pos = write_uint(out, pos, flags)
    if time >= 0:
        pos = write_bytes(out, pos, K_P_TIME)
        pos = write_uint(out, pos, time)
    if status >= 0:
        pos = write_bytes(out, pos, K_P_STATUS)
        pos = write_uint(out, pos, status)
    if control >= 0:
        pos = write_bytes(out, pos, K_P_CONTROL_CODE)
        pos = write_uint(out, pos, control)
        pos = write_bytes(out, pos, K_P_COUNT)
        pos = write_uint(out, pos, count)
        pos = write_bytes(out, pos, K_P_ON_TIME)
        pos = write_uint(out, pos, on_time)
        pos = write_bytes(out, pos, K_P_OFF_TIME)
        pos = write_uint(out, pos, off_time)
    out[pos] = 125
    return pos + 1


@njit(**UNCOUNTED)
def sep(out, pos, first):  # type: ignore[no-untyped-def]
    if not first:
        out[pos] = 44
        pos += 1
    return pos


@njit(**UNCOUNTED)
def walk(buf, a, b, fc, mode, out, pos):  # type: ignore[no-untyped-def]
    """The object headers of the fragment buf[a:b] (after its application header), as wire_app's walker
    reads them. W_CHECK: returns (ok, object headers, points_total, points listed), ok False when the walker
    would report a problem or meet what this encoder refuses; the other modes write that list's items
    (without brackets) and return (ok, pos, 0, 0), ok False only for a float this cannot write."""
    data_function = DATA_FUNCTION[fc] != 0
    p = a
    nobj = 0
    total = np.int64(0)
    listed = 0
    while b - p >= 2:
        if nobj >= MAX_OBJECTS:
            return False, 0, 0, 0
        group, variation = np.int64(buf[p]), np.int64(buf[p + 1])
        if p + 3 > b or group == 120 or group == 70:
            return False, 0, 0, 0
        qualifier = np.int64(buf[p + 2])
        p += 3
        prefix_code, range_code = (qualifier >> 4) & 7, qualifier & 0x0F
        width, kind, prefix_len = RANGE_WIDTH[range_code], RANGE_KIND[range_code], PREFIX_LEN[prefix_code]
        if width < 0 or prefix_len < 0 or p + width > b:
            return False, 0, 0, 0  # a reserved qualifier (bad_qualifier) or a truncated range
        first = np.int64(-1)  # the range's start (or address): the index of the first point; -1 none
        second = np.int64(-1)
        if kind == 1:
            half = width // 2
            first, second = _le(buf, p, half), _le(buf, p + half, half)
            count = second - first + 1
            if count <= 0:
                return False, 0, 0, 0  # bad_qualifier
        elif kind == 2:
            first = _le(buf, p, width)
            second = first
            count = np.int64(1)
        elif kind == 3:
            count = _le(buf, p, width)
            second = count
        else:
            count = np.int64(0)
        p += width
        if mode == W_OBJECTS:
            pos = sep(out, pos, nobj == 0)
            out[pos] = 34
            out[pos + 1] = 103  # g
            pos = write_uint(out, pos + 2, group)
            out[pos] = 118  # v
            pos = write_uint(out, pos + 1, variation)
            out[pos] = 34
            pos += 1
        elif mode == W_QUALIFIERS:
            pos = sep(out, pos, nobj == 0)
            pos = write_uint(out, pos, qualifier)
        elif mode == W_RANGES:
            pos = sep(out, pos, nobj == 0)
            out[pos] = 91
            pos += 1
            if kind == 1 or kind == 2:
                pos = write_uint(out, pos, first)
                out[pos] = 44
                pos = write_uint(out, pos + 1, second)
            elif kind == 3:
                pos = write_uint(out, pos, count)
            out[pos] = 93
            pos += 1
        nobj += 1
        total += count
        if count == 0:
            continue
        # ---- the points of this header (wire_app._Walker.points)
        if prefix_code >= 4:  # size prefixes: each point's size before it (no points listed)
            for _ in range(count):  # progress: each pass consumes the prefix (>= 1 byte) or stops
                if p + prefix_len > b:
                    return False, 0, 0, 0
                size = _le(buf, p, prefix_len)
                p += prefix_len
                if p + size > b:
                    return False, 0, 0, 0
                p += size
            continue
        # (wire_app._Walker.carries_data)
        carries = EMPTY[group * 256 + variation] == 0 if data_function else FREEZE_AT_TIME[fc] == 1 and group == 50
        if not carries:  # a request naming points by index: the indexes, no values
            size = count * prefix_len
            if p + size > b:
                return False, 0, 0, 0
            p += size
            continue
        if group == 0:
            return False, 0, 0, 0  # device attributes: refused
        packed = PACKED[group * 256 + variation]
        lay = -1
        mask = 0
        if packed and prefix_len == 0:
            size = (count * packed + 7) // 8
            if p + size > b:
                return False, 0, 0, 0
            keep = min(count, MAX_POINTS - listed)
            if mode == W_POINTS:
                per_byte = 8 // packed
                for i in range(keep):
                    v = (np.int64(buf[p + i // per_byte]) >> ((i % per_byte) * packed)) & ((1 << packed) - 1)
                    pos = sep(out, pos, listed == 0 and i == 0)
                    pos = write_bytes(out, pos, K_P_OBJECT)
                    pos = write_uint(out, pos, group)
                    out[pos] = 118
                    pos = write_uint(out, pos + 1, variation)
                    out[pos] = 34
                    pos += 1
                    if first >= 0:
                        pos = write_bytes(out, pos, K_P_INDEX)
                        pos = write_uint(out, pos, first + i)
                    pos = write_bytes(out, pos, K_P_VALUE)
                    pos = write_uint(out, pos, v)
                    out[pos] = 125
                    pos += 1
            listed += keep
            p += size
            continue
        if packed:
            lay, mask, size = B_LAYOUT, (1 << packed) - 1, np.int64(1)
        elif OCTETS[group]:  # octet strings: the variation is the length; no points
            size = variation
        else:
            lay = LAYOUT_OF[group * 256 + variation]
            if lay < 0:
                return False, 0, 0, 0  # unknown_object
            size = LAYOUT_SIZE[lay]
        step = prefix_len + size
        if p + count * step > b:
            return False, 0, 0, 0
        if lay >= 0:
            keep = min(count, MAX_POINTS - listed)
            if mode == W_POINTS:
                for i in range(keep):
                    at = p + i * step
                    has_index = True
                    if prefix_len:
                        index = _le(buf, at, prefix_len)
                    elif first >= 0:
                        index = first + i
                    else:
                        has_index, index = False, np.int64(0)
                    pos = sep(out, pos, listed == 0 and i == 0)
                    pos = _point(buf, at + prefix_len, lay, mask, out, pos, group, variation, has_index, index)
                    if pos < 0:
                        return False, 0, 0, 0
            listed += keep
        p += count * step
    if p < b:
        return False, 0, 0, 0  # a trailing byte (truncated_object)
    if mode == W_CHECK:
        return True, nobj, total, listed
    return True, pos, 0, 0


@njit(**UNCOUNTED)
def object_list(buf, a, b, fc, mode, out, pos):  # type: ignore[no-untyped-def]
    """A JSON list of the object headers' items (a checked walk: it cannot fail)."""
    out[pos] = 91
    _, pos, _, _ = walk(buf, a, b, fc, mode, out, pos + 1)
    out[pos] = 93
    return pos + 1

"""JSON text written into byte buffers by compiled (numba) code, byte for byte as msgspec writes it.

The event lane (``zonewarden events``) and the Flow JSONL writer (``zonewarden flows``) write JSON lines
in compiled code: fields in declaration order, no spaces, ``null`` for None, integers in decimal, floats in
their shortest round-trip form (``repr``), strings quoted (only strings that need no escaping: names from
code tables, addresses, hex). Their parity tests compare the bytes with the Python path's.

Every helper takes the output buffer and a position and returns the position after what it wrote. They
do not check the buffer's end: a writer checks once per line that the line's largest possible form fits.
Below flow/ and pipeline/ (both use them); no zonewarden imports.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# The kernels' helpers are compiled without reference counting of arrays (they allocate none): counting
# every array passed to every helper, per packet, cost more than the fast lane's walk itself.
UNCOUNTED: dict[str, Any] = {"cache": True, "_nrt": False}

# Float timestamps are written exactly (see write_ts) between these bounds; the writers refuse others.
TS_MIN = float(1 << 26)  # ~2 years after the epoch: below it the exact digits need more than 64 bits
TS_MAX = float(1 << 53)


def lit(text: str) -> np.ndarray:
    """A literal for the writers (a module-level constant array: numba bakes it into the machine code)."""
    return np.frombuffer(text.encode("ascii"), np.uint8).copy()


NULL = lit("null")
TRUE = lit("true")
FALSE = lit("false")
HEX = lit("0123456789abcdef")
MAPPED = lit("::ffff:")


def name_table(names: dict[int, str], size: int, unknown: str = "unknown-{}") -> tuple[np.ndarray, np.ndarray]:
    """``names`` (code -> name) as (bytes, offsets) for ``write_name``: entry k is bytes[offsets[k]:
    offsets[k + 1]], the JSON string (quotes included) the Python path writes for code k; codes without a
    name get ``unknown`` formatted with the code, as the protocols' code lookups do."""
    parts = [('"' + names.get(k, unknown.format(k)) + '"').encode("ascii") for k in range(size)]
    offsets = np.zeros(size + 1, np.int64)
    offsets[1:] = np.cumsum([len(p) for p in parts])
    return np.frombuffer(b"".join(parts), np.uint8).copy(), offsets


@intrinsic
def _copy(typingctx, dst, at, src, start, n):  # type: ignore[no-untyped-def]
    """n bytes of the uint8 array src from ``start`` into dst at ``at``: one memcpy (a loop byte by byte is
    what numba makes of the obvious code: most of an event's cost, its field names and nulls being literals)."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        d = context.make_array(signature.args[0])(context, builder, args[0])
        s = context.make_array(signature.args[2])(context, builder, args[2])
        cgutils.raw_memcpy(builder, builder.gep(d.data, [args[1]]), builder.gep(s.data, [args[3]]), args[4], 1)

    return types.void(dst, at, src, start, n), codegen


@njit(**UNCOUNTED)
def write_bytes(out, pos, src):  # type: ignore[no-untyped-def]
    n = src.shape[0]
    _copy(out, np.int64(pos), src, np.int64(0), np.int64(n))  # type: ignore[call-arg]
    return pos + n


@njit(**UNCOUNTED)
def write_slice(out, pos, src, start, stop):  # type: ignore[no-untyped-def]
    if stop > start:
        _copy(out, np.int64(pos), src, np.int64(start), np.int64(stop - start))  # type: ignore[call-arg]
        return pos + (stop - start)
    return pos


@njit(**UNCOUNTED)
def write_name(out, pos, table, offsets, code):  # type: ignore[no-untyped-def]
    """Entry ``code`` of a name_table (a quoted JSON string)."""
    return write_slice(out, pos, table, offsets[code], offsets[code + 1])


@njit(**UNCOUNTED)
def write_uint(out, pos, v):  # type: ignore[no-untyped-def]
    """A non-negative integer in decimal."""
    if v == 0:
        out[pos] = 48
        return pos + 1
    n = 0
    t = v
    while t > 0:
        t //= 10
        n += 1
    end = pos + n
    t = v
    for k in range(n):
        out[end - 1 - k] = 48 + t % 10
        t //= 10
    return end


@njit(**UNCOUNTED)
def write_int(out, pos, v):  # type: ignore[no-untyped-def]
    """A signed 64-bit integer in decimal (not the most negative one)."""
    if v < 0:
        out[pos] = 45
        return write_uint(out, pos + 1, -v)
    return write_uint(out, pos, v)


@njit(**UNCOUNTED)
def write_opt(out, pos, key, v):  # type: ignore[no-untyped-def]
    """A field (``key``: its ``,"name":`` literal) holding a non-negative integer, null when ``v`` < 0."""
    pos = write_bytes(out, pos, key)
    return write_null(out, pos) if v < 0 else write_uint(out, pos, v)


@njit(**UNCOUNTED)
def write_bool(out, pos, v):  # type: ignore[no-untyped-def]
    return write_bytes(out, pos, TRUE if v else FALSE)


@njit(**UNCOUNTED)
def write_null(out, pos):  # type: ignore[no-untyped-def]
    return write_bytes(out, pos, NULL)


@njit(**UNCOUNTED)
def write_hex(out, pos, data, start, stop):  # type: ignore[no-untyped-def]
    """``data[start:stop]`` as lowercase hex digits (bytes.hex()), without quotes."""
    for k in range(start, stop):
        b = data[k]
        out[pos] = HEX[b >> 4]
        out[pos + 1] = HEX[b & 15]
        pos += 2
    return pos


@njit(**UNCOUNTED)
def write_ipv4(out, pos, addr):  # type: ignore[no-untyped-def]
    """A 32-bit IPv4 address as a dotted quad."""
    for k in range(4):
        if k:
            out[pos] = 46
            pos += 1
        pos = write_uint(out, pos, (addr >> (8 * (3 - k))) & 255)
    return pos


@njit(**UNCOUNTED)
def _hextet(hi, lo, k):  # type: ignore[no-untyped-def]
    """Group k (0-7) of the 128-bit address hi:lo, as the uint64 halves are stored."""
    word = hi if k < 4 else lo
    return np.int64((word >> np.uint64(48 - 16 * (k & 3))) & np.uint64(0xFFFF))


@njit(**UNCOUNTED)
def _write_hextet(out, pos, v):  # type: ignore[no-untyped-def]
    """A group in lowercase hex without leading zeros."""
    shift = 12
    while shift > 0 and (v >> shift) == 0:
        shift -= 4
    while shift >= 0:
        out[pos] = HEX[(v >> shift) & 15]
        pos += 1
        shift -= 4
    return pos


@njit(**UNCOUNTED)
def write_ipv6(out, pos, hi, lo):  # type: ignore[no-untyped-def]
    """A 128-bit address (uint64 halves) as Python's ipaddress writes it (RFC 5952): groups without
    leading zeros, the longest run of two or more zero groups (the first of equals) as ``::``."""
    best, best_len, run, run_len = -1, 0, -1, 0
    for k in range(8):
        if _hextet(hi, lo, k) == 0:
            if run_len == 0:
                run = k
            run_len += 1
            if run_len > best_len:
                best, best_len = run, run_len
        else:
            run_len = 0
    if best_len < 2:
        best, best_len = -1, 0
    k = 0
    while k < 8:
        if k == best:
            out[pos] = 58
            out[pos + 1] = 58
            pos += 2
            k += best_len
            continue
        if k > 0 and k != best + best_len:
            out[pos] = 58
            pos += 1
        pos = _write_hextet(out, pos, _hextet(hi, lo, k))
        k += 1
    return pos


@njit(**UNCOUNTED)
def write_address(out, pos, hi, lo, ipver):  # type: ignore[no-untyped-def]
    """model.packets.format_address's text: IPv4-mapped addresses as a dotted quad (``::ffff:a.b.c.d`` when
    ``ipver`` is 6: a real IPv6 address), others as write_ipv6."""
    if hi == 0 and (lo >> np.uint64(32)) == np.uint64(0xFFFF):
        if ipver == 6:
            pos = write_bytes(out, pos, MAPPED)
        return write_ipv4(out, pos, np.int64(lo & np.uint64(0xFFFFFFFF)))
    return write_ipv6(out, pos, hi, lo)


@njit(**UNCOUNTED)
def ts_writable(ts_ns):  # type: ignore[no-untyped-def]
    """Whether write_ts can write this packet time (epoch seconds between 2**26 and 2**53)."""
    x = np.float64(ts_ns) / 1e9
    return TS_MIN <= x < TS_MAX


@njit(**UNCOUNTED)
def write_ts(out, pos, ts_ns):  # type: ignore[no-untyped-def]
    """``ts_ns / 1e9`` as Python's repr (and msgspec) write the float: the fewest fractional digits that
    read back as the same double, the closest such when several; at least one (``.0``). Exact integer
    arithmetic on the double's bits; only for ts_writable times.

    x = m * 2**e with an integer part ``ip`` and a fraction f / D (D = 2**-e <= 2**26). A k-digit fraction
    n / 10**k reads back as x when it is within half an ulp (1 / 2D) of it, the bound included when m is
    even (round-half-even); the closest k-digit fraction is f * 10**k / D rounded half-even."""
    x = np.float64(ts_ns) / 1e9
    mant, ex = math.frexp(x)
    m = np.int64(mant * 9007199254740992.0)  # * 2**53: exact
    shift = 53 - ex
    ip = m >> shift
    d = np.int64(1) << shift
    f = m & (d - 1)
    pos = write_uint(out, pos, ip)
    out[pos] = 46
    pos += 1
    if f == 0:
        out[pos] = 48
        return pos + 1
    even = m & 1 == 0
    scale = np.int64(1)
    for k in range(1, 10):
        scale *= 10
        # f * scale // d and its remainder by shift and mask (non-negative, d a power of two): the
        # division cost a fifth of the Flow JSONL writer's time
        q = (f * scale) >> shift
        r = (f * scale) & (d - 1)
        if 2 * r > d or (2 * r == d and q & 1):
            q += 1
        err = abs(q * d - f * scale) * 2
        if err < scale or (err == scale and even):
            if q == scale:  # rounds up to the next integer: cannot read back (f >= 1), kept for safety
                return -1
            # k digits, zero-padded on the left
            for j in range(k):
                out[pos + k - 1 - j] = 48 + q % 10
                q //= 10
            return pos + k
    return -1  # unreachable for ts_writable times: 9 digits always suffice

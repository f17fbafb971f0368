"""The event lane's DNP3 encoder: the events protocols/dnp3/analyzer.py (Dnp3Analyzer, over TCP) emits, written
in compiled code (see eventlane_layout for the contract).

It follows the analyzer's link layer (CRC-checked frames; link frames without user data are events of their
own), its transport reassembly (one fragment in several link frames at a time, kept in the state bytes, plus
the link-layer retries the analyzer skips silently) and its request matching (same link addresses and
application sequence number), and writes each application fragment's event: function, application control,
IIN and its flag names, the object headers (objects, qualifiers, ranges), the first MAX_POINTS points with
the fields the analyzer's layouts give them (wire_objects.LAYOUTS), points_total, fragment_size, segments.
Bytes that are not a link frame are skipped as the analyzer skips them: silently while it resynchronises (at
a stream's start, after garbage), else with its garbage anomaly.

It refuses (eventlane_layout) whatever the analyzer would report as an anomaly (a bad CRC, a bad length,
a transport sequence problem, an object walk problem: truncated, unknown object, reserved qualifier...),
a link frame across payloads (the analyzer keeps its start for the next one; a single byte kept is
followed), device attributes (g0 with values), secure authentication (g120) and files (g70), a float value
it cannot prove it writes as msgspec does (see _write_float), and past its bounds: a reassembly beyond
REASM_BYTES or a second one at once, more than MAX_PENDING requests awaiting their response.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import (
    UNCOUNTED,
    lit,
    name_table,
    write_bool,
    write_bytes,
    write_name,
    write_null,
    write_uint,
)
from zonewarden.pipeline.eventlane_dnp3_objects import (
    DATA_FUNCTION,
    W_CHECK,
    W_OBJECTS,
    W_POINTS,
    W_QUALIFIERS,
    W_RANGES,
    object_list,
    sep,
    walk,
)
from zonewarden.pipeline.eventlane_json import begin_anomaly, begin_event
from zonewarden.pipeline.eventlane_layout import ENC_FULL, ENC_OK, ENC_REFUSE, SB_BYTES, ST_COLS
from zonewarden.protocols.dnp3.analyzer import DEFAULT_MAX_FRAGMENT, MAX_REASSEMBLIES, MAX_UNSYNCED_SKIP
from zonewarden.protocols.dnp3.analyzer import MAX_PENDING as ANALYZER_MAX_PENDING
from zonewarden.protocols.dnp3.codes import (
    FC_CONFIRM,
    FC_UNSOLICITED,
    FUNCTIONS,
    IIN_BITS,
    LINK_PRIMARY,
    LINK_SECONDARY,
)

HEADER, BLOCK, MIN_LENGTH = 10, 16, 5

# ---- state columns (st)
S_SYNCED = 0  # + side: a good link frame was seen since the stream start (the analyzer's _quiet, negated)
S_HAD_DATA = 2  # + side: data seen in that direction (the analyzer's _fresh, negated)
S_FRAMES = 4  # link frames seen (either direction)
S_SKIPPED = 5  # bytes skipped before the first frame
S_R_ACTIVE = 6  # a transport reassembly in progress (only one at a time)
S_R_KEY = 7  # its key: side << 32 | link src << 16 | link dst
S_R_NEXT = 8  # next expected transport sequence number
S_R_SEGMENTS = 9
S_R_LEN = 10  # bytes reassembled so far (in sb)
S_N_DONE = 11
# The analyzer's _done, oldest first: per key, key << 6 | transport seq of the last segment of its last completed
# fragment; at most MAX_DONE (analyzer.MAX_REASSEMBLIES), the oldest forgotten past it, as the analyzer does.
S_DONE = 12
MAX_DONE = MAX_REASSEMBLIES
S_N_PENDING = S_DONE + MAX_DONE
S_PENDING = S_N_PENDING + 1  # MAX_PENDING x (key: side << 36 | src << 20 | dst << 4 | seq, frame << 8 | function)
MAX_PENDING = 32
S_LEFT = S_PENDING + 2 * MAX_PENDING  # + side: the byte the analyzer keeps for the next payload, plus 1 (0 none)
S_COLS = S_LEFT + 2
assert S_COLS <= ST_COLS and MAX_PENDING < ANALYZER_MAX_PENDING

# ---- state bytes (sb): the reassembly buffer (sb[:st[S_R_LEN]] while one is in progress); a one-frame
# fragment is copied after it (its user data blocks joined), as scratch.
REASM_BYTES = SB_BYTES

# ---- tables
FUNCTION_NAMES, FUNCTION_OFFSETS = name_table(FUNCTIONS, 256)
# Entry prm * 16 + function (codes.link_function_name: an unknown name carries the function, not the entry).
LINK_NAMES, LINK_OFFSETS = name_table({prm * 16 + k: (LINK_PRIMARY if prm else LINK_SECONDARY).get(k) or f"unknown-{k}"
                                       for prm in (0, 1) for k in range(16)}, 32)
_IIN_ORDER = sorted(IIN_BITS.items(), reverse=True)
IIN_BIT = np.array([bit for bit, _ in _IIN_ORDER], np.int64)
IIN_NAMES, IIN_OFFSETS = name_table({k: name for k, (_, name) in enumerate(_IIN_ORDER)}, len(_IIN_ORDER))
K_LINK_SRC = lit(',"link_src":')
K_LINK_DST = lit(',"link_dst":')
K_LINK_FUNCTION = lit(',"link_function":')
K_LINK_FUNCTION_NAME = lit(',"link_function_name":')
K_LINK_PRIMARY = lit(',"link_primary":')
K_LINK_DIR = lit(',"link_dir":')
K_LINK_ONLY_TAIL = lit(
    ',"function_code":null,"function":null,"seq":null,"fir":null,"fin":null,"con":null,"uns":null,'
    '"unsolicited":false,"iin":null,"iin_flags":null,"objects":null,"qualifiers":null,"ranges":null,'
    '"points":null,"points_total":null,"device_attributes":null,"vendor_name":null,"product_name":null,'
    '"software_version":null,"hardware_version":null,"serial_number":null,"device_name":null,"location":null,'
    '"secure_auth":null,"auth_user":null,"auth_error":null,"file_name":null,"fragment_size":null,'
    '"segments":null,"request_function":null,"request_frame":null}\n')
K_FUNCTION_CODE = lit(',"function_code":')
K_FUNCTION = lit(',"function":')
K_SEQ = lit(',"seq":')
K_FIR = lit(',"fir":')
K_FIN = lit(',"fin":')
K_CON = lit(',"con":')
K_UNS = lit(',"uns":')
K_UNSOLICITED = lit(',"unsolicited":')
K_IIN = lit(',"iin":')
K_IIN_FLAGS = lit(',"iin_flags":')
K_OBJECTS = lit(',"objects":')
K_QUALIFIERS = lit(',"qualifiers":')
K_RANGES = lit(',"ranges":')
K_POINTS = lit(',"points":')
K_POINTS_TOTAL = lit(',"points_total":')
K_MIDDLE = lit(
    ',"device_attributes":null,"vendor_name":null,"product_name":null,"software_version":null,'
    '"hardware_version":null,"serial_number":null,"device_name":null,"location":null,"secure_auth":null,'
    '"auth_user":null,"auth_error":null,"file_name":null,"fragment_size":')
K_SEGMENTS = lit(',"segments":')
K_REQUEST_FUNCTION = lit(',"request_function":')
K_REQUEST_FRAME = lit(',"request_frame":')
K_END = lit("}\n")
# The largest event: the fixed fields, then per object header and per listed point at most this much.
EVENT_FIXED = 2048
EVENT_PER_OBJECT = 48
EVENT_PER_POINT = 256
LINK_ONLY_EVENT = 1024
ANOMALY_EVENT = 512
K_GARBAGE = lit(',"anomaly":"dnp3.garbage","detail":"')
K_GARBAGE_END = lit('+ bytes that are not a DNP3 link frame"}\n')

@njit(**UNCOUNTED)
def _crc(data, p, n, crc_table):  # type: ignore[no-untyped-def]
    crc = 0
    for k in range(n):
        crc = (crc >> 8) ^ crc_table[(crc ^ data[p + k]) & 0xFF]
    return ~crc & 0xFFFF


@njit(**UNCOUNTED)
def _crc_ok(data, p, n, crc_table):  # type: ignore[no-untyped-def]
    """The CRC-16/DNP of data[p:p+n] matches the two bytes after it (little-endian)."""
    return _crc(data, p, n, crc_table) == (np.int64(data[p + n]) | (np.int64(data[p + n + 1]) << 8))


def _crc_table() -> np.ndarray:
    table = np.zeros(256, np.int64)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table[byte] = crc
    return table


CRC_TABLE = _crc_table()


@njit(**UNCOUNTED)
def _link_head(out, pos, hdr, side, ts_ns, frame, is_response, src, dst, control):  # type: ignore[no-untyped-def]
    """begin_event, then the link fields."""
    prm = (control >> 6) & 1
    function = control & 0x0F
    pos = begin_event(out, pos, hdr, side, ts_ns, is_response, frame)
    pos = write_bytes(out, pos, K_LINK_SRC)
    pos = write_uint(out, pos, src)
    pos = write_bytes(out, pos, K_LINK_DST)
    pos = write_uint(out, pos, dst)
    pos = write_bytes(out, pos, K_LINK_FUNCTION)
    pos = write_uint(out, pos, function)
    pos = write_bytes(out, pos, K_LINK_FUNCTION_NAME)
    pos = write_name(out, pos, LINK_NAMES, LINK_OFFSETS, prm * 16 + function)
    pos = write_bytes(out, pos, K_LINK_PRIMARY)
    pos = write_bool(out, pos, prm == 1)
    pos = write_bytes(out, pos, K_LINK_DIR)
    return write_bool(out, pos, (control >> 7) & 1 == 1)


@njit(**UNCOUNTED)
def _fragment(buf, a, b, segments, side, ts_ns, frame, hdr, st, src, dst, control, out, pos):  # type: ignore[no-untyped-def]
    """The event of the application fragment buf[a:b] (Dnp3Session._fragment); returns (status, pos)."""
    n = b - a
    if n < 2:
        return ENC_REFUSE, pos  # truncated_apdu
    ac = np.int64(buf[a])
    fc = np.int64(buf[a + 1])
    seq = ac & 0x0F
    is_response = DATA_FUNCTION[fc] == 2
    start = a + 2
    iin = np.int64(-1)
    if is_response:
        if n < 4:
            return ENC_REFUSE, pos
        iin = (np.int64(buf[a + 2]) << 8) | np.int64(buf[a + 3])
        start = a + 4
    ok, nobj, total, listed = walk(buf, start, b, fc, W_CHECK, out, pos)
    if not ok:
        return ENC_REFUSE, pos
    if pos + EVENT_FIXED + EVENT_PER_OBJECT * nobj + EVENT_PER_POINT * listed > out.shape[0]:
        return ENC_FULL, pos
    # request matching
    req_fc = req_frame = np.int64(-1)
    if is_response:
        if fc != FC_UNSOLICITED:
            key = ((1 - side) << 36) | (dst << 20) | (src << 4) | seq
            np_ = st[S_N_PENDING]
            for k in range(np_):
                s = S_PENDING + 2 * k
                if st[s] == key:
                    req_fc, req_frame = st[s + 1] & 0xFF, st[s + 1] >> 8
                    last = S_PENDING + 2 * (np_ - 1)
                    st[s], st[s + 1] = st[last], st[last + 1]
                    st[S_N_PENDING] = np_ - 1
                    break
    elif fc != FC_CONFIRM:
        key = (side << 36) | (src << 20) | (dst << 4) | seq
        np_ = st[S_N_PENDING]
        s = -1
        for k in range(np_):
            if st[S_PENDING + 2 * k] == key:
                s = S_PENDING + 2 * k
                break
        if s < 0:
            if np_ >= MAX_PENDING:
                return ENC_REFUSE, pos
            s = S_PENDING + 2 * np_
            st[S_N_PENDING] = np_ + 1
        st[s], st[s + 1] = key, (np.int64(frame) << 8) | fc
    pos = _link_head(out, pos, hdr, side, ts_ns, frame, is_response, src, dst, control)
    pos = write_bytes(out, pos, K_FUNCTION_CODE)
    pos = write_uint(out, pos, fc)
    pos = write_bytes(out, pos, K_FUNCTION)
    pos = write_name(out, pos, FUNCTION_NAMES, FUNCTION_OFFSETS, fc)
    pos = write_bytes(out, pos, K_SEQ)
    pos = write_uint(out, pos, seq)
    pos = write_bytes(out, pos, K_FIR)
    pos = write_bool(out, pos, ac & 0x80 != 0)
    pos = write_bytes(out, pos, K_FIN)
    pos = write_bool(out, pos, ac & 0x40 != 0)
    pos = write_bytes(out, pos, K_CON)
    pos = write_bool(out, pos, ac & 0x20 != 0)
    pos = write_bytes(out, pos, K_UNS)
    pos = write_bool(out, pos, ac & 0x10 != 0)
    pos = write_bytes(out, pos, K_UNSOLICITED)
    pos = write_bool(out, pos, fc == FC_UNSOLICITED)
    pos = write_bytes(out, pos, K_IIN)
    if iin < 0:
        pos = write_null(out, pos)
        pos = write_bytes(out, pos, K_IIN_FLAGS)
        pos = write_null(out, pos)
    else:
        pos = write_uint(out, pos, iin)
        pos = write_bytes(out, pos, K_IIN_FLAGS)
        out[pos] = 91
        pos += 1
        first = True
        for k in range(IIN_BIT.shape[0]):
            if iin & IIN_BIT[k]:
                pos = sep(out, pos, first)
                pos = write_name(out, pos, IIN_NAMES, IIN_OFFSETS, k)
                first = False
        out[pos] = 93
        pos += 1
    pos = write_bytes(out, pos, K_OBJECTS)
    pos = object_list(buf, start, b, fc, W_OBJECTS, out, pos)
    pos = write_bytes(out, pos, K_QUALIFIERS)
    pos = object_list(buf, start, b, fc, W_QUALIFIERS, out, pos)
    pos = write_bytes(out, pos, K_RANGES)
    pos = object_list(buf, start, b, fc, W_RANGES, out, pos)
    pos = write_bytes(out, pos, K_POINTS)
    if listed == 0:
        pos = write_null(out, pos)
    else:
        out[pos] = 91
        ok, pos, _, _ = walk(buf, start, b, fc, W_POINTS, out, pos + 1)
        if not ok:
            return ENC_REFUSE, pos
        out[pos] = 93
        pos += 1
    pos = write_bytes(out, pos, K_POINTS_TOTAL)
    pos = write_uint(out, pos, total)
    pos = write_bytes(out, pos, K_MIDDLE)
    pos = write_uint(out, pos, n)
    pos = write_bytes(out, pos, K_SEGMENTS)
    pos = write_uint(out, pos, segments)
    pos = write_bytes(out, pos, K_REQUEST_FUNCTION)
    if req_fc < 0:
        pos = write_null(out, pos)
        pos = write_bytes(out, pos, K_REQUEST_FRAME)
        pos = write_null(out, pos)
    else:
        pos = write_uint(out, pos, req_fc)
        pos = write_bytes(out, pos, K_REQUEST_FRAME)
        pos = write_uint(out, pos, req_frame)
    pos = write_bytes(out, pos, K_END)
    return ENC_OK, pos


@njit(**UNCOUNTED)
def _copy_segment(data, p, ud, dest, at):  # type: ignore[no-untyped-def]
    """The transport payload of the frame at data[p] (user data bytes 1..ud-1, block CRCs left out) to
    dest[at:]; returns the bytes copied."""
    for k in range(1, ud):
        dest[at + k - 1] = data[p + HEADER + k + 2 * (k // BLOCK)]
    return ud - 1


@njit(**UNCOUNTED)
def _done_seq(st, key):  # type: ignore[no-untyped-def]
    """The transport seq remembered for ``key`` (the analyzer's _done.get), -1 none."""
    for k in range(S_DONE, S_DONE + st[S_N_DONE]):
        if st[k] >> 6 == key:
            return st[k] & 0x3F
    return -1


@njit(**UNCOUNTED)
def _completed(st, key, seq):  # type: ignore[no-untyped-def]
    """Remember the last segment of the completed fragment (Dnp3Session._completed): the key moves to the
    newest end; past MAX_DONE keys the oldest is forgotten."""
    n = st[S_N_DONE]
    for k in range(S_DONE, S_DONE + n):
        if st[k] >> 6 == key:
            for j in range(k, S_DONE + n - 1):
                st[j] = st[j + 1]
            n -= 1
            break
    if n == MAX_DONE:
        for j in range(S_DONE, S_DONE + n - 1):
            st[j] = st[j + 1]
        n -= 1
    st[S_DONE + n] = (key << 6) | seq
    st[S_N_DONE] = n + 1


@njit(**UNCOUNTED)
def _garbage_end(data, p, end):  # type: ignore[no-untyped-def]
    """Where a run of garbage ends (Dnp3Session.frames_in): at the next start bytes from ``p``, else at the
    payload's end but for a last 05 (kept for the next payload)."""
    g = p
    while g + 1 < end:
        if data[g] == 0x05 and data[g + 1] == 0x64:
            return g
        g += 1
    return end - 1 if data[end - 1] == 0x05 else end


@njit(**UNCOUNTED)
def _garbage(n, side, ts_ns, frame, hdr, st, out, pos):  # type: ignore[no-untyped-def]
    """``n`` bytes that are not a link frame (Dnp3Analyzer.garbage): skipped silently while resynchronising
    (ENC_REFUSE when the analyzer would give the flow up), else a garbage anomaly, and resynchronising."""
    if st[S_SYNCED + side] == 0:
        return (ENC_OK if _skip(st, n) else ENC_REFUSE), pos
    if pos + ANOMALY_EVENT > out.shape[0]:
        return ENC_FULL, pos
    st[S_SYNCED + side] = 0
    pos = begin_anomaly(out, pos, hdr, side, ts_ns, side == 1, frame)
    pos = write_bytes(out, pos, K_GARBAGE)
    pos = write_uint(out, pos, n)
    return ENC_OK, write_bytes(out, pos, K_GARBAGE_END)


@njit(**UNCOUNTED)
def _skip(st, n):  # type: ignore[no-untyped-def]
    """Bytes skipped silently before sync (Dnp3Analyzer.garbage while quiet); False when the analyzer would
    give the flow up."""
    if st[S_FRAMES] == 0:
        st[S_SKIPPED] += n
        if st[S_SKIPPED] > MAX_UNSYNCED_SKIP:
            return False
    return True


@njit(**UNCOUNTED)
def encode_dnp3(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    p = off
    left = st[S_LEFT + side]
    if left and p < end:
        # The byte the analyzer kept starts its buffer: the start of a frame across payloads, else garbage
        # up to the next start bytes (which may be this payload's first bytes).
        if left == 0x06 and data[p] == 0x64:
            return ENC_REFUSE, pos
        st[S_LEFT + side] = 0
        g = _garbage_end(data, p, end)
        status, pos = _garbage(g - p + 1, side, ts_ns, frame, hdr, st, out, pos)
        if status != ENC_OK:
            return status, pos
        p = g
    while end - p >= 2:
        if data[p] != 0x05 or data[p + 1] != 0x64:
            g = _garbage_end(data, p + 1, end)
            status, pos = _garbage(g - p, side, ts_ns, frame, hdr, st, out, pos)
            if status != ENC_OK:
                return status, pos
            p = g
            continue
        if end - p < HEADER:
            return ENC_REFUSE, pos  # a frame across payloads
        if not _crc_ok(data, p, 8, CRC_TABLE):
            if st[S_SYNCED + side] == 0 and not (p == off and st[S_HAD_DATA + side] == 0):
                if not _skip(st, 2):  # start bytes by chance, skipped silently
                    return ENC_REFUSE, pos
                p += 2
                continue
            return ENC_REFUSE, pos  # bad_crc
        length = np.int64(data[p + 2])
        if length < MIN_LENGTH:
            return ENC_REFUSE, pos  # bad_length
        ud = length - MIN_LENGTH
        size = HEADER + ud + 2 * ((ud + BLOCK - 1) // BLOCK)
        if p + size > end:
            return ENC_REFUSE, pos  # a frame across payloads
        q = p + HEADER
        rest = ud
        while rest > 0:
            nb = BLOCK if rest > BLOCK else rest
            if not _crc_ok(data, q, nb, CRC_TABLE):
                return ENC_REFUSE, pos  # bad_crc
            q += nb + 2
            rest -= nb
        st[S_SYNCED + side] = 1
        st[S_FRAMES] += 1
        control = np.int64(data[p + 3])
        dst = np.int64(data[p + 4]) | (np.int64(data[p + 5]) << 8)
        src = np.int64(data[p + 6]) | (np.int64(data[p + 7]) << 8)
        function = control & 0x0F
        if ud == 0 or function == 0 or function == 9 or function == 11:
            if ud:
                return ENC_REFUSE, pos  # unexpected_link_data
            if pos + LINK_ONLY_EVENT > out.shape[0]:
                return ENC_FULL, pos
            pos = _link_head(out, pos, hdr, side, ts_ns, frame, (control >> 6) & 1 == 0, src, dst, control)
            pos = write_bytes(out, pos, K_LINK_ONLY_TAIL)
            p += size
            continue
        # transport (Dnp3Session.link_frame)
        th = np.int64(data[p + HEADER])
        fin, fir, tseq = th & 0x80 != 0, th & 0x40 != 0, th & 0x3F
        key = (np.int64(side) << 32) | (src << 16) | dst
        active = st[S_R_ACTIVE] == 1 and st[S_R_KEY] == key
        if active and tseq == (st[S_R_NEXT] - 1) % 64 and (not fir or st[S_R_SEGMENTS] == 1):
            p += size  # a link-layer retry of the segment just received
            continue
        if fir:
            if active:
                return ENC_REFUSE, pos  # transport_incomplete
            if fin:
                _completed(st, key, tseq)
                at = st[S_R_LEN] if st[S_R_ACTIVE] == 1 else 0
                if at + ud - 1 > REASM_BYTES:
                    return ENC_REFUSE, pos  # no room left beside the reassembly in progress
                nbytes = _copy_segment(data, p, ud, sb, at)
                status, pos = _fragment(sb, at, at + nbytes, 1, side, ts_ns, frame, hdr, st, src,
                                        dst, control, out, pos)
                if status != ENC_OK:
                    return status, pos
                p += size
                continue
            if st[S_R_ACTIVE] == 1:
                return ENC_REFUSE, pos  # a second reassembly at once: beyond this encoder
            st[S_R_ACTIVE], st[S_R_KEY], st[S_R_NEXT], st[S_R_SEGMENTS], st[S_R_LEN] = 1, key, tseq, 0, 0
        elif not active:
            if _done_seq(st, key) != tseq:
                return ENC_REFUSE, pos  # transport_sequence (else a retry of a completed fragment's last one)
            p += size
            continue
        elif tseq != st[S_R_NEXT]:
            return ENC_REFUSE, pos  # transport_sequence
        have = st[S_R_LEN]
        if have + ud - 1 > REASM_BYTES or have + ud - 1 > DEFAULT_MAX_FRAGMENT:
            return ENC_REFUSE, pos
        st[S_R_LEN] = have + _copy_segment(data, p, ud, sb, have)
        st[S_R_SEGMENTS] += 1
        st[S_R_NEXT] = (tseq + 1) % 64
        if fin:
            st[S_R_ACTIVE] = 0
            _completed(st, key, tseq)
            status, pos = _fragment(sb, 0, st[S_R_LEN], st[S_R_SEGMENTS], side, ts_ns, frame, hdr,
                                    st, src, dst, control, out, pos)
            if status != ENC_OK:
                return status, pos
        p += size
    if p < end:  # one byte the analyzer keeps for the next payload
        st[S_LEFT + side] = np.int64(data[p]) + 1
    st[S_HAD_DATA + side] = 1
    return ENC_OK, pos

"""The event lane's S7comm encoder: the events protocols/s7comm/analyzer.py emits, written in compiled code.

Per TPKT it writes COTP connection TPDUs (CR, CC, DR, DC, ER) as CotpEvent, and S7comm data units (one DT with
end of TSDU, protocol id 0x32) of ROSCTR job, ack and ack_data with function setup communication (0xf0), read
var (0x04) or write var (0x05), their items (S7ANY, DBREAD, the bare syntax id of others) and return codes; an
answer carries its job's items and frame, matched by PDU reference as S7Layer matches them. Empty DTs make no
event. It refuses (see eventlane_layout) whatever would make the analyzer report an anomaly or hand the flow
back (malformed TPKT/COTP, length problems, a function mismatch, truncated items or results), a data unit in
several DTs, an unfinished TPKT, userdata (SZL, identity, cyclic data), S7comm-plus, the other functions,
printable TSAPs that need escaping, more than MAX_HELD connection TPDUs before the first data unit.

The analyzer holds the connection TPDUs' events until the first data unit shows the connection's protocol (or
the flow ends) and emits them then, relabelled: for this encoder's flows the label is the header's ``s7comm``
either way, and they are written at their own packet, which is the analyzer's output (each flush is sorted by
frame) as long as they come out in the flush of their frame. st[ST_HELD_FRAME] (frame of the first one held,
0: none) and st[ST_DECIDED_FRAME] (frame of the first S7comm data unit, 0: none yet) let the driver, which
knows the capture batches and the flows' ends, refuse the flows where they would not.

Per flow ``st`` holds up to MAX_PENDING jobs awaiting their answer (PDU reference, frame, function, item count,
where their raw item specifications lie in ``sb``); a job beyond that, or beyond the room in ``sb``, pushes the
oldest out and is counted in st[ST_FORGOTTEN]: the analyzer still awaits it (up to 256 jobs), so from then on
an answer this encoder cannot match is refused.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import (
    UNCOUNTED,
    lit,
    name_table,
    write_bytes,
    write_hex,
    write_name,
    write_null,
    write_opt,
    write_slice,
    write_uint,
)
from zonewarden.pipeline.eventlane_json import be16, begin_event
from zonewarden.pipeline.eventlane_layout import ENC_FULL, ENC_OK, ENC_REFUSE, SB_BYTES, ST_COLS
from zonewarden.protocols.s7comm.analyzer import MAX_HELD
from zonewarden.protocols.s7comm.codes import AREAS, COTP_TYPES, FUNCTIONS, TSAP_CONNECTION_TYPES
from zonewarden.protocols.s7comm.events import CotpEvent, S7commEvent, S7Item
from zonewarden.protocols.s7comm.s7_layer import MAX_OUTSTANDING
from zonewarden.protocols.s7comm.wire_items import MAX_ITEMS

# ---- per-flow state
ST_PENDING = 0  # jobs awaiting an answer
ST_ARENA = 1  # bytes of sb in use (the pending jobs' raw item specifications, in slot order)
ST_FORGOTTEN = 2  # jobs pushed out of the slots (still awaited by the analyzer): an upper bound
# The analyzer holds connection TPDU events back until the first data unit (or the flow's end): frame of the
# first one held (0: none), frame of the first S7comm data unit (0: none yet), how many were held.
ST_HELD_FRAME = 3
ST_DECIDED_FRAME = 4
ST_HELD = 5
ST_SLOTS = 6
SLOT = 6  # st[ST_SLOTS + k * SLOT + ...]: PDU reference, frame, function, item count, sb offset, sb length
MAX_PENDING = (ST_COLS - ST_SLOTS) // SLOT
# The largest event: 128 items of ~170 bytes, 128 return codes and the fields.
MAX_EVENT = 32768

TPKT_HEADER = 4
COTP_CR, COTP_CC, COTP_DR, COTP_DC, COTP_ER, COTP_DT = 0xE, 0xD, 0x8, 0xC, 0x7, 0xF
FN_READ_VAR, FN_WRITE_VAR, FN_SETUP = 0x04, 0x05, 0xF0
VARSPEC, SYNTAX_S7ANY, SYNTAX_DBREAD, AREA_DATA_BLOCK = 0x12, 0x10, 0xB0, 0x84
NONE = -1

FUNCTION_NAMES, FUNCTION_OFFSETS = name_table(FUNCTIONS, 256)
AREA_NAMES, AREA_OFFSETS = name_table(AREAS, 256)
CONNECTION_NAMES, CONNECTION_OFFSETS = name_table(TSAP_CONNECTION_TYPES, 256)
COTP_NAMES, COTP_OFFSETS = name_table(COTP_TYPES, 16)
ROSCTR_NAMES, ROSCTR_OFFSETS = name_table({1: "job", 2: "ack", 3: "ack_data"}, 4)


def _keys(*names: str) -> tuple[np.ndarray, ...]:
    """``,"<name>":`` per name: the literal that opens each field."""
    return tuple(lit(f',"{n}":') for n in names)


def _nulls(fields: tuple[str, ...], first: str, last: str) -> np.ndarray:
    """``,"<first>":null,...,"<last>":``: the declared fields from first to last, each but the last null."""
    names = fields[fields.index(first) : fields.index(last) + 1]
    return lit("".join(f',"{n}":null' for n in names[:-1]) + f',"{names[-1]}":')


# The fields after ``frame``, in declaration order (msgspec writes them so); the ones not named are null.
_S7 = S7commEvent.__struct_fields__
_S7_SET = ("rosctr", "rosctr_name", "pdu_ref", "param_length", "data_length", "error_class", "error_code", "function",
           "function_name")
_S7_ITEMS = ("item_count", "items", "return_codes", "max_amq_calling", "max_amq_called", "pdu_size")
assert _S7[_S7.index("frame") + 1 :][:9] == _S7_SET and _S7[_S7.index("item_count") :][:6] == _S7_ITEMS
(K_ROSCTR, K_ROSCTR_NAME, K_PDU_REF, K_PARAM_LENGTH, K_DATA_LENGTH, K_ERROR_CLASS, K_ERROR_CODE, K_FUNCTION,
 K_FUNCTION_NAME) = _keys(*_S7_SET)
K_ITEM_COUNT = _nulls(_S7, "userdata_type", "item_count")
_K_ITEM_COUNT, K_ITEMS, K_RETURN_CODES, K_MAX_AMQ_CALLING, K_MAX_AMQ_CALLED, K_PDU_SIZE = _keys(*_S7_ITEMS)
K_REQUEST_FRAME = _nulls(_S7, "function_status", "request_frame")
K_END = lit("}\n")

_ITEM = ("area", "area_name", "db_number", "address", "byte_address", "bit", "transport_size", "length")
assert S7Item.__struct_fields__ == ("syntax_id", *_ITEM)
K_ITEM_SYNTAX = lit('{"syntax_id":')
K_ITEM_AREA, K_ITEM_AREA_NAME, K_ITEM_DB, K_ITEM_ADDRESS, K_ITEM_BYTE, K_ITEM_BIT, K_ITEM_TSIZE, K_ITEM_LENGTH = _keys(
    *_ITEM)
K_ITEM_BARE = lit("".join(f',"{n}":null' for n in _ITEM) + "}")

_COTP = CotpEvent.__struct_fields__
_COTP_FIELDS = ("pdu_type", "pdu_type_name", "dst_ref", "src_ref", "tpdu_size", "src_tsap", "dst_tsap", "src_tsap_text",
                "dst_tsap_text", "connection_type", "rack", "slot", "reason")
assert _COTP[_COTP.index("frame") + 1 :] == _COTP_FIELDS
(K_PDU_TYPE, K_PDU_TYPE_NAME, K_DST_REF, K_SRC_REF, K_TPDU_SIZE, K_SRC_TSAP, K_DST_TSAP, K_SRC_TSAP_TEXT,
 K_DST_TSAP_TEXT, K_CONNECTION_TYPE, K_RACK, K_SLOT, K_REASON) = _keys(*_COTP_FIELDS)


@njit(**UNCOUNTED)
def _named(out, pos, key, table, offsets, code):  # type: ignore[no-untyped-def]
    pos = write_bytes(out, pos, key)
    return write_null(out, pos) if code < 0 else write_name(out, pos, table, offsets, code)


@njit(**UNCOUNTED)
def _sep(out, pos, n):  # type: ignore[no-untyped-def]
    """A comma before every list element but the first (n: elements written so far)."""
    if n:
        out[pos] = 44
        return pos + 1
    return pos


@njit(**UNCOUNTED)
def _item(out, pos, syntax, area, db, address, tsize, length):  # type: ignore[no-untyped-def]
    """One S7Item with an area (S7ANY, DBREAD)."""
    pos = write_opt(out, pos, K_ITEM_SYNTAX, syntax)
    pos = write_opt(out, pos, K_ITEM_AREA, area)
    pos = _named(out, pos, K_ITEM_AREA_NAME, AREA_NAMES, AREA_OFFSETS, area)
    pos = write_opt(out, pos, K_ITEM_DB, db)
    pos = write_opt(out, pos, K_ITEM_ADDRESS, address)
    pos = write_opt(out, pos, K_ITEM_BYTE, address >> 3)
    pos = write_opt(out, pos, K_ITEM_BIT, address & 7)
    pos = write_opt(out, pos, K_ITEM_TSIZE, tsize)
    pos = write_opt(out, pos, K_ITEM_LENGTH, length)
    out[pos] = 125
    return pos + 1


@njit(**UNCOUNTED)
def _items(out, pos, src, start, stop, count):  # type: ignore[no-untyped-def]
    """wire_items.parse_items over src[start:stop] as the event's ``items`` (null when none): (ok, pos, end of
    the bytes read). Not ok where the parser would report a problem (an anomaly)."""
    first = pos
    out[pos] = 91
    pos += 1
    n_items = 0
    p = start
    for _n in range(count):
        if n_items >= MAX_ITEMS or p + 3 > stop or src[p] != VARSPEC:
            return False, pos, p
        spec_len = np.int64(src[p + 1])
        syntax = np.int64(src[p + 2])
        b0 = p + 3
        b1 = min(p + 2 + spec_len, stop)
        if syntax == SYNTAX_S7ANY and b1 - b0 >= 9:
            address = (np.int64(src[b0 + 6]) << 16) | (np.int64(src[b0 + 7]) << 8) | src[b0 + 8]
            pos = _item(out, _sep(out, pos, n_items), syntax, np.int64(src[b0 + 5]), be16(src, b0 + 3), address,
                        np.int64(src[b0]), be16(src, b0 + 1))
            n_items += 1
        elif syntax == SYNTAX_DBREAD and b1 > b0:
            for k in range(src[b0]):
                a = b0 + 1 + 5 * k
                if a + 5 > b1 or n_items >= MAX_ITEMS:
                    break
                pos = _item(out, _sep(out, pos, n_items), syntax, AREA_DATA_BLOCK, be16(src, a + 1),
                            be16(src, a + 3) * 8, NONE, np.int64(src[a]))
                n_items += 1
        else:
            pos = write_bytes(out, write_opt(out, _sep(out, pos, n_items), K_ITEM_SYNTAX, syntax), K_ITEM_BARE)
            n_items += 1
        p += 2 + (spec_len if spec_len > 1 else 1)
    if n_items == 0:
        return True, write_null(out, first), min(p, stop)
    out[pos] = 93
    return True, pos + 1, min(p, stop)


@njit(**UNCOUNTED)
def _return_codes(out, pos, data, start, stop, count, read):  # type: ignore[no-untyped-def]
    """The event's ``return_codes`` (null when none), (ok, pos): ``read``, wire_items.parse_read_results over
    data[start:stop] (not ok where it reports a problem); else write var's, a byte each."""
    first = pos
    out[pos] = 91
    pos += 1
    p = start
    for n in range(min(count, MAX_ITEMS)):
        if p + (4 if read else 1) > stop:
            if read:
                return False, pos
            break
        code = np.int64(data[p])
        pos = write_uint(out, _sep(out, pos, n), code)
        length = -3  # (write var: a byte)
        if read:
            length = be16(data, p + 2) if code == 0x00 or code == 0x0A or code == 0xFF else 0
            if data[p + 1] in (3, 4, 5):  # a length in bits
                length = (length + 7) // 8
            if length % 2 and n < count - 1:
                length += 1  # a fill byte
        p += 4 + length
    if pos == first + 1:
        return True, write_null(out, first)
    out[pos] = 93
    return True, pos + 1


# ---- pending jobs

@njit(**UNCOUNTED)
def _find(st, ref):  # type: ignore[no-untyped-def]
    for k in range(st[ST_PENDING]):
        if st[ST_SLOTS + k * SLOT] == ref:
            return k
    return -1


@njit(**UNCOUNTED)
def _remove(st, sb, k):  # type: ignore[no-untyped-def]
    """Slot k leaves (the later slots and their bytes move down)."""
    s = ST_SLOTS + k * SLOT
    at, n = st[s + 4], st[s + 5]
    for j in range(at + n, st[ST_ARENA]):
        sb[j - n] = sb[j]
    st[ST_ARENA] -= n
    for j in range(s, ST_SLOTS + (st[ST_PENDING] - 1) * SLOT, SLOT):
        for c in range(SLOT):
            st[j + c] = st[j + SLOT + c]
        st[j + 4] -= n
    st[ST_PENDING] -= 1


@njit(**UNCOUNTED)
def _push(st, sb, ref, frame, function, count, src, start, stop):  # type: ignore[no-untyped-def]
    """A job awaits its answer (replacing one with the same reference, as S7Layer._remember does); False when
    the analyzer would report too many outstanding (or might: forgotten jobs count as still awaited)."""
    n = stop - start
    if n > SB_BYTES:
        return False
    k = _find(st, ref)
    if k >= 0:
        _remove(st, sb, k)
    while st[ST_PENDING] >= MAX_PENDING or st[ST_ARENA] + n > SB_BYTES:
        _remove(st, sb, 0)
        st[ST_FORGOTTEN] += 1
    s = ST_SLOTS + st[ST_PENDING] * SLOT
    at = st[ST_ARENA]
    st[s], st[s + 1], st[s + 2], st[s + 3], st[s + 4], st[s + 5] = ref, frame, function, count, at, n
    for j in range(n):
        sb[at + j] = src[start + j]
    st[ST_ARENA] = at + n
    st[ST_PENDING] += 1
    return st[ST_PENDING] + st[ST_FORGOTTEN] <= MAX_OUTSTANDING


# ---- events

@njit(**UNCOUNTED)
def _s7(data, t0, t1, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    """The S7comm PDU data[t0:t1] (a whole data unit starting with 0x32): S7Layer.pdu's event."""
    if t1 - t0 < 10:
        return ENC_REFUSE, pos
    rosctr = np.int64(data[t0 + 1])
    if rosctr < 1 or rosctr > 3:
        return ENC_REFUSE, pos  # userdata, or unknown (malformed_pdu)
    ref, plen, dlen = be16(data, t0 + 4), be16(data, t0 + 6), be16(data, t0 + 8)
    error_class = error_code = NONE
    hlen = 10
    if rosctr != 1:
        if t1 - t0 < 12:
            return ENC_REFUSE, pos
        error_class, error_code = np.int64(data[t0 + 10]), np.int64(data[t0 + 11])
        hlen = 12
    if hlen + plen + dlen != t1 - t0:
        return ENC_REFUSE, pos  # length_mismatch
    p0 = t0 + hlen
    p1 = p0 + plen
    fn = np.int64(data[p0]) if plen > 0 else NONE
    if fn != NONE and fn != FN_READ_VAR and fn != FN_WRITE_VAR and fn != FN_SETUP:
        return ENC_REFUSE, pos
    item_count = amq_calling = amq_called = pdu_size = NONE
    if fn in (FN_READ_VAR, FN_WRITE_VAR) and plen > 1:
        item_count = np.int64(data[p0 + 1])
    elif fn == FN_SETUP:
        if plen < 8:
            return ENC_REFUSE, pos  # a problem: length_mismatch
        amq_calling, amq_called, pdu_size = be16(data, p0 + 2), be16(data, p0 + 4), be16(data, p0 + 6)
    function, request_frame, slot = fn, NONE, -1
    if rosctr == 1 and fn == NONE:
        return ENC_REFUSE, pos
    if rosctr != 1:
        slot = _find(st, ref)
        if slot < 0 and st[ST_FORGOTTEN] > 0:
            return ENC_REFUSE, pos  # perhaps a forgotten job's: the analyzer would match it
        if slot >= 0:
            s = ST_SLOTS + slot * SLOT
            if function != NONE and st[s + 2] != function:
                return ENC_REFUSE, pos  # function_mismatch
            function, request_frame = st[s + 2], st[s + 1]
    pos = begin_event(out, pos, hdr, side, ts_ns, rosctr != 1, frame)
    pos = write_opt(out, pos, K_ROSCTR, rosctr)
    pos = _named(out, pos, K_ROSCTR_NAME, ROSCTR_NAMES, ROSCTR_OFFSETS, rosctr)
    pos = write_opt(out, pos, K_PDU_REF, ref)
    pos = write_opt(out, pos, K_PARAM_LENGTH, plen)
    pos = write_opt(out, pos, K_DATA_LENGTH, dlen)
    pos = write_opt(out, pos, K_ERROR_CLASS, error_class)
    pos = write_opt(out, pos, K_ERROR_CODE, error_code)
    pos = write_opt(out, pos, K_FUNCTION, function)
    pos = _named(out, pos, K_FUNCTION_NAME, FUNCTION_NAMES, FUNCTION_OFFSETS, function)
    pos = write_opt(out, pos, K_ITEM_COUNT, item_count)
    pos = write_bytes(out, pos, K_ITEMS)
    if rosctr == 1:
        start = min(p0 + 2, p1)
        ok, pos, read_end = _items(out, pos, data, start, p1, max(item_count, 0))
        if not ok:
            return ENC_REFUSE, pos  # a problem in the items (length_mismatch)
        if not _push(st, sb, ref, frame, fn, max(item_count, 0), data, start, read_end):
            return ENC_REFUSE, pos
    elif slot >= 0:
        s = ST_SLOTS + slot * SLOT
        at = st[s + 4]
        ok, pos, _end = _items(out, pos, sb, at, at + st[s + 5], st[s + 3])
        if not ok:
            return ENC_REFUSE, pos  # cannot be: the job's items were read so
        _remove(st, sb, slot)
    else:
        pos = write_null(out, pos)
    pos = write_bytes(out, pos, K_RETURN_CODES)
    if rosctr == 3 and item_count != NONE:
        ok, pos = _return_codes(out, pos, data, p1, t1, item_count, fn == FN_READ_VAR)
        if not ok:
            return ENC_REFUSE, pos
    else:
        pos = write_null(out, pos)
    pos = write_opt(out, pos, K_MAX_AMQ_CALLING, amq_calling)
    pos = write_opt(out, pos, K_MAX_AMQ_CALLED, amq_called)
    pos = write_opt(out, pos, K_PDU_SIZE, pdu_size)
    pos = write_opt(out, pos, K_REQUEST_FRAME, request_frame)
    pos = write_bytes(out, pos, K_END)
    return ENC_OK, pos


@njit(**UNCOUNTED)
def _tsap_text_ok(data, at, n):  # type: ignore[no-untyped-def]
    """1: wire_cotp.tsap_text gives text (and it needs no JSON escape), 0: None, -1: text with a quote or
    backslash (refused)."""
    if at < 0 or n < 3:
        return 0
    escape = False
    for k in range(at, at + n):
        b = data[k]
        if b < 0x20 or b >= 0x7F:
            return 0
        escape = escape or b == 0x22 or b == 0x5C
    return -1 if escape else 1


@njit(**UNCOUNTED)
def _tsap(out, pos, key, data, at, n, text):  # type: ignore[no-untyped-def]
    pos = write_bytes(out, pos, key)
    if at < 0 or (text and _tsap_text_ok(data, at, n) != 1):
        return write_null(out, pos)
    out[pos] = 34
    pos = write_slice(out, pos + 1, data, at, at + n) if text else write_hex(out, pos + 1, data, at, at + n)
    out[pos] = 34
    return pos + 1


@njit(**UNCOUNTED)
def _cotp(data, c, hend, code, side, ts_ns, frame, hdr, out, pos):  # type: ignore[no-untyped-def]
    """The connection TPDU whose header is data[c:hend] (length indicator first): IsoTcpAnalyzer._connection's
    CotpEvent."""
    li = hend - c - 1
    dst_ref = src_ref = tpdu_size = reason = NONE
    size_at = calling_at = called_at = -1
    calling_n = called_n = 0
    if code in (COTP_CR, COTP_CC):
        if li < 6:
            return ENC_REFUSE, pos
        dst_ref, src_ref = be16(data, c + 2), be16(data, c + 4)
        q = c + 7
        while q + 2 <= hend:
            pcode, n = data[q], np.int64(data[q + 1])
            if q + 2 + n > hend:
                return ENC_REFUSE, pos  # a parameter past the header: malformed_cotp
            if pcode == 0xC0 and size_at < 0:
                size_at = q + 2
                if n > 0 and 7 <= data[q + 2] <= 13:
                    tpdu_size = np.int64(1) << data[q + 2]
            elif pcode == 0xC1 and calling_at < 0:
                calling_at, calling_n = q + 2, n
            elif pcode == 0xC2 and called_at < 0:
                called_at, called_n = q + 2, n
            q += 2 + n
        if _tsap_text_ok(data, calling_at, calling_n) < 0 or _tsap_text_ok(data, called_at, called_n) < 0:
            return ENC_REFUSE, pos
    elif code in (COTP_DR, COTP_DC):
        if li < 5:
            return ENC_REFUSE, pos
        dst_ref, src_ref = be16(data, c + 2), be16(data, c + 4)
        if code == COTP_DR and li >= 6:
            reason = np.int64(data[c + 6])
    elif li >= 3:  # ER
        dst_ref = be16(data, c + 2)
    pos = begin_event(out, pos, hdr, side, ts_ns, code == COTP_CC or side == 1, frame)
    pos = write_opt(out, pos, K_PDU_TYPE, code)
    pos = _named(out, pos, K_PDU_TYPE_NAME, COTP_NAMES, COTP_OFFSETS, code)
    pos = write_opt(out, pos, K_DST_REF, dst_ref)
    pos = write_opt(out, pos, K_SRC_REF, src_ref)
    pos = write_opt(out, pos, K_TPDU_SIZE, tpdu_size)
    pos = _tsap(out, pos, K_SRC_TSAP, data, calling_at, calling_n, False)
    pos = _tsap(out, pos, K_DST_TSAP, data, called_at, called_n, False)
    pos = _tsap(out, pos, K_SRC_TSAP_TEXT, data, calling_at, calling_n, True)
    pos = _tsap(out, pos, K_DST_TSAP_TEXT, data, called_at, called_n, True)
    kind = rack = slot = NONE
    if called_n == 2:
        kind, rack, slot = np.int64(data[called_at]), np.int64(data[called_at + 1]) >> 5, data[called_at + 1] & 31
    pos = _named(out, pos, K_CONNECTION_TYPE, CONNECTION_NAMES, CONNECTION_OFFSETS, kind)
    pos = write_opt(out, pos, K_RACK, rack)
    pos = write_opt(out, pos, K_SLOT, slot)
    pos = write_opt(out, pos, K_REASON, reason)
    pos = write_bytes(out, pos, K_END)
    return ENC_OK, pos


@njit(**UNCOUNTED)
def encode_s7(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    p = off
    while p < end:
        if p + TPKT_HEADER > end:
            return ENC_REFUSE, pos  # a TPKT across payloads (or a stray tail): the analyzer buffers it
        length = be16(data, p + 2)
        if data[p] != 3 or length < 7:
            return ENC_REFUSE, pos
        stop = p + length
        if stop > end:
            return ENC_REFUSE, pos
        c = p + TPKT_HEADER
        li = np.int64(data[c])
        if li == 0 or li == 255 or li + 1 > length - TPKT_HEADER:
            return ENC_REFUSE, pos
        code = np.int64(data[c + 1] >> 4)
        if code == COTP_DT:
            if li < 2:
                return ENC_REFUSE, pos
            t0 = c + li + 1
            if data[c + 2] & 0x80 == 0:
                if t0 < stop:
                    return ENC_REFUSE, pos  # a data unit in several TPDUs
                p = stop  # an empty fragment adds nothing to the (empty) data unit
                continue
            if t0 < stop:  # (an empty data unit makes no event)
                if data[t0] != 0x32:
                    return ENC_REFUSE, pos  # S7comm-plus, or not S7 at all
                if st[ST_DECIDED_FRAME] == 0:
                    st[ST_DECIDED_FRAME] = frame
                if pos + MAX_EVENT > out.shape[0]:
                    return ENC_FULL, pos
                status, pos = _s7(data, t0, stop, side, ts_ns, frame, hdr, st, sb, out, pos)
                if status != ENC_OK:
                    return status, pos
        elif code in (COTP_CR, COTP_CC, COTP_DR, COTP_DC, COTP_ER):
            if st[ST_DECIDED_FRAME] == 0:
                if st[ST_HELD] == MAX_HELD:
                    return ENC_REFUSE, pos  # the analyzer stops holding: it would emit them all here
                st[ST_HELD] += 1
                if st[ST_HELD_FRAME] == 0:
                    st[ST_HELD_FRAME] = frame
            if pos + MAX_EVENT > out.shape[0]:
                return ENC_FULL, pos
            status, pos = _cotp(data, c, c + li + 1, code, side, ts_ns, frame, hdr, out, pos)
            if status != ENC_OK:
                return status, pos
        else:
            return ENC_REFUSE, pos  # other TPDUs are anomalies on ISO-on-TCP (or malformed)
        p = stop
    return ENC_OK, pos


@njit(**UNCOUNTED)
def holds_events(st):  # type: ignore[no-untyped-def]
    """Whether the flow wrote connection TPDU events the analyzer still holds back (no data unit yet): they
    come out when it stops holding them, perhaps in a later flush, so the survey refuses such a flow at the
    end of each batch (eventlane_kernel.walk)."""
    return st[ST_HELD_FRAME] != 0 and st[ST_DECIDED_FRAME] == 0

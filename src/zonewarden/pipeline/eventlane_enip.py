"""The event lane's EtherNet/IP encoder: the events protocols/enip/analyzer.py (EnipStreamAnalyzer) emits for
a TCP flow, written in compiled code (see eventlane_layout for the contract; the CIP pieces are in
eventlane_enip_cip, the connection state and the Connection Manager's fields in eventlane_enip_conn).

It writes the session commands (RegisterSession, UnregisterSession, NOP, StartDTLS, data-less list
requests) and SendRRData / SendUnitData messages carrying a CIP request or reply: plain requests, Multiple
Service Packets (their ``msp_services``), Unconnected Sends (their ``embedded`` request and ``route_path``,
also around a Multiple Service Packet), Forward Open / Large Forward Open / Forward Close (their connection
fields; a Forward Open's reply pairs the connection's ids and leaves its route, which the connection's
messages carry as ``route_path``), socket address items, and the replies, matched as the analyzer matches
them (by sender context for SendRRData; by connection id and sequence count for SendUnitData, with the
analyzer's pairing of reply and request connection ids when the Forward Open was not seen). A reply no
request was seen for is written with the analyzer's ``enip.unmatched_response`` anomaly before it
(WRITE_UNMATCHED).

It refuses (the flow goes to the Python analyzer) every other anomaly (bad lengths, paths the analyzer
reports, duplicate requests, service mismatches...), a message across payloads, identity-bearing data (list
replies, Identity object replies), Connection Manager services inside an Unconnected Send, symbols with
characters JSON would escape, and state beyond its bounds (conn.MAX_PENDING requests outstanding,
conn.MAX_PAIRS connection pairs, conn.MAX_ROUTES connection routes, cip.MAX_MSP entries per Multiple Service
Packet, the path dictionary full).
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import msgspec
import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED, lit, name_table, write_bytes, write_hex, write_name, write_null, write_uint
from zonewarden.pipeline import eventlane_enip_cip as cip
from zonewarden.pipeline import eventlane_enip_conn as conn
from zonewarden.pipeline.eventlane_enip_conn import MAX_PENDING, SB_REFS, SLOT, ST_NPEND, ST_SLOTS
from zonewarden.pipeline.eventlane_json import begin_anomaly, begin_event
from zonewarden.pipeline.eventlane_layout import (
    ENC_FULL,
    ENC_OK,
    ENC_REFUSE,
)
from zonewarden.protocols.enip.codes import COMMANDS, GENERAL_STATUS
from zonewarden.protocols.enip.events import EnipEvent

# Write the analyzer's unmatched_response anomaly line before a reply no request was seen for (a flow
# whose capture starts mid-conversation); False: refuse such flows.
WRITE_UNMATCHED = True

HEADER_LEN = 24
MAX_CPF_ITEMS = 16
UNCONNECTED_SEND, MSP = 0x52, 0x0A
FORWARD_OPEN, LARGE_FORWARD_OPEN, FORWARD_CLOSE = 0x54, 0x5B, 0x4E
LIST_SERVICES, LIST_IDENTITY, LIST_INTERFACES = 0x04, 0x63, 0x64
REGISTER_SESSION, SEND_RR_DATA, SEND_UNIT_DATA = 0x65, 0x6F, 0x70

# Event size bounds: the fixed fields (the anomaly line included), per MSP record (symbols excluded).
FIXED_EVENT = 3500
PER_RECORD = 240
NO = -1

COMMAND_NAMES, COMMAND_OFFSETS = name_table(COMMANDS, 256)
STATUS_NAMES, STATUS_OFFSETS = name_table(GENERAL_STATUS, 256)
KNOWN_COMMANDS = np.zeros(256, np.uint8)
KNOWN_COMMANDS[list(COMMANDS)] = 1

_FIELDS = [f.name for f in msgspec.structs.fields(EnipEvent)]


def _nulls(first: str, last: str) -> str:
    """``,"<field>":null`` for the event's fields from ``first`` through ``last`` (declaration order)."""
    return "".join(f',"{n}":null' for n in _FIELDS[_FIELDS.index(first) : _FIELDS.index(last) + 1])


K_COMMAND = lit(',"command":')
K_COMMAND_NAME = lit(',"command_name":')
K_SESSION = lit(',"session":')
K_ENCAP_STATUS = lit(',"encap_status":')
K_CONTEXT = lit(',"sender_context":"')
K_CPF = lit('","cpf_types":[')
K_CONNECTION = lit('],"connection_id":')
K_SEQUENCE = lit(',"cip_sequence":')
K_NO_CONNECTION = lit('],"connection_id":null,"cip_sequence":null')
K_SERVICE = lit(',"cip_service":')
K_SERVICE_NAME = lit(',"cip_service_name":')
K_STATUS_NAME = lit(',"cip_status_name":')
K_NO_STATUS = lit(',"cip_status":null,"cip_status_name":null,"cip_extended_status":null')
K_NO_EMBEDDED = lit(',"embedded":null')
K_MSP = lit(',"msp_services":[')
K_NO_MSP = lit(',"msp_services":null')
# The other commands: every field after sender_context null but encap_version.
K_SIMPLE = lit('"' + _nulls("cpf_types", "device_state") + ',"encap_version":')
K_SIMPLE_TAIL = lit(_nulls("socket_address", "request_frame") + "}\n")
K_END = lit("}\n")
K_UNMATCHED = lit(',"anomaly":"enip.unmatched_response","detail":"no request seen for this reply"}\n')


# --- writing ------------------------------------------------------------------------------------------


@njit(**UNCOUNTED)
def _head(out, pos, hdr, side, ts_ns, is_response, frame, data, p):  # type: ignore[no-untyped-def]
    """An event through sender_context's hex (its closing quote not written)."""
    pos = begin_event(out, pos, hdr, side, ts_ns, is_response, frame)
    cmd = cip.u16(data, p)
    pos = write_bytes(out, pos, K_COMMAND)
    pos = write_uint(out, pos, cmd)
    pos = write_bytes(out, pos, K_COMMAND_NAME)
    pos = write_name(out, pos, COMMAND_NAMES, COMMAND_OFFSETS, cmd)
    pos = write_bytes(out, pos, K_SESSION)
    pos = write_uint(out, pos, cip.u32(data, p + 4))
    pos = write_bytes(out, pos, K_ENCAP_STATUS)
    pos = write_uint(out, pos, cip.u32(data, p + 8))
    pos = write_bytes(out, pos, K_CONTEXT)
    return write_hex(out, pos, data, p + 12, p + 20)


@njit(**UNCOUNTED)
def _cip_head(out, pos, hdr, side, ts_ns, is_response, frame, data, p, q, count, key, seq, service, ctx):  # type: ignore[no-untyped-def]
    """A SendRRData / SendUnitData event through cip_service_name."""
    pos = _head(out, pos, hdr, side, ts_ns, is_response, frame, data, p)
    pos = write_bytes(out, pos, K_CPF)
    for k in range(count):
        if k:
            out[pos] = 44
            pos += 1
        pos = write_uint(out, pos, cip.u16(data, q))
        q += 4 + cip.u16(data, q + 2)
    if seq < 0:
        pos = write_bytes(out, pos, K_NO_CONNECTION)
    else:
        pos = write_bytes(out, pos, K_CONNECTION)
        pos = write_uint(out, pos, key)
        pos = write_bytes(out, pos, K_SEQUENCE)
        pos = write_uint(out, pos, seq)
    pos = write_bytes(out, pos, K_SERVICE)
    pos = write_uint(out, pos, service)
    pos = write_bytes(out, pos, K_SERVICE_NAME)
    return cip.svc_name(out, pos, ctx, service)


@njit(**UNCOUNTED)
def _anomaly(out, pos, hdr, side, ts_ns, frame):  # type: ignore[no-untyped-def]
    """The unmatched_response anomaly event (is_response true) of a reply sent by ``side``."""
    return write_bytes(out, begin_anomaly(out, pos, hdr, side, ts_ns, True, frame), K_UNMATCHED)


# --- messages -----------------------------------------------------------------------------------------


@njit(**UNCOUNTED)
def _cm_kind(cls, service):  # type: ignore[no-untyped-def]
    """The connection fields a request of this class and service carries (conn.C_*)."""
    if cls != cip.CLASS_CM:
        return conn.C_NONE
    if service == FORWARD_OPEN:
        return conn.C_OPEN
    if service == LARGE_FORWARD_OPEN:
        return conn.C_LARGE_OPEN
    return conn.C_CLOSE if service == FORWARD_CLOSE else conn.C_NONE


@njit(**UNCOUNTED)
def _put_paths(st, sb, data, c0, pe, tp0, tp1, td0, td1, nent, r0, r1, ckind, base, out, pos):  # type: ignore[no-untyped-def]
    """The paths a request's reply needs, in the dictionary: (ok, request's, target's, route's index); the MSP
    entries' references from ``base``. ``out`` past ``pos``: scratch."""
    i_outer = cip.dict_put(st, sb, data, c0 + 2, pe)
    i_target = cip.dict_put(st, sb, data, tp0, tp1)
    i_route = NO
    if r0 >= 0:  # an Unconnected Send's route
        i_route = cip.dict_put(st, sb, data, r0, r1)
    elif ckind == conn.C_OPEN or ckind == conn.C_LARGE_OPEN:  # the route of the connection it opens
        _ok, p0, p1 = conn.conn_fields_ok(ckind, data, pe, td1)
        i_route = cip.dict_put(st, sb, out, pos, cip.path(data, p0, p1, out, pos, 2)[5])
    ok = i_outer >= 0 and i_target >= 0 and (i_route >= 0 or (r0 < 0 and ckind != conn.C_OPEN
                                                                and ckind != conn.C_LARGE_OPEN))
    for k in range(nent):
        s0, _s1 = cip.msp_span(data, td0, td1, k, nent)
        ref = cip.dict_put(st, sb, data, s0 + 2, s0 + 2 + 2 * np.int64(data[s0 + 1]))
        if ref < 0:
            return False, i_outer, i_target, i_route
        sb[SB_REFS + base + k] = ref
    return ok, i_outer, i_target, i_route


@njit(**UNCOUNTED)
def _request(data, p, q, count, key, seq, c0, c1, socks, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    """A CIP request data[c0:c1] (request_fields, then EnipCore._remember)."""
    svc = np.int64(data[c0])
    ok, pe = cip.cip_request(data, c0, c1, out)
    if not ok:
        return ENC_REFUSE, pos
    _ok, cls, _i, _a, sym, _o = cip.path(data, c0 + 2, pe, out, 0, 0)
    ckind = _cm_kind(cls, svc)
    if ckind != conn.C_NONE and not conn.conn_fields_ok(ckind, data, pe, c1)[0]:
        return ENC_REFUSE, pos
    tsvc, tp0, tp1, td0, td1 = svc, c0 + 2, pe, pe, c1  # the target: the request, or what it embeds
    r0 = r1 = NO
    if cls == cip.CLASS_CM and svc == UNCONNECTED_SEND:  # parse_unconnected_send
        if c1 - pe < 4:
            return ENC_REFUSE, pos
        e = pe + 4 + cip.u16(data, pe + 2)
        if e > c1:
            return ENC_REFUSE, pos
        ok, epe = cip.cip_request(data, pe + 4, e, out)
        if not ok:
            return ENC_REFUSE, pos
        tsvc, tp0, tp1, td0, td1 = np.int64(data[pe + 4]) & 0x7F, pe + 6, epe, epe, e
        _ok, ecls, _i, _a, _s, _o = cip.path(data, tp0, tp1, out, 0, 0)
        if _cm_kind(ecls, tsvc) != conn.C_NONE:
            return ENC_REFUSE, pos  # its reply is decoded as the connection's, and pairs ids
        e += (e - pe - 4) & 1
        if e + 2 > c1:
            return ENC_REFUSE, pos
        r0 = e + 2
        r1 = r0 + 2 * np.int64(data[e])
        if r1 > c1:
            return ENC_REFUSE, pos
    nent = NO
    if tsvc == MSP:
        nent = cip.msp_count(data, td0, td1)
        if nent < 0:
            return ENC_REFUSE, pos
        for k in range(nent):
            s0, s1 = cip.msp_span(data, td0, td1, k, nent)
            if s0 < 0 or data[s0] & 0x80 or not cip.cip_request(data, s0, s1, out)[0]:
                return ENC_REFUSE, pos  # a reported entry, a reply in a request, a path the record cuts short
    # remember it
    n = st[ST_NPEND]
    if conn.find(st, key, seq) >= 0 or n >= MAX_PENDING:
        return ENC_REFUSE, pos  # duplicate_request, or more outstanding than followed
    if pos + FIXED_EVENT + max(nent, 0) * PER_RECORD + 4 * (c1 - c0) + 2 * cip.DICT_BYTES > out.shape[0]:
        return ENC_FULL, pos
    base = conn.refs_start(st, n)
    if base + max(nent, 0) > conn.REFS_BYTES:
        return ENC_REFUSE, pos
    n0 = st[cip.ST_NDICT]
    ok, i_outer, i_target, i_route = _put_paths(st, sb, data, c0, pe, tp0, tp1, td0, td1, nent, r0, r1, ckind, base,
                                                out, pos)
    if not ok:  # the dictionary is full: drop what this request added and the entries no one needs, try again
        st[cip.ST_NDICT] = n0
        conn.dict_gc(st, sb)
        ok, i_outer, i_target, i_route = _put_paths(st, sb, data, c0, pe, tp0, tp1, td0, td1, nent, r0, r1, ckind,
                                                    base, out, pos)
        if not ok:
            return ENC_REFUSE, pos
    s = ST_SLOTS + n * SLOT
    st[s], st[s + 1], st[s + 2], st[s + 3] = key, seq, frame, svc | (tsvc << 8)
    st[s + 4], st[s + 5] = i_outer | (i_target << 8) | ((i_route + 1) << 16), nent
    st[ST_NPEND] = n + 1
    # the event
    ctx = cip.path_ctx(cls, sym >= 0)
    pos = _cip_head(out, pos, hdr, side, ts_ns, False, frame, data, p, q, count, key, seq, svc, ctx)
    pos = cip.event_path(out, pos, data, c0 + 2, pe)
    pos = write_bytes(out, pos, K_NO_STATUS)
    pos = cip.embedded(out, pos, tsvc, data, tp0, tp1) if r0 >= 0 else write_bytes(out, pos, K_NO_EMBEDDED)
    pos = conn.route_path(out, pos, sb, conn.route_get(st, key) if seq >= 0 else NO, data, r0, r1)
    if nent >= 0:
        pos = write_bytes(out, pos, K_MSP)
        for k in range(nent):
            if k:
                out[pos] = 44
                pos += 1
            s0, s1 = cip.msp_span(data, td0, td1, k, nent)
            s1 = s0 + 2 + 2 * np.int64(data[s0 + 1])
            pos = cip.record(out, pos, np.int64(data[s0]), data, s0 + 2, s1, True, NO, NO)
        out[pos] = 93
        pos += 1
    else:
        pos = write_bytes(out, pos, K_NO_MSP)
    return ENC_OK, conn.tail(out, pos, data, ckind, pe, c1, socks >> 32, (socks & 0xFFFFFFFF) - 1, NO)


@njit(**UNCOUNTED)
def _reply(data, p, q, count, key, seq, c0, c1, socks, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    """A CIP reply data[c0:c1] (EnipCore._match, then reply_fields, then a Forward Open's pair and route)."""
    rsvc = np.int64(data[c0]) & 0x7F
    ok, status, ext, rd = cip.cip_reply(data, c0, c1)
    if not ok:
        return ENC_REFUSE, pos
    k = conn.match(st, key, seq)
    if k == -2 or (k < 0 and not WRITE_UNMATCHED):
        return ENC_REFUSE, pos
    rframe = svcs = paths = nreq = NO
    rbase = ctx = 0
    ckind = conn.C_NONE
    msp_reply = rsvc == MSP
    if k >= 0:
        s = ST_SLOTS + k * SLOT
        rframe, svcs, paths, nreq = st[s + 2], st[s + 3], st[s + 4], st[s + 5]
        rbase = conn.refs_start(st, k)
        if rsvc == svcs >> 8:  # the target's reply
            ta, tb = cip.dict_span(sb, (paths >> 8) & 0xFF)
        elif rsvc == svcs & 0xFF:  # the request's (an Unconnected Send that failed)
            ta, tb = cip.dict_span(sb, paths & 0xFF)
        else:
            return ENC_REFUSE, pos  # service_mismatch
        _ok, tcls, tinst, _a, tsym, _o = cip.path(sb, ta, tb, out, 0, 0)
        ctx = cip.path_ctx(tcls, tsym >= 0)
        ckind = _cm_kind(tcls, rsvc)
        if ckind == conn.C_CLOSE or (ckind != conn.C_NONE and status != 0):
            ckind = conn.C_TRIAD
        elif ckind != conn.C_NONE:
            ckind = conn.C_OPEN_REPLY
        if ckind != conn.C_NONE and not conn.conn_fields_ok(ckind, data, rd, c1)[0]:
            return ENC_REFUSE, pos
        if not msp_reply and tcls == cip.CLASS_IDENTITY and status == 0 and tinst > 0 and (
                rsvc == 0x01 or rsvc == 0x03 or rsvc == 0x0E):
            return ENC_REFUSE, pos  # identity_fields
    nent = NO
    if msp_reply and rd < c1:
        nent = cip.msp_count(data, rd, c1)
        if nent < 0:
            return ENC_REFUSE, pos
        for j in range(nent):
            s0, s1 = cip.msp_span(data, rd, c1, j, nent)
            if s0 < 0 or data[s0] & 0x80 == 0 or not cip.cip_reply(data, s0, s1)[0]:
                return ENC_REFUSE, pos
    if pos + FIXED_EVENT + (max(nent, 0) + 3) * (PER_RECORD + 2 * cip.DICT_BYTES) > out.shape[0]:
        return ENC_FULL, pos
    i_route = (paths >> 16) - 1 if k >= 0 else NO
    if ckind == conn.C_OPEN_REPLY:  # the connection opened: its ids paired, its route kept under both
        ot_id, to_id = cip.u32(data, rd), cip.u32(data, rd + 4)
        if not (conn.pair(st, to_id, ot_id) and conn.route_set(st, ot_id, i_route)
                and conn.route_set(st, to_id, i_route)):
            return ENC_REFUSE, pos
    if ckind != conn.C_NONE:
        i_route = NO  # (the connection's route, not an Unconnected Send's)
    if k < 0:
        pos = _anomaly(out, pos, hdr, side, ts_ns, frame)
    pos = _cip_head(out, pos, hdr, side, ts_ns, True, frame, data, p, q, count, key, seq, rsvc, ctx)
    if k >= 0:
        oa, ob = cip.dict_span(sb, paths & 0xFF)
        pos = cip.event_path(out, pos, sb, oa, ob)
    else:
        pos = write_null(out, write_bytes(out, pos, cip.K_CLASS))
        pos = write_null(out, write_bytes(out, pos, cip.K_INSTANCE))
        pos = write_null(out, write_bytes(out, pos, cip.K_ATTRIBUTE))
        pos = write_bytes(out, pos, cip.K_SYMBOL_NULL)
    pos = write_uint(out, write_bytes(out, pos, cip.K_STATUS), status)
    pos = write_name(out, write_bytes(out, pos, K_STATUS_NAME), STATUS_NAMES, STATUS_OFFSETS, status)
    pos = cip.opt_uint(out, pos, cip.K_EXTENDED, ext)
    ra = rb = NO
    if i_route >= 0:
        ea, eb = cip.dict_span(sb, (paths >> 8) & 0xFF)
        ra, rb = cip.dict_span(sb, i_route)
        pos = cip.embedded(out, pos, svcs >> 8, sb, ea, eb)
    else:
        pos = write_bytes(out, pos, K_NO_EMBEDDED)
    pos = conn.route_path(out, pos, sb, conn.route_get(st, key) if seq >= 0 else NO, sb, ra, rb)
    if nent >= 0:
        pos = write_bytes(out, pos, K_MSP)
        for j in range(nent):
            if j:
                out[pos] = 44
                pos += 1
            s0, s1 = cip.msp_span(data, rd, c1, j, nent)
            _ok, est, eext, _d = cip.cip_reply(data, s0, s1)
            esvc = np.int64(data[s0]) & 0x7F
            if j < nreq:  # with the path of the request's entry
                pa, pb = cip.dict_span(sb, np.int64(sb[SB_REFS + rbase + j]))
                pos = cip.record(out, pos, esvc, sb, pa, pb, True, est, eext)
            else:
                pos = cip.record(out, pos, esvc, sb, 0, 0, False, est, eext)
        out[pos] = 93
        pos += 1
    else:
        pos = write_bytes(out, pos, K_NO_MSP)
    if k >= 0:
        conn.remove(st, sb, k)
    return ENC_OK, conn.tail(out, pos, data, ckind, rd, c1, socks >> 32, (socks & 0xFFFFFFFF) - 1, rframe)


@njit(**UNCOUNTED)
def encode_enip(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    p = off
    while p < end:
        if p + 4 > end:
            return ENC_REFUSE, pos  # a message across payloads: the analyzer buffers it
        cmd = cip.u16(data, p)
        length = cip.u16(data, p + 2)
        stop = p + HEADER_LEN + length
        if cmd > 0xFF or stop > end or KNOWN_COMMANDS[cmd] == 0:
            return ENC_REFUSE, pos  # not framed here, or unknown_command
        body = p + HEADER_LEN
        if cmd != SEND_RR_DATA and cmd != SEND_UNIT_DATA:
            version = NO
            is_response = side == 1
            if cmd in (LIST_SERVICES, LIST_IDENTITY, LIST_INTERFACES):
                if length > 0:
                    return ENC_REFUSE, pos  # a list reply: identity, services, interfaces
                is_response = False
            elif cmd == REGISTER_SESSION:
                if length < 4:
                    return ENC_REFUSE, pos
                version = cip.u16(data, body)
            if pos + FIXED_EVENT > out.shape[0]:
                return ENC_FULL, pos
            pos = _head(out, pos, hdr, side, ts_ns, is_response, frame, data, p)
            pos = write_bytes(out, pos, K_SIMPLE)
            pos = write_null(out, pos) if version < 0 else write_uint(out, pos, version)
            pos = write_bytes(out, pos, K_SIMPLE_TAIL)
            p = stop
            continue
        # SendRRData / SendUnitData: interface handle, timeout, CPF items
        q = body + 6
        if length < 6 or q + 2 > stop or cip.u16(data, q) > MAX_CPF_ITEMS:
            return ENC_REFUSE, pos
        count = cip.u16(data, q)
        i = q + 2
        d0 = d1 = a0 = a1 = NO
        ot_item = to_item = NO  # the last socket address item of each direction
        for _ in range(count):
            if i + 4 > stop:
                return ENC_REFUSE, pos
            t = cip.u16(data, i)
            n = cip.u16(data, i + 2)
            if i + 4 + n > stop or ((t == 0x8000 or t == 0x8001) and n < 8):
                return ENC_REFUSE, pos  # truncated, or malformed_cpf_item
            if d0 < 0 and t == (0xB2 if cmd == SEND_RR_DATA else 0xB1):
                d0, d1 = i + 4, i + 4 + n
            elif a0 < 0 and cmd == SEND_UNIT_DATA and t == 0xA1:
                a0, a1 = i + 4, i + 4 + n
            elif t == 0x8000:
                ot_item = i + 4
            elif t == 0x8001:
                to_item = i + 4
            i += 4 + n
        socks = (ot_item << 32) | (to_item + 1)
        if cmd == SEND_RR_DATA:
            if d0 < 0:
                return ENC_REFUSE, pos
            key = np.int64(0)
            for j in range(8):
                key |= np.int64(data[p + 12 + j]) << (8 * j)
            seq, c0 = NO, d0
        else:
            if a0 < 0 or a1 - a0 < 4 or d0 < 0 or d1 - d0 < 2:
                return ENC_REFUSE, pos
            key, seq, c0 = cip.u32(data, a0), cip.u16(data, d0), d0 + 2
        if c0 >= d1:
            return ENC_REFUSE, pos  # an empty CIP message
        args = (data, p, q + 2, count, key, seq, c0, d1, socks, side, ts_ns, frame, hdr, st, sb, out, pos)
        status, pos = _request(*args) if data[c0] & 0x80 == 0 else _reply(*args)
        if status != ENC_OK:
            return status, pos
        p = stop
    return ENC_OK, pos

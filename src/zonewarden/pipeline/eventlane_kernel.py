"""The event lane, compiled: walks a batch's TCP segments of Modbus/TCP, S7comm, DNP3 and EtherNet/IP flows
and writes their events as JSON lines (eventlane_layout has the contract and the layout).

Per flow it keeps the stream state TcpStreams and StreamReassembler would (fastlane_kernel.tcp_open /
tcp_close, as the analyze fast lane does) and hands each in-order payload to the protocol's encoder. Only
packets the Python path would look at are looked at, in the same order. In a *dry* walk (the survey pass)
the output is discarded after each payload and a flow its encoder refuses is marked in ``refused`` (by
uid) and dropped; in a real walk the refused flows are left to the Python path from their first packet,
and a refusal means the two passes disagree (a bug: the walk stops with ST_DIVERGED).
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED, lit, ts_writable, write_bytes, write_ipv4, write_uint
from zonewarden.pipeline.eventlane_dnp3 import encode_dnp3
from zonewarden.pipeline.eventlane_enip import encode_enip
from zonewarden.pipeline.eventlane_layout import (
    CARRY,
    CARRY_BYTES,
    DRY_OUT,
    E_CARRY,
    E_MODE,
    E_PROTO,
    E_STATE,
    E_SWAP,
    E_TCP,
    E_UID,
    ENC_OK,
    H_ANOMALY,
    H_FLOW,
    H_SIDE,
    H_SIDE_BYTES,
    MAX_ROWS,
    MODE_LANE,
    Q_NO_ANOMALIES,
    Q_TAKEN,
    Q_TOMBS,
    Q_USED,
    SB,
    SB_BYTES,
    ST_COLS,
    ST_DIVERGED,
    ST_DONE,
    ST_NEED_ROOM,
    ST_OUT_FULL,
)
from zonewarden.pipeline.eventlane_modbus import encode_modbus
from zonewarden.pipeline.eventlane_s7 import encode_s7, holds_events
from zonewarden.pipeline.fastlane_kernel import find_row, free_row, lane_protocol, tcp_close, tcp_open
from zonewarden.pipeline.fastlane_layout import (
    C_UID,
    LANE_CONSUMED,
    LANE_NONE,
    P_DNP3,
    P_ENIP,
    P_MODBUS,
    P_S7,
    T_DATA,
    T_EXPECTED,
    TCP_COLS,
    TOMB,
)
from zonewarden.protocols.dnp3.wire_link import MAX_FRAME as DNP3_MAX_FRAME
from zonewarden.protocols.enip.wire_encap import HEADER_LEN as ENIP_HEADER
from zonewarden.protocols.enip.wire_encap import MAX_PLAUSIBLE_COMMAND
from zonewarden.protocols.s7comm.wire_cotp import TPKT_MIN_LENGTH, TPKT_VERSION

assert E_UID == C_UID  # the rows live in the fast lane's hash: find_row and free_row serve both
TH_SYN, TH_FIN, TH_RST = 0x02, 0x01, 0x04
SEQ_MASK = 0xFFFFFFFF

K_PROTO = lit(',"proto":"')
PROTO_NAMES = (lit(""), lit("modbus"), lit("s7comm"), lit("dnp3"), lit("enip"))
K_KIND_SRC = lit('","kind":"message","src":"')
K_DST = lit('","dst":"')
K_SPORT = lit('","sport":')
K_DPORT = lit(',"dport":')
K_IS_RESPONSE = lit(',"is_response":')
K_FLOW = lit(',"flow_id":"C')
K_FRAME = lit('","frame":')
HEX = lit("0123456789abcdef")


@njit(cache=True)
def rehash(table, utable, new_table, new_utable):  # type: ignore[no-untyped-def]
    """Move every live row into the (empty, larger or equal) new arrays."""
    for r in range(table.shape[0]):
        uid = table[r, E_UID]
        if uid >= 0:
            to = free_row(new_table, uid)
            new_table[to, :] = table[r, :]
            new_utable[to, :] = utable[r, :]


@njit(**UNCOUNTED)
def _drop(table, params, r):  # type: ignore[no-untyped-def]
    table[r, E_UID] = TOMB
    params[Q_USED] -= 1
    params[Q_TOMBS] += 1


@njit(cache=True)
def forget(table, params, uids):  # type: ignore[no-untyped-def]
    """Finished flows leave the table."""
    for k in range(uids.shape[0]):
        r = find_row(table, uids[k])
        if r >= 0:
            _drop(table, params, r)


@njit(**UNCOUNTED)
def _side_header(urow, side, proto, src, dst, sport, dport):  # type: ignore[no-untyped-def]
    start = H_SIDE + side * H_SIDE_BYTES
    pos = write_bytes(urow, start + 1, K_PROTO)
    pos = write_bytes(urow, pos, PROTO_NAMES[proto])
    pos = write_bytes(urow, pos, K_KIND_SRC)
    pos = write_ipv4(urow, pos, src)
    pos = write_bytes(urow, pos, K_DST)
    pos = write_ipv4(urow, pos, dst)
    pos = write_bytes(urow, pos, K_SPORT)
    pos = write_uint(urow, pos, sport)
    pos = write_bytes(urow, pos, K_DPORT)
    pos = write_uint(urow, pos, dport)
    pos = write_bytes(urow, pos, K_IS_RESPONSE)
    urow[start] = pos - start - 1


@njit(**UNCOUNTED)
def write_header(urow, c, client, server, client_port, server_port, fid):  # type: ignore[no-untyped-def]
    """The header pieces of a flow of protocol ``c`` (eventlane_layout H_*) into ``urow``: IPv4 addresses as
    32-bit integers, ``fid`` the flow id hash (uint64)."""
    _side_header(urow, 0, c, client, server, client_port, server_port)
    _side_header(urow, 1, c, server, client, server_port, client_port)
    pos = write_bytes(urow, H_FLOW, K_FLOW)
    for k in range(16):
        urow[pos + k] = HEX[np.int64((fid >> np.uint64(4 * (15 - k))) & np.uint64(15))]
    write_bytes(urow, pos + 16, K_FRAME)


@njit(**UNCOUNTED)
def _new_row(table, utable, params, i, u, d, c, swap, src_lo, dst_lo, sport, dport, fid):  # type: ignore[no-untyped-def]
    r = free_row(table, u)
    if table[r, E_UID] == TOMB:
        params[Q_TOMBS] -= 1
    params[Q_USED] += 1
    for k in range(table.shape[1]):
        table[r, k] = 0
    for k in range(utable.shape[1]):
        utable[r, k] = 0
    table[r, E_UID] = u
    table[r, E_PROTO] = c
    table[r, E_SWAP] = swap
    table[r, E_MODE] = MODE_LANE
    s_ip, d_ip = np.int64(src_lo[i] & np.uint64(0xFFFFFFFF)), np.int64(dst_lo[i] & np.uint64(0xFFFFFFFF))
    s_port, d_port = np.int64(sport[i]), np.int64(dport[i])
    if d ^ swap != 0:  # the packet's sender is the server
        s_ip, d_ip, s_port, d_port = d_ip, s_ip, d_port, s_port
    write_header(utable[r], c, s_ip, d_ip, s_port, d_port, np.uint64(fid[i]))
    return r


@njit(**UNCOUNTED)
def _pdu_size(c, src, p, end):  # type: ignore[no-untyped-def]
    """Size of the PDU (DNP3: link frame) at src[p:end] by its length field, as the analyzers frame: 0 when
    its header has not all arrived, -1 when it is not a valid header (the encoder then refuses)."""
    have = end - p
    if c == P_MODBUS:
        if have < 7:
            return 0
        length = (np.int64(src[p + 4]) << 8) | src[p + 5]
        if src[p + 2] != 0 or src[p + 3] != 0 or length < 2 or length > 260:
            return -1
        return 6 + length
    if c == P_S7:
        if have < 4:
            return 0
        length = (np.int64(src[p + 2]) << 8) | src[p + 3]
        return length if src[p] == TPKT_VERSION and length >= TPKT_MIN_LENGTH else -1
    if c == P_ENIP:
        if have < 4:
            return 0
        if src[p + 1] != 0 or src[p] > MAX_PLAUSIBLE_COMMAND:
            return -1
        length = ENIP_HEADER + ((np.int64(src[p + 3]) << 8) | src[p + 2])
        return length if length <= 65536 else -1
    if have < 3:
        return 0 if have < 2 or (src[p] == 0x05 and src[p + 1] == 0x64) else -1
    if src[p] != 0x05 or src[p + 1] != 0x64 or src[p + 2] < 5:
        return -1
    data = np.int64(src[p + 2]) - 5
    return min(10 + data + 2 * ((data + 15) // 16), DNP3_MAX_FRAME)


@njit(**UNCOUNTED)
def frame_end(c, src, start, end):  # type: ignore[no-untyped-def]
    """Where the whole PDUs from src[start] end (the rest is an unfinished PDU), or ``end`` when a header is
    not valid (the encoder sees it and refuses)."""
    p = start
    while p < end:
        size = _pdu_size(c, src, p, end)
        if size < 0:
            return end
        if size == 0 or p + size > end:
            return p
        p += size
    return p


@njit(**UNCOUNTED)
def _encode(c, data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    if c == P_MODBUS:
        return encode_modbus(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos)
    if c == P_S7:
        return encode_s7(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos)
    if c == P_DNP3:
        return encode_dnp3(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos)
    return encode_enip(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos)


@njit(cache=True)
def walk(data, l4_off, l4_len, proto, err, flags, seq, ack, sport, dport, ts, uid, direction, l3,  # type: ignore[no-untyped-def]
         src_hi, src_lo, dst_hi, dst_lo, fid, frames, start, port_map, refused, dry, table, utable, params,
         out_status, out, pos, ev_frame, ev_end, n_ev):
    """Walk packets from ``start``; returns (next packet, pos, n_ev, status). ST_NEED_ROOM: grow the table
    and call again from that packet; ST_OUT_FULL: take the output (or grow it), then call again from there.

    The output is recorded per payload: ``ev_frame[k]`` the frame of the lines ending at ``ev_end[k]``."""
    joined = np.empty(CARRY_BYTES + (1 << 18), np.uint8)
    return _walk(data, l4_off, l4_len, proto, err, flags, seq, ack, sport, dport, ts, uid, direction, l3, src_hi,
                 src_lo, dst_hi, dst_lo, fid, frames, start, port_map, refused, dry, table, utable, params,
                 out_status, out, pos, ev_frame, ev_end, n_ev, joined)


# The encoders work on the flow's row itself: a refusal drops the flow (the survey) or stops the run (a real
# walk: the survey accepted the flow), and ENC_FULL cannot happen in a real walk, which starts each payload
# with DRY_OUT bytes free: the survey's output buffer, in which every payload of an accepted flow fit.
@njit(**UNCOUNTED)
def _walk(data, l4_off, l4_len, proto, err, flags, seq, ack, sport, dport, ts, uid, direction, l3,  # type: ignore[no-untyped-def]
          src_hi, src_lo, dst_hi, dst_lo, fid, frames, start, port_map, refused, dry, table, utable, params,
          out_status, out, pos, ev_frame, ev_end, n_ev, joined):
    for i in range(start, uid.shape[0]):
        out_status[i] = LANE_NONE
        f = flags[i]
        if proto[i] != 6 or uid[i] < 0 or err[i] != 0 or (l4_len[i] == 0 and f & (TH_SYN | TH_FIN | TH_RST) == 0):
            continue
        u, d = uid[i], np.int64(direction[i])
        if refused[u]:
            continue
        r = find_row(table, u)
        if r < 0:
            c, swap = lane_protocol(port_map, sport[i], dport[i], d)
            if c <= 0:
                continue
            if l3[i] != 4 or params[Q_USED] >= MAX_ROWS:  # IPv6 addresses are the Python path's to write
                if not dry:
                    return i, pos, n_ev, ST_DIVERGED
                refused[u] = 1
                continue
            if (params[Q_USED] + params[Q_TOMBS] + 1) * 2 > table.shape[0]:
                return i, pos, n_ev, ST_NEED_ROOM
            r = _new_row(table, utable, params, i, u, d, c, swap, src_lo, dst_lo, sport, dport, fid)
            params[Q_TAKEN + c] += 1
        if pos + DRY_OUT > out.shape[0] or n_ev >= ev_end.shape[0]:
            return i, pos, n_ev, ST_OUT_FULL
        row, urow = table[r], utable[r]
        t = E_TCP + d * TCP_COLS
        n = np.int64(l4_len[i])
        ok, deliver, skip = tcp_open(row, t, f, seq[i] & SEQ_MASK, n)
        end = pos
        if ok and deliver:
            row[t + T_DATA] = 1
            c = row[E_PROTO]
            src, s0, s1 = data, l4_off[i] + skip, l4_off[i] + n
            held = row[E_CARRY + d]
            cs = CARRY + d * CARRY_BYTES
            if held:  # an unfinished PDU first, then this payload
                if held + s1 - s0 > joined.shape[0]:
                    ok = False
                else:
                    for k in range(held):
                        joined[k] = urow[cs + k]
                    for k in range(s1 - s0):
                        joined[held + k] = data[s0 + k]
                    src, s0, s1 = joined, 0, held + s1 - s0
            if ok and ts_writable(ts[i]):
                whole = frame_end(c, src, s0, s1)
                kept = s1 - whole
                if kept > CARRY_BYTES:
                    ok = False
                elif whole > s0:
                    status, end = _encode(c, src, s0, whole, d ^ row[E_SWAP], ts[i], frames[i], urow,
                                          row[E_STATE:E_STATE + ST_COLS], urow[SB:SB + SB_BYTES], out, pos)
                    ok = status == ENC_OK  # (ENC_FULL: in the survey, a payload writing more than DRY_OUT)
                    if dry and params[Q_NO_ANOMALIES] and urow[H_ANOMALY]:
                        ok = False  # its anomaly events are not wanted: the Python path leaves them out
                if ok:
                    for k in range(kept):
                        urow[cs + k] = src[whole + k]
                    row[E_CARRY + d] = kept
                    row[t + T_EXPECTED] = (row[t + T_EXPECTED] + n - skip) & SEQ_MASK
            else:
                ok = False
        if ok:
            ok = tcp_close(row, t, E_TCP + (1 - d) * TCP_COLS, f, ack[i])
        if not ok:
            if not dry:
                return i, pos, n_ev, ST_DIVERGED
            refused[u] = 1
            _drop(table, params, r)
            continue
        if end > pos and not dry:
            ev_frame[n_ev] = frames[i]
            ev_end[n_ev] = end
            n_ev += 1
            pos = end
        out_status[i] = LANE_CONSUMED
    return uid.shape[0], pos, n_ev, ST_DONE


@njit(cache=True)
def settle(table, params, refused):  # type: ignore[no-untyped-def]
    """At a flush (the survey's, after the finished flows left): refuse the flows whose analyzer still holds
    events the lane wrote, to emit them in a later flush (S7comm connection TPDUs held until the first data
    unit). A flow that finishes emits them in this flush (its analyzer's end)."""
    for r in range(table.shape[0]):
        u = table[r, E_UID]
        if u >= 0 and table[r, E_PROTO] == P_S7 and holds_events(table[r, E_STATE:E_STATE + ST_COLS]):
            refused[u] = 1
            _drop(table, params, r)

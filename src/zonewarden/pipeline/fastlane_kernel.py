"""The fast lane, compiled: walks a batch's TCP segments of Modbus/TCP, S7comm, DNP3 and EtherNet/IP flows
and counts their messages without the Python path.

Per flow it keeps what TcpStreams and StreamReassembler would know (next sequence number per
direction, ends, the pending ACK) in a row of ``table`` (fastlane_layout). A segment is consumed when
it arrives in order (or retransmits bytes already delivered, which the reassembler drops too) and holds
whole PDUs: each is counted into the row or handed off to the flow's Python analyzer (the walkers:
fastlane_pdus_kernel, fastlane_enip_kernel, fastlane_dnp3_kernel). Anything else (a PDU across
segments, data beyond a hole, a gap an ACK reveals, a malformed header) turns the flow *slow*: from that
packet on the Python path takes it, its reassembler seeded from the row, so it continues exactly where
it would have been.

Only packets the Python path would look at are looked at (TCP, in a flow, decoded without error,
carrying data or SYN/FIN/RST: TcpStreams skips pure ACKs), in the same order.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED
from zonewarden.pipeline.fastlane_dnp3_kernel import NEED_SLOT, dnp3_segment, spill
from zonewarden.pipeline.fastlane_enip_kernel import enip_segment
from zonewarden.pipeline.fastlane_layout import (
    A_CLI_HI,
    A_CLI_LO,
    A_FID,
    A_SRV_HI,
    A_SRV_LO,
    ARENA_BYTES,
    C_CLI_PORT,
    C_DNP,
    C_FIRST,
    C_FLAGS,
    C_L3,
    C_MODE,
    C_PROTO,
    C_SRV_PORT,
    C_SWAP,
    C_TCP,
    C_TS_FIRST,
    C_TS_LAST,
    C_UID,
    D_KEPT,
    D_REASM,
    D_SLOT,
    DNP_COLS,
    EMPTY,
    F_DIRTY,
    LANE_CONSUMED,
    LANE_HANDOFF,
    LANE_NONE,
    LANE_SLOW,
    MODE_SLOW,
    N_COMBOS,
    P_DNP3,
    P_ENIP,
    P_FREE,
    P_MODBUS,
    P_SYN_TOMBS,
    P_SYN_USED,
    P_TOMBS,
    P_USED,
    R_DIR,
    R_LEN,
    R_OFF,
    R_PKT,
    R_PRIME,
    REASM_KERNEL,
    S_DIR,
    S_EXPECTED,
    S_PROTO,
    S_SWAP,
    S_UID,
    ST_DONE,
    ST_NEED_ROOM,
    ST_OUT_FULL,
    T_DATA,
    T_ENDED,
    T_EXPECTED,
    T_PEND,
    T_PEND_VALID,
    T_STARTED,
    TCP_COLS,
    TOMB,
)
from zonewarden.pipeline.fastlane_pdus_kernel import modbus_segment, prime_word, s7_segment

TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10
SEQ_MASK = 0xFFFFFFFF
MAX_RUNS_PER_PACKET = 4096  # beyond it (a jumbo segment of tiny handed-off PDUs) the flow goes slow
TS_NONE_FIRST, TS_NONE_LAST = np.iinfo(np.int64).max, np.iinfo(np.int64).min


@njit(**UNCOUNTED)
def lane_protocol(port_map, sport, dport, d):  # type: ignore[no-untyped-def]
    """(protocol code, swap) of a new flow whose packet went in direction ``d``: the analyzer the Python path
    would choose (AppLayer._choose), by the responder's port first, then the originator's (swap 1: the flow's
    originator is the server). Code 0: no analyzer, < 0: another analyzer's port."""
    rp, op = (dport, sport) if d == 0 else (sport, dport)
    c = np.int64(port_map[rp])
    if c == 0:
        return np.int64(port_map[op]), 1
    return c, 0


@njit(**UNCOUNTED)
def _home(uid, size):  # type: ignore[no-untyped-def]
    h = np.uint64(uid) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64(h >> np.uint64(40)) & (size - 1)


@njit(**UNCOUNTED)
def find_row(table, uid):  # type: ignore[no-untyped-def]
    """The row of flow ``uid``, or -1."""
    size = table.shape[0]
    r = _home(uid, size)
    for _ in range(size):
        key = table[r, C_UID]
        if key == uid:
            return r
        if key == EMPTY:
            return -1
        r = (r + 1) & (size - 1)
    return -1


@njit(**UNCOUNTED)
def free_row(table, uid):  # type: ignore[no-untyped-def]
    """Where to insert ``uid`` (known absent): the first tombstone or empty row on its probe path."""
    size = table.shape[0]
    r = _home(uid, size)
    for _ in range(size):
        if table[r, C_UID] < 0:
            return r
        r = (r + 1) & (size - 1)
    return -1


@njit(cache=True)
def rehash(table, addrs, new_table, new_addrs, moved):  # type: ignore[no-untyped-def]
    """Move every live row into the (empty, larger or equal) new arrays; ``moved[old row]`` is its new row."""
    for r in range(table.shape[0]):
        uid = table[r, C_UID]
        moved[r] = -1
        if uid >= 0:
            to = free_row(new_table, uid)
            new_table[to, :] = table[r, :]
            new_addrs[to, :] = addrs[r, :]
            moved[r] = to


@njit(**UNCOUNTED)
def _release(table, r, d, pool_free, params):  # type: ignore[no-untyped-def]
    """Give the direction's arena slot back."""
    col = C_DNP + d * DNP_COLS
    if table[r, col + D_SLOT]:
        pool_free[params[P_FREE]] = table[r, col + D_SLOT] - 1
        params[P_FREE] += 1
        table[r, col + D_SLOT] = 0
        table[r, col + D_KEPT] = 0


@njit(cache=True)
def forget(table, syns, params, pool_free, uids):  # type: ignore[no-untyped-def]
    """Finished flows leave the tables (a fragment still held is dropped, as the analyzer drops it)."""
    for k in range(uids.shape[0]):
        r = find_row(table, uids[k])
        if r >= 0:
            for d in range(2):
                _release(table, r, d, pool_free, params)
            table[r, C_UID] = TOMB
            params[P_USED] -= 1
            params[P_TOMBS] += 1
        else:
            _drop_syn(syns, find_row(syns, uids[k]), params)


@njit(**UNCOUNTED)
def _drop_syn(syns, s, params):  # type: ignore[no-untyped-def]
    if s >= 0:
        syns[s, S_UID] = TOMB
        params[P_SYN_USED] -= 1
        params[P_SYN_TOMBS] += 1


@njit(**UNCOUNTED)
def _opening_syn(f, n):  # type: ignore[no-untyped-def]
    """A segment that only opens its direction: SYN without ACK, FIN or RST, and no payload. As the first
    packet of a flow it sets the direction's next sequence number and nothing else; again, nothing at all."""
    return n == 0 and f & (TH_SYN | TH_ACK | TH_FIN | TH_RST) == TH_SYN


@njit(**UNCOUNTED)
def _new_row(table, addrs, params, i, u, d, c, swap, l3, src_hi, src_lo, dst_hi, dst_lo, sport, dport, fid):  # type: ignore[no-untyped-def]
    r = free_row(table, u)
    if table[r, C_UID] == TOMB:
        params[P_TOMBS] -= 1
    params[P_USED] += 1
    for k in range(table.shape[1]):
        table[r, k] = 0
    table[r, C_UID] = u
    table[r, C_PROTO] = c
    table[r, C_SWAP] = swap
    table[r, C_FIRST] = -1
    table[r, C_L3] = l3[i]
    for k in range(N_COMBOS):
        table[r, C_TS_FIRST + k] = TS_NONE_FIRST
        table[r, C_TS_LAST + k] = TS_NONE_LAST
    # The packet's sender is the client (by ports) unless it is the server.
    if d ^ swap == 0:
        addrs[r, A_CLI_HI], addrs[r, A_CLI_LO], addrs[r, A_SRV_HI], addrs[r, A_SRV_LO] = (
            src_hi[i], src_lo[i], dst_hi[i], dst_lo[i])
        table[r, C_CLI_PORT], table[r, C_SRV_PORT] = sport[i], dport[i]
    else:
        addrs[r, A_CLI_HI], addrs[r, A_CLI_LO], addrs[r, A_SRV_HI], addrs[r, A_SRV_LO] = (
            dst_hi[i], dst_lo[i], src_hi[i], src_lo[i])
        table[r, C_CLI_PORT], table[r, C_SRV_PORT] = dport[i], sport[i]
    addrs[r, A_FID] = fid[i]
    return r


@njit(**UNCOUNTED)
def _payload(data, off, n, d, side, ts, work, runs, ops, fc_table, obj_kind, obj_empty, crc_table, arena,  # type: ignore[no-untyped-def]
             pool_free, params, out_bytes, n_bytes, app):
    """(ok, hand-off runs, n_bytes) of one in-order payload."""
    proto = work[C_PROTO]
    end = off + n
    if proto == P_DNP3:
        return dnp3_segment(data, off, end, d, side, ts, work, runs, ops, fc_table, obj_kind, obj_empty, crc_table,
                            arena, pool_free, params, out_bytes, n_bytes, app)
    if proto == P_MODBUS:
        ok, nr = modbus_segment(data, off, end, d, side, ts, work, runs, ops)
    elif proto == P_ENIP:
        ok, nr = enip_segment(data, off, end, d, side, ts, work, runs, ops)
    else:
        ok, nr = s7_segment(data, off, end, d, side, ts, work, runs, ops)
    return ok, nr, n_bytes


@njit(**UNCOUNTED)
def tcp_open(work, t, f, s, n):  # type: ignore[no-untyped-def]
    """A segment (flags ``f``, sequence number ``s``, ``n`` payload bytes) against one direction's stream state
    at ``work[t:]`` (T_* offsets), as StreamReassembler takes it: (in order?, deliver data?, bytes to skip).
    Not in order: a SYN with data or a FIN, or data beyond a hole (the reassembler's business)."""
    syn, fin, rst = f & TH_SYN != 0, f & TH_FIN != 0, f & TH_RST != 0
    deliver = False
    skip = 0
    if not work[t + T_STARTED]:
        if not rst:
            work[t + T_STARTED] = 1
            work[t + T_EXPECTED] = (s + 1) & SEQ_MASK if syn else s
            deliver = n > 0
            if fin:
                work[t + T_ENDED] = 1
    elif not work[t + T_ENDED]:  # after the end nothing is delivered (retransmissions, bytes after FIN)
        if rst:
            work[t + T_ENDED] = 1
        elif syn:
            if n > 0 or fin:
                return False, False, 0
        else:
            diff = (s - work[t + T_EXPECTED]) & SEQ_MASK
            if diff >= 1 << 31:
                diff -= 1 << 32
            if diff > 0:
                return False, False, 0  # beyond a hole: reassembly's business
            # In order, or retransmitting bytes already delivered (dropped there): only a new tail is data,
            # and a FIN before the delivery point is ignored.
            skip = min(-diff, n)
            deliver = n > skip
            if fin and diff + n >= 0:
                work[t + T_ENDED] = 1
    return True, deliver, skip


@njit(**UNCOUNTED)
def tcp_close(work, t, o, f, ack):  # type: ignore[no-untyped-def]
    """After a segment's data (delivered: T_EXPECTED moved on) in the direction at ``work[t:]``: False when an
    ACK the peer sent earlier reveals a gap the Python path would declare; then this segment's ACK is held
    for the direction at ``work[o:]``, as TcpStreams holds it."""
    if work[t + T_PEND_VALID]:
        # The peer acknowledged bytes beyond what was delivered: the Python path declares a gap.
        gap = (work[t + T_PEND] - work[t + T_EXPECTED]) & SEQ_MASK
        if work[t + T_STARTED] and not work[t + T_ENDED] and 0 < gap < (1 << 31):
            return False
        work[t + T_PEND_VALID] = 0
    if f & TH_ACK:
        work[o + T_PEND_VALID] = 1
        work[o + T_PEND] = ack & SEQ_MASK
    return True


@njit(**UNCOUNTED)
def _segment(data, i, flags, seq, ack, l4_off, l4_len, ts, d, work, runs, ops, fc_table, obj_kind, obj_empty,  # type: ignore[no-untyped-def]
             crc_table, arena, pool_free, params, out_bytes, n_bytes, app):
    """Apply one segment to ``work`` as TcpStreams + StreamReassembler would: (consumed?, hand-off runs, n_bytes)."""
    t = C_TCP + d * TCP_COLS
    f, n = flags[i], np.int64(l4_len[i])
    ok, deliver, skip = tcp_open(work, t, f, seq[i] & SEQ_MASK, n)
    if not ok:
        return False, 0, n_bytes
    nr = 0
    if deliver:
        work[t + T_DATA] = 1
        ok, nr, n_bytes = _payload(data, l4_off[i] + skip, n - skip, d, d ^ work[C_SWAP], ts[i], work, runs, ops,
                                   fc_table, obj_kind, obj_empty, crc_table, arena, pool_free, params, out_bytes,
                                   n_bytes, app)
        if not ok:
            return False, nr, n_bytes  # (nr: NEED_SLOT or of no use)
        work[t + T_EXPECTED] = (work[t + T_EXPECTED] + n - skip) & SEQ_MASK
    if not tcp_close(work, t, C_TCP + (1 - d) * TCP_COLS, f, ack[i]):
        return False, 0, n_bytes
    return True, nr, n_bytes


@njit(**UNCOUNTED)
def _give_up(table, r, i, pool_free, params, arena, out_bytes, n_bytes, out_runs, n_runs):  # type: ignore[no-untyped-def]
    """The flow goes to the Python path at packet i: frames the kernel kept are handed off first."""
    table[r, C_MODE] = MODE_SLOW
    for dk in range(2):
        col = C_DNP + dk * DNP_COLS
        kept = table[r, col + D_KEPT]
        if table[r, col + D_REASM] == REASM_KERNEL and kept:
            off, n_bytes = spill(arena, table[r, col + D_SLOT] - 1, kept, out_bytes, n_bytes)
            out_runs[n_runs, R_PKT], out_runs[n_runs, R_OFF], out_runs[n_runs, R_LEN] = i, off, kept
            out_runs[n_runs, R_PRIME], out_runs[n_runs, R_DIR] = prime_word(table[r]), dk
            n_runs += 1
        _release(table, r, dk, pool_free, params)
    return n_bytes, n_runs


@njit(cache=True)
def walk(data, l4_off, l4_len, proto, err, flags, seq, ack, sport, dport, ts, uid, direction, l3,  # type: ignore[no-untyped-def]
         src_hi, src_lo, dst_hi, dst_lo, fid, start, port_map, ops, fc_table, obj_kind, obj_empty, crc_table,
         table, syns, addrs, params, arena, pool_free, out_status, out_row, out_dirty, n_dirty, out_runs, n_runs,
         out_bytes, n_bytes):
    """Walk packets from ``start``; returns (next packet, n_dirty, n_runs, n_bytes, status). ST_NEED_ROOM:
    grow the table (or the arena) and call again from the next packet; ST_OUT_FULL: take the runs and
    bytes handed off, then call again."""
    runs = np.empty((MAX_RUNS_PER_PACKET, 3), np.int64)
    work = np.empty(table.shape[1], np.int64)
    app = np.empty(ARENA_BYTES, np.uint8)
    return _walk(data, l4_off, l4_len, proto, err, flags, seq, ack, sport, dport, ts, uid, direction, l3, src_hi,
                 src_lo, dst_hi, dst_lo, fid, start, port_map, ops, fc_table, obj_kind, obj_empty, crc_table, table,
                 syns, addrs, params, arena, pool_free, out_status, out_row, out_dirty, n_dirty, out_runs, n_runs,
                 out_bytes, n_bytes, runs, work, app)


# ``walk`` makes the scratch arrays: this loop allocates nothing (see fastlane_pdus_kernel.UNCOUNTED).
@njit(**UNCOUNTED)
def _walk(data, l4_off, l4_len, proto, err, flags, seq, ack, sport, dport, ts, uid, direction, l3,  # type: ignore[no-untyped-def]
          src_hi, src_lo, dst_hi, dst_lo, fid, start, port_map, ops, fc_table, obj_kind, obj_empty, crc_table,
          table, syns, addrs, params, arena, pool_free, out_status, out_row, out_dirty, n_dirty, out_runs, n_runs,
          out_bytes, n_bytes, runs, work, app):
    for i in range(start, uid.shape[0]):
        out_status[i] = LANE_NONE
        f = flags[i]
        if proto[i] != 6 or uid[i] < 0 or err[i] != 0 or (l4_len[i] == 0 and f & (TH_SYN | TH_FIN | TH_RST) == 0):
            continue
        u, d = uid[i], np.int64(direction[i])
        r = find_row(table, u)
        if r < 0:
            opening = _opening_syn(f, l4_len[i])
            s = find_row(syns, u)
            if s >= 0:
                if opening and syns[s, S_DIR] == d:  # the SYN again: it changes nothing
                    out_status[i] = LANE_CONSUMED
                    continue
                c, swap = syns[s, S_PROTO], syns[s, S_SWAP]
            else:
                c, swap = lane_protocol(port_map, sport[i], dport[i], d)
                if c <= 0:
                    continue
                if opening:
                    if (params[P_SYN_USED] + params[P_SYN_TOMBS] + 1) * 2 > syns.shape[0]:
                        return i, n_dirty, n_runs, n_bytes, ST_NEED_ROOM
                    s = free_row(syns, u)
                    if syns[s, S_UID] == TOMB:
                        params[P_SYN_TOMBS] -= 1
                    params[P_SYN_USED] += 1
                    syns[s, S_UID], syns[s, S_EXPECTED], syns[s, S_DIR] = u, ((seq[i] & SEQ_MASK) + 1) & SEQ_MASK, d
                    syns[s, S_PROTO], syns[s, S_SWAP] = c, swap
                    out_status[i] = LANE_CONSUMED
                    continue
            if (params[P_USED] + params[P_TOMBS] + 1) * 2 > table.shape[0] or params[P_FREE] == 0:
                return i, n_dirty, n_runs, n_bytes, ST_NEED_ROOM
            r = _new_row(table, addrs, params, i, u, d, c, swap, l3, src_hi, src_lo, dst_hi, dst_lo, sport, dport, fid)
            if s >= 0:  # what the opening SYN left, as in a row it would have from the start
                t = C_TCP + syns[s, S_DIR] * TCP_COLS
                table[r, t + T_STARTED] = 1
                table[r, t + T_EXPECTED] = syns[s, S_EXPECTED]
                _drop_syn(syns, s, params)
        elif table[r, C_MODE] == MODE_SLOW:
            continue
        if n_runs + MAX_RUNS_PER_PACKET + 2 > out_runs.shape[0] or n_bytes + 3 * ARENA_BYTES > out_bytes.shape[0]:
            return i, n_dirty, n_runs, n_bytes, ST_OUT_FULL
        for k in range(work.shape[0]):
            work[k] = table[r, k]
        ok, nr, spilled = _segment(data, i, flags, seq, ack, l4_off, l4_len, ts, d, work, runs, ops, fc_table,
                                   obj_kind, obj_empty, crc_table, arena, pool_free, params, out_bytes, n_bytes, app)
        if not ok and nr == NEED_SLOT:
            return i, n_dirty, n_runs, n_bytes, ST_NEED_ROOM  # nothing of packet i was kept
        n_bytes = spilled
        out_row[i] = r
        slot = C_DNP + d * DNP_COLS + D_SLOT
        if not ok:
            if work[slot] and not table[r, slot]:  # taken for this packet: back
                pool_free[params[P_FREE]] = work[slot] - 1
                params[P_FREE] += 1
            n_bytes, n_runs = _give_up(table, r, i, pool_free, params, arena, out_bytes, n_bytes, out_runs, n_runs)
            out_status[i] = LANE_SLOW
            continue
        if work[C_FLAGS] & F_DIRTY and not table[r, C_FLAGS] & F_DIRTY:
            out_dirty[n_dirty] = r
            n_dirty += 1
        for k in range(work.shape[0]):
            table[r, k] = work[k]
        if work[C_DNP + d * DNP_COLS + D_REASM] != REASM_KERNEL:
            _release(table, r, d, pool_free, params)
        if nr == 0:
            out_status[i] = LANE_CONSUMED
            continue
        out_status[i] = LANE_HANDOFF
        for k in range(nr):
            out_runs[n_runs, R_PKT] = i
            out_runs[n_runs, R_OFF] = runs[k, 0]
            out_runs[n_runs, R_LEN] = runs[k, 1]
            out_runs[n_runs, R_PRIME] = runs[k, 2]
            out_runs[n_runs, R_DIR] = d
            n_runs += 1
    return uid.shape[0], n_dirty, n_runs, n_bytes, ST_DONE

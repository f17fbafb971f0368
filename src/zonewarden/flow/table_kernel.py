"""The compiled flow table: open addressing with linear probing over a structured numpy array.

Keys are canonical (endpoint A sorts before endpoint B) so both directions of a conversation land
in one slot; ``orig_is_a`` remembers which endpoint is the originator. The key holds the IP version:
IPv4 addresses are stored IPv4-mapped, so only the version tells an IPv6 conversation between
::ffff:a.b.c.d addresses from the IPv4 one. Finished flows are copied out into a caller-provided
array, so the table itself never grows past its capacity. The record layout and constants live in
``layout.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.decode.anomalies import SOFT
from zonewarden.flow.layout import (
    EMPTY,
    END_ACTIVE,
    END_ACTIVE_TIMEOUT,
    END_IDLE,
    END_PORT_REUSE,
    F_ACK,
    F_DATA,
    F_FIN,
    F_RST,
    F_SYN,
    F_SYNACK,
    H_ACK,
    H_DATA,
    H_FIN,
    H_RETRANS,
    H_RST,
    H_SYN,
    H_SYNACK,
    P_ACTIVE,
    P_NEXT_UID,
    P_OTHER_IDLE,
    P_TCP_CLOSED,
    P_TCP_IDLE,
    P_UDP_IDLE,
    ST_DONE,
    ST_NEED_ROOM,
    ST_OUT_FULL,
    TOMB,
    USED,
)


@njit(cache=True, inline="always")
def _family_salt(ipver, a_hi, a_lo, b_hi, b_lo):  # type: ignore[no-untyped-def]
    """6 for IPv6 between two IPv4-mapped addresses (the one key an IPv4 flow could share), else 0.

    It enters the slot hash and the flow id only there, so every other flow keeps its id.
    """
    mapped = np.uint64(0xFFFF)
    if (ipver == 6 and a_hi == np.uint64(0) and b_hi == np.uint64(0)
            and (a_lo >> np.uint64(32)) == mapped and (b_lo >> np.uint64(32)) == mapped):
        return np.uint64(6)
    return np.uint64(0)


@njit(cache=True, inline="always")
def _hash(a_hi, a_lo, b_hi, b_lo, a_port, b_port, proto, vo, vi, ipver):  # type: ignore[no-untyped-def]
    h = np.uint64(0x9E3779B97F4A7C15)
    m = np.uint64(0xBF58476D1CE4E5B9)
    for v in (a_hi, a_lo, b_hi, b_lo):
        h = (h ^ v) * m
        h ^= h >> np.uint64(31)
    x = (np.uint64(a_port) << np.uint64(40)) | (np.uint64(b_port) << np.uint64(16)) | np.uint64(proto)
    x ^= (np.uint64(vo & 0xFFFF) << np.uint64(48)) ^ (np.uint64(vi & 0xFFFF) << np.uint64(24))
    x ^= _family_salt(ipver, a_hi, a_lo, b_hi, b_lo) << np.uint64(60)
    h = (h ^ x) * m
    h ^= h >> np.uint64(29)
    return h


@njit(cache=True, inline="always")
def _mix(h, v):  # type: ignore[no-untyped-def]
    # splitmix64 step: a fixed, well-spread function, so flow ids are stable across runs and versions.
    h ^= v
    h += np.uint64(0x9E3779B97F4A7C15)
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@njit(cache=True)
def _flow_fid(f):  # type: ignore[no-untyped-def]
    """The flow's id: a hash of its key, originator side and first packet time."""
    salt = _family_salt(f.ipver, f.a_hi, f.a_lo, f.b_hi, f.b_lo)
    h = np.uint64(0x243F6A8885A308D3)
    h = _mix(h, f.a_hi)
    h = _mix(h, f.a_lo)
    h = _mix(h, f.b_hi)
    h = _mix(h, f.b_lo)
    h = _mix(h, np.uint64(f.a_port))
    h = _mix(h, np.uint64(f.b_port))
    h = _mix(h, np.uint64(f.proto))
    h = _mix(h, np.uint64(np.int64(f.vlan_outer)))
    h = _mix(h, np.uint64(np.int64(f.vlan_inner)))
    h = _mix(h, np.uint64(f.orig_is_a))
    if salt != np.uint64(0):
        h = _mix(h, salt)
    return _mix(h, np.uint64(f.ts_first))


@njit(cache=True, inline="always")
def _closed(f):  # type: ignore[no-untyped-def]
    both = f.flags_o | f.flags_r
    if both & F_RST:
        return True
    return (f.flags_o & F_FIN) != 0 and (f.flags_r & F_FIN) != 0


@njit(cache=True, inline="always")
def _idle_limit(f, params):  # type: ignore[no-untyped-def]
    if f.proto == 6:
        if _closed(f):
            return params[P_TCP_CLOSED]
        return params[P_TCP_IDLE]
    if f.proto == 17:
        return params[P_UDP_IDLE]
    return params[P_OTHER_IDLE]


@njit(cache=True, inline="always")
def _add_history(f, letter, responder):  # type: ignore[no-untyped-def]
    code = letter + 7 if responder else letter
    bit = np.uint32(1) << np.uint32(code)
    if f.history_seen & bit:
        return
    f.history_seen |= bit
    # Up to 14 letters, 4 bits each, in order of first occurrence.
    count = 0
    h = f.history
    while h != 0:
        count += 1
        h >>= np.uint64(4)
    if count < 16:
        f.history |= np.uint64(code + 1) << np.uint64(4 * count)


@njit(cache=True)
def update_flows(  # type: ignore[no-untyped-def]
    slots, params, start, count_used, max_used,
    l3, err, frag, vlan_outer, vlan_inner, src_hi, src_lo, dst_hi, dst_lo, proto, sport, dport,
    tcp_flags, seq, l4_wire_len, wirelen, ts_ns,
    out_uid, out_dir, out_fid, finished, n_finished,
):
    """Attribute packets ``start..`` to flows. Returns (next index, used slot count, finished, status).

    Stops early with ST_NEED_ROOM when a new flow would push the table past ``max_used`` (the caller
    grows or evicts, then resumes) and with ST_OUT_FULL when ``finished`` has no room left.
    """
    mask = slots.shape[0] - 1
    n = l3.shape[0]
    i = start
    while i < n:
        out_uid[i] = -1
        out_dir[i] = 0
        out_fid[i] = 0
        if (err[i] != 0 and err[i] < SOFT) or frag[i] != 0 or (l3[i] != 4 and l3[i] != 6):
            i += 1
            continue
        pr = proto[i]
        is_icmp = pr == 1 or pr == 58
        sp = np.int32(0) if is_icmp else sport[i]
        dp = np.int32(0) if is_icmp else dport[i]
        s_hi, s_lo, d_hi, d_lo = src_hi[i], src_lo[i], dst_hi[i], dst_lo[i]
        src_is_a = (s_hi < d_hi) or (s_hi == d_hi and (s_lo < d_lo or (s_lo == d_lo and sp <= dp)))
        if src_is_a:
            a_hi, a_lo, b_hi, b_lo, a_port, b_port = s_hi, s_lo, d_hi, d_lo, sp, dp
        else:
            a_hi, a_lo, b_hi, b_lo, a_port, b_port = d_hi, d_lo, s_hi, s_lo, dp, sp
        vo = vlan_outer[i]
        vi = vlan_inner[i]
        ver = l3[i]
        h = _hash(a_hi, a_lo, b_hi, b_lo, a_port, b_port, pr, vo, vi, ver) & np.uint64(mask)
        idx = np.int64(h)
        tomb = -1
        found = -1
        while True:
            s = slots[idx]
            if s.used == EMPTY:
                break
            if s.used == TOMB:
                if tomb < 0:
                    tomb = idx
            elif (s.a_lo == a_lo and s.b_lo == b_lo and s.a_port == a_port and s.b_port == b_port
                  and s.proto == pr and s.a_hi == a_hi and s.b_hi == b_hi
                  and s.vlan_outer == vo and s.vlan_inner == vi and s.ipver == ver):
                found = idx
                break
            idx = (idx + 1) & mask
        ts = ts_ns[i]
        flags = np.int64(tcp_flags[i])
        syn = (flags & 0x02) != 0
        ackf = (flags & 0x10) != 0
        if found >= 0:
            f = slots[found]
            expired = ts - f.ts_last > _idle_limit(f, params) or ts - f.ts_first > params[P_ACTIVE]
            reuse = pr == 6 and syn and not ackf and _closed(f)
            if expired or reuse:
                if n_finished >= finished.shape[0]:
                    return i, count_used, n_finished, ST_OUT_FULL
                finished[n_finished] = f
                if reuse and not expired:
                    finished[n_finished].end_reason = END_PORT_REUSE
                elif ts - f.ts_last > _idle_limit(f, params):
                    finished[n_finished].end_reason = END_IDLE
                else:
                    finished[n_finished].end_reason = END_ACTIVE_TIMEOUT
                n_finished += 1
                slot = found
                fresh = True
            else:
                slot = found
                fresh = False
        else:
            if count_used >= max_used:
                return i, count_used, n_finished, ST_NEED_ROOM
            slot = tomb if tomb >= 0 else idx
            count_used += 1
            fresh = True
        f = slots[slot]
        if fresh:
            f.used = USED
            f.proto = pr
            f.ipver = ver
            f.vlan_outer = vo
            f.vlan_inner = vi
            f.a_hi, f.a_lo, f.b_hi, f.b_lo = a_hi, a_lo, b_hi, b_lo
            f.a_port, f.b_port = a_port, b_port
            # The originator is the SYN sender: a SYN-ACK seen first means the receiver opened it.
            orig_is_src = not (pr == 6 and syn and ackf)
            f.orig_is_a = 1 if orig_is_src == src_is_a else 0
            f.end_reason = END_ACTIVE
            f.uid = params[P_NEXT_UID]
            params[P_NEXT_UID] += 1
            f.ts_first = ts
            f.ts_last = ts
            f.pkts_o = 0
            f.pkts_r = 0
            f.bytes_o = 0
            f.bytes_r = 0
            f.payload_o = 0
            f.payload_r = 0
            f.next_seq_o = -1
            f.next_seq_r = -1
            f.history = 0
            f.history_seen = 0
            f.flags_o = 0
            f.flags_r = 0
            f.icmp_type = sport[i] if is_icmp else -1
            f.icmp_code = dport[i] if is_icmp else -1
            f.fid = _flow_fid(f)
        responder = (f.orig_is_a == 1) != src_is_a
        out_uid[i] = f.uid
        out_fid[i] = f.fid
        out_dir[i] = 1 if responder else 0
        if ts > f.ts_last:
            f.ts_last = ts
        plen = np.int64(l4_wire_len[i])
        if responder:
            f.pkts_r += 1
            f.bytes_r += wirelen[i]
            f.payload_r += plen
        else:
            f.pkts_o += 1
            f.bytes_o += wirelen[i]
            f.payload_o += plen
        bits = 0
        if pr == 6:
            fin = (flags & 0x01) != 0
            rst = (flags & 0x04) != 0
            if syn and ackf:
                bits |= F_SYNACK
                _add_history(f, H_SYNACK, responder)
            elif syn:
                bits |= F_SYN
                _add_history(f, H_SYN, responder)
            if fin:
                bits |= F_FIN
                _add_history(f, H_FIN, responder)
            if rst:
                bits |= F_RST
                _add_history(f, H_RST, responder)
            if ackf:
                bits |= F_ACK
                if not syn and not fin and not rst and plen == 0:
                    _add_history(f, H_ACK, responder)
            # Sequence space consumed: payload plus one for SYN and one for FIN.
            span = plen + (1 if syn else 0) + (1 if fin else 0)
            end_seq = (seq[i] + span) & 0xFFFFFFFF
            prev = f.next_seq_r if responder else f.next_seq_o
            if plen > 0:
                bits |= F_DATA
                _add_history(f, H_DATA, responder)
                # Ends at or before data already seen: a retransmission (keep-alives count too, as in Zeek).
                if prev >= 0 and (((end_seq - prev) & 0xFFFFFFFF) >= 0x80000000 or (end_seq == prev and not syn)):
                    _add_history(f, H_RETRANS, responder)
            if span > 0 and (prev < 0 or ((end_seq - prev) & 0xFFFFFFFF) < 0x80000000):
                if responder:
                    f.next_seq_r = end_seq
                else:
                    f.next_seq_o = end_seq
        elif plen > 0:
            bits |= F_DATA
            _add_history(f, H_DATA, responder)
        if responder:
            f.flags_r |= bits
        else:
            f.flags_o |= bits
        i += 1
    return i, count_used, n_finished, ST_DONE


@njit(cache=True)
def expire_flows(slots, params, now, older_than, finished, n_finished, reason):  # type: ignore[no-untyped-def]
    """Move flows out of the table: those past a timeout at ``now`` (``older_than`` < 0), or with
    ``ts_last <= older_than`` (eviction), or all of them (``now`` < 0, end of input).

    Flows finished by the eviction or end of input get ``reason``; flows past a timeout get the reason
    update_flows would give them (idle if idle, else active_timeout), whatever ``reason`` says.

    Returns (finished count, slots freed, index to resume from or -1 when the scan completed).
    """
    freed = 0
    for idx in range(slots.shape[0]):
        f = slots[idx]
        if f.used != USED:
            continue
        why = reason
        if now < 0:
            go = True
        elif older_than >= 0:
            go = f.ts_last <= older_than
        else:
            idle = now - f.ts_last > _idle_limit(f, params)
            go = idle or now - f.ts_first > params[P_ACTIVE]
            why = END_IDLE if idle else END_ACTIVE_TIMEOUT
        if not go:
            continue
        if n_finished >= finished.shape[0]:
            return n_finished, freed, idx
        finished[n_finished] = f
        finished[n_finished].end_reason = why
        n_finished += 1
        f.used = TOMB
        freed += 1
    return n_finished, freed, -1


@njit(cache=True)
def rehash(old, new):  # type: ignore[no-untyped-def]
    """Copy every live flow of ``old`` into the empty table ``new`` (a power-of-two size)."""
    mask = new.shape[0] - 1
    for j in range(old.shape[0]):
        s = old[j]
        if s.used != USED:
            continue
        h = _hash(s.a_hi, s.a_lo, s.b_hi, s.b_lo, s.a_port, s.b_port, s.proto, s.vlan_outer, s.vlan_inner, s.ipver)
        idx = np.int64(h & np.uint64(mask))
        while new[idx].used != EMPTY:
            idx = (idx + 1) & mask
        new[idx] = s

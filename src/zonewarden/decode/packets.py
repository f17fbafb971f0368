"""Run the compiled decoder over a frame batch."""

from __future__ import annotations

import numpy as np

from zonewarden import kernels
from zonewarden.model.frames import FrameBatch
from zonewarden.model.packets import PacketBatch


def decode(frames: FrameBatch) -> PacketBatch:
    n = len(frames)
    i64 = [np.empty(n, np.int64) for _ in range(6)]
    i32 = [np.empty(n, np.int32) for _ in range(7)]
    u64 = [np.empty(n, np.uint64) for _ in range(4)]
    u8 = [np.empty(n, np.uint8) for _ in range(5)]
    l3, proto, tcp_flags, frag, err = u8
    ethertype, vlan_outer, vlan_inner, sport, dport, l4_len, l4_wire_len = i32
    l2_off, ip_off, seq, ack, l4_off, _spare = i64
    src_hi, src_lo, dst_hi, dst_lo = u64
    kernels.decode_batch(
        frames.data, frames.offset, frames.caplen, frames.wirelen, frames.linktype,
        l3, ethertype, vlan_outer, vlan_inner, l2_off, ip_off,
        src_hi, src_lo, dst_hi, dst_lo, proto, sport, dport,
        tcp_flags, seq, ack, l4_off, l4_len, l4_wire_len, frag, err,
    )
    return PacketBatch(
        frames, l3, ethertype, vlan_outer, vlan_inner, l2_off, ip_off, src_hi, src_lo, dst_hi, dst_lo,
        proto, sport, dport, tcp_flags, seq, ack, l4_off, l4_len, l4_wire_len, frag, err,
    )

"""Decoded packet batches: struct-of-arrays output of the L2-L4 decoder."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from zonewarden.model.frames import FrameBatch

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class PacketBatch:
    """One entry per frame of ``frames``. Offsets index ``frames.data``; -1 means absent.

    ``l3``: 0 none, 1 ARP, 2 other ethertype, 4 IPv4, 6 IPv6. ``vlan_outer``/``vlan_inner``: VLAN ids
    or -1. Addresses are 128-bit (hi, lo) pairs, IPv4 mapped into ::ffff:0:0/96 (``l3`` tells an IPv4
    address from an IPv6 one in that range). ``l4_len`` is the captured payload length, ``l4_wire_len``
    the payload length the IP (or UDP) header announces, but no more than the frame's wire length holds.
    ``frag`` is 1 for IP fragments; ``err`` a decode anomaly code (zonewarden.decode.anomalies).
    """

    frames: FrameBatch
    l3: U8
    ethertype: I32
    vlan_outer: I32
    vlan_inner: I32
    l2_off: I64
    ip_off: I64
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    proto: U8
    sport: I32
    dport: I32
    tcp_flags: U8
    seq: I64
    ack: I64
    l4_off: I64
    l4_len: I32
    l4_wire_len: I32
    frag: U8
    err: U8

    def __len__(self) -> int:
        return len(self.frames)


@lru_cache(maxsize=1 << 16)
def format_address(hi: int, lo: int, ipver: int = 4) -> str:
    """Text form of a 128-bit address as stored in batches.

    IPv4 addresses are stored IPv4-mapped and shown as a dotted quad. ``ipver`` is the family the
    address came from (a packet's ``l3``, a flow's ``ipver``): with 6, an IPv4-mapped address is a real
    IPv6 one and is shown as such, ::ffff:a.b.c.d (RFC 5952's form, as tshark prints it).
    """
    if hi == 0 and (lo >> 32) == 0xFFFF:
        dotted = socket.inet_ntop(socket.AF_INET, (lo & 0xFFFFFFFF).to_bytes(4, "big"))
        return "::ffff:" + dotted if ipver == 6 else dotted
    return str(ipaddress.IPv6Address((hi << 64) | lo))

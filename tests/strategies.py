"""Hypothesis strategies and the small fixture builders the capture, decode, flow and pipeline tests share.

Every frame here is built with ``zonewarden.simulate`` (encoders written from the RFCs, independent of the
decoder), so a test compares two implementations rather than the decoder with itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from zonewarden.capture.source import CaptureRun
from zonewarden.decode.anomalies import anomaly_name
from zonewarden.decode.packets import decode
from zonewarden.flow.layout import FLOW_DTYPE
from zonewarden.model.frames import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_BSD12,
    LINKTYPE_RAW_BSD14,
    FrameBatch,
)
from zonewarden.model.packets import PacketBatch, format_address
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import (
    EnhancedPacket,
    Interface,
    ObsoletePacket,
    Section,
    SimplePacket,
    write_pcap,
)

NS = 1_000_000_000
T0_NS = 1_767_592_800 * NS + 123_456_789  # 2026-01-05 06:00:00.123456789 UTC
MAC_CLIENT = "02:00:00:00:00:01"
MAC_SERVER = "02:00:00:00:00:02"

DECODED_LINKTYPES = (
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_RAW_BSD12, LINKTYPE_RAW_BSD14, LINKTYPE_LOOP,
    LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2,
)
UNKNOWN_LINKTYPE = 147  # LINKTYPE_USER0: nothing the decoder knows


# --- fixture builders ---


def eth(packet: bytes, vlans: Sequence[tuple[int, int]] = (), *, pad: bool = False) -> bytes:
    """An IP packet in an Ethernet II frame, the EtherType chosen from the IP version nibble."""
    ethertype = f.ETH_P_IPV6 if packet and packet[0] >> 4 == 6 else f.ETH_P_IP
    return f.ethernet(MAC_SERVER, MAC_CLIENT, ethertype, packet, vlans, pad=pad)


def frame_batch(
    frames: Sequence[tuple[int, bytes]],
    linktype: int | Sequence[int] = LINKTYPE_ETHERNET,
    *,
    wirelen: Sequence[int] | None = None,
    gap: bytes = b"",
) -> FrameBatch:
    """A FrameBatch of ``(ts_ns, frame)`` pairs without going through a file; ``gap`` bytes separate the
    frames in the buffer (and follow the last), so a decoder reading past a frame's end sees junk."""
    data = bytearray(gap)
    offsets = []
    for _, frame in frames:
        offsets.append(len(data))
        data += frame + gap
    lengths = np.array([len(frame) for _, frame in frames], np.int64)
    kinds = [linktype] * len(frames) if isinstance(linktype, int) else list(linktype)
    return FrameBatch(
        np.frombuffer(bytes(data), np.uint8).copy(),
        np.array(offsets, np.int64),
        lengths,
        lengths.copy() if wirelen is None else np.array(wirelen, np.int64),
        np.array([ts for ts, _ in frames], np.int64),
        np.array(kinds, np.int32),
        1,
    )


def decode_frames(
    frames: Sequence[bytes], linktype: int | Sequence[int] = LINKTYPE_ETHERNET, *, gap: bytes = b""
) -> PacketBatch:
    return decode(frame_batch([(T0_NS + i, fr) for i, fr in enumerate(frames)], linktype, gap=gap))


@dataclass(frozen=True, slots=True)
class ReadFrame:
    ts_ns: int
    data: bytes
    wirelen: int
    linktype: int


def read_capture(*inputs: str | Path) -> tuple[list[ReadFrame], CaptureRun]:
    """Every frame of the inputs (as plain values) and the finished run with its problems and stats."""
    run = CaptureRun([str(p) for p in inputs])
    out = []
    for batch in run:
        for i in range(len(batch)):
            out.append(
                ReadFrame(int(batch.ts_ns[i]), batch.frame(i), int(batch.wirelen[i]), int(batch.linktype[i]))
            )
    return out, run


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decoded packet as plain values; offsets are relative to the frame's first byte (-1: absent)."""

    l3: int
    ethertype: int
    vlan_outer: int
    vlan_inner: int
    l2_off: int
    ip_off: int
    src: str | None
    dst: str | None
    proto: int
    sport: int
    dport: int
    tcp_flags: int
    seq: int
    ack: int
    l4_off: int
    l4_len: int
    l4_wire_len: int
    frag: int
    err: str | None  # anomaly name, None when the packet decoded cleanly


def decoded_rows(pk: PacketBatch) -> list[Decoded]:
    rows = []
    for i in range(len(pk)):
        start = int(pk.frames.offset[i])

        def rel(v: int, start: int = start) -> int:
            return v - start if v >= 0 else -1

        has_ip = int(pk.l3[i]) in (4, 6)
        err = int(pk.err[i])
        rows.append(Decoded(
            l3=int(pk.l3[i]), ethertype=int(pk.ethertype[i]), vlan_outer=int(pk.vlan_outer[i]),
            vlan_inner=int(pk.vlan_inner[i]), l2_off=rel(int(pk.l2_off[i])), ip_off=rel(int(pk.ip_off[i])),
            src=format_address(int(pk.src_hi[i]), int(pk.src_lo[i]), int(pk.l3[i])) if has_ip else None,
            dst=format_address(int(pk.dst_hi[i]), int(pk.dst_lo[i]), int(pk.l3[i])) if has_ip else None,
            proto=int(pk.proto[i]), sport=int(pk.sport[i]), dport=int(pk.dport[i]), tcp_flags=int(pk.tcp_flags[i]),
            seq=int(pk.seq[i]), ack=int(pk.ack[i]), l4_off=rel(int(pk.l4_off[i])), l4_len=int(pk.l4_len[i]),
            l4_wire_len=int(pk.l4_wire_len[i]), frag=int(pk.frag[i]), err=anomaly_name(err) if err else None,
        ))
    return rows


def decode_via_pcap(path: Path, frames: Sequence[bytes], linktype: int = LINKTYPE_ETHERNET,
                    *, snaplen: int = 262144) -> list[Decoded]:
    """Write the frames as a pcap, read it back with the capture reader and decode every batch."""
    write_pcap(path, [(T0_NS + i, fr) for i, fr in enumerate(frames)], linktype, snaplen=snaplen)
    run = CaptureRun([str(path)])
    rows = [row for batch in run for row in decoded_rows(decode(batch))]
    assert run.problems == []
    return rows


def v4(host: int) -> str:
    return str(ipaddress.IPv4Address(0x0A000000 + host))


def v6(host: int) -> str:
    return str(ipaddress.IPv6Address((0x20010DB8 << 96) + host))


# --- strategies: frames ---

random_frames = st.tuples(st.sampled_from((*DECODED_LINKTYPES, UNKNOWN_LINKTYPE)), st.binary(max_size=96))

_ports = st.integers(0, 65535)
_payloads = st.binary(max_size=64)


@st.composite
def ip_packets(draw: st.DrawFn) -> bytes:
    """An IPv4 or IPv6 packet (with options or extension headers) carrying TCP, UDP or ICMP."""
    six = draw(st.booleans())
    src, dst = (v6(draw(st.integers(1, 9))), v6(draw(st.integers(1, 9)))) if six else (
        v4(draw(st.integers(1, 9))), v4(draw(st.integers(1, 9))))
    kind = draw(st.sampled_from(("tcp", "udp", "icmp")))
    payload = draw(_payloads)
    if kind == "tcp":
        flags = draw(st.sampled_from(("S", "SA", "A", "PA", "FA", "R", "RA", "")))
        options = draw(st.sampled_from((b"", f.tcp_mss_option(1460), bytes([1, 1, 1, 0]) * 3)))
        proto = f.IPPROTO_TCP
        l4 = f.tcp(src, dst, draw(_ports), draw(_ports), draw(st.integers(0, 2**32 - 1)),
                   draw(st.integers(0, 2**32 - 1)), flags, payload, options=options)
    elif kind == "udp":
        proto = f.IPPROTO_UDP
        l4 = f.udp(src, dst, draw(_ports), draw(_ports), payload)
    elif six:
        proto = f.IPPROTO_ICMPV6
        l4 = f.icmpv6_echo(src, dst, draw(_ports), draw(_ports), payload)
    else:
        proto = f.IPPROTO_ICMP
        l4 = f.icmp_echo(draw(_ports), draw(_ports), payload)
    if six:
        ext = draw(st.lists(st.sampled_from(((f.IPPROTO_HOPOPTS, b""), (f.IPPROTO_DSTOPTS, bytes(6)),
                                             (f.IPPROTO_ROUTING, bytes(6)))), max_size=3))
        return f.ipv6(src, dst, proto, l4, ext_headers=ext)
    options = draw(st.sampled_from((b"", b"\x01\x01\x01\x00", bytes([7, 7, 4]) + bytes(4))))
    return f.ipv4(src, dst, proto, l4, options=options, ident=draw(_ports))


@st.composite
def valid_frames(draw: st.DrawFn) -> tuple[int, bytes]:
    """(link type, frame): an IP packet or ARP in any link layer the decoder supports."""
    if draw(st.integers(0, 9)) == 0:
        body = f.arp(f.ARP_REQUEST, MAC_CLIENT, v4(1), f.ZERO_MAC, v4(2))
        return LINKTYPE_ETHERNET, f.ethernet(f.BROADCAST_MAC, MAC_CLIENT, f.ETH_P_ARP, body, pad=True)
    packet = draw(ip_packets())
    six = packet[0] >> 4 == 6
    ethertype = f.ETH_P_IPV6 if six else f.ETH_P_IP
    link = draw(st.sampled_from(("eth", "sll", "sll2", "null", "null_be", "loop", "raw")))
    if link == "eth":
        vlans = draw(st.lists(st.tuples(st.sampled_from((f.ETH_P_8021Q, f.ETH_P_8021AD)), st.integers(0, 4095)),
                              max_size=2))
        return LINKTYPE_ETHERNET, eth(packet, vlans, pad=draw(st.booleans()))
    if link == "sll":
        return LINKTYPE_LINUX_SLL, f.sll(packet, ethertype)
    if link == "sll2":
        return LINKTYPE_LINUX_SLL2, f.sll2(packet, ethertype)
    if link in ("null", "null_be", "loop"):
        family = draw(st.sampled_from((f.AF_INET6_BSD, f.AF_INET6_FREEBSD, f.AF_INET6_DARWIN))) if six else f.AF_INET
        linktype = LINKTYPE_LOOP if link == "loop" else LINKTYPE_NULL
        return linktype, f.null_header(packet, family, big_endian=link != "null")
    raw = (LINKTYPE_RAW, LINKTYPE_RAW_BSD12, LINKTYPE_RAW_BSD14, LINKTYPE_IPV6 if six else LINKTYPE_IPV4)
    return draw(st.sampled_from(raw)), packet


@st.composite
def mutated_frames(draw: st.DrawFn) -> tuple[int, bytes]:
    """A valid frame with a few bit flips and/or cut short."""
    linktype, frame = draw(valid_frames())
    data = bytearray(frame)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return linktype, bytes(data)


# --- strategies: packet sequences for the flow table ---

@dataclass(frozen=True, slots=True)
class FlowPacket:
    gap_ns: int  # time since the previous packet (sequences never go back in time)
    client: int
    server: int
    proto: str  # "tcp" | "udp" | "icmp"
    cport: int
    sport: int
    from_client: bool
    flags: str
    payload: int
    vlan: int | None


flow_packets = st.builds(
    FlowPacket,
    gap_ns=st.sampled_from((0, 1, 1_000, NS // 2, 5 * NS, 61 * NS, 400 * NS)),
    client=st.integers(1, 3),
    server=st.integers(4, 5),
    proto=st.sampled_from(("tcp", "udp", "icmp")),
    cport=st.sampled_from((1024, 1025)),
    sport=st.sampled_from((502, 20000)),
    from_client=st.booleans(),
    flags=st.sampled_from(("S", "SA", "A", "PA", "FA", "R", "RA")),
    payload=st.sampled_from((0, 1, 10, 300)),
    vlan=st.sampled_from((None, 10)),
)


def flow_packet_frames(packets: Sequence[FlowPacket]) -> list[tuple[int, bytes]]:
    """Encode a FlowPacket sequence as Ethernet frames with non-decreasing packet times."""
    out = []
    ts = T0_NS
    for p in packets:
        ts += p.gap_ns
        a, b = v4(p.client), v4(p.server)
        src, dst, sp, dp = (a, b, p.cport, p.sport) if p.from_client else (b, a, p.sport, p.cport)
        body = bytes(p.payload)
        if p.proto == "tcp":
            packet = f.ipv4(src, dst, f.IPPROTO_TCP, f.tcp(src, dst, sp, dp, 1000, 2000, p.flags, body))
        elif p.proto == "udp":
            packet = f.ipv4(src, dst, f.IPPROTO_UDP, f.udp(src, dst, sp, dp, body))
        else:
            packet = f.ipv4(src, dst, f.IPPROTO_ICMP, f.icmp_echo(sp, dp, body, reply=not p.from_client))
        vlans = [(f.ETH_P_8021Q, p.vlan)] if p.vlan is not None else []
        out.append((ts, eth(packet, vlans)))
    return out


# --- strategies: capture files ---

capture_frames = st.lists(
    st.tuples(st.integers(0, 10**6 * NS), st.binary(min_size=0, max_size=80)), min_size=1, max_size=12
).map(lambda items: [(T0_NS + ts, data) for ts, data in items])


@st.composite
def pcapng_sections(draw: st.DrawFn) -> list[Section]:
    """Little-endian sections with one or two interfaces and EPB/OPB/SPB packet blocks."""
    sections = []
    for _ in range(draw(st.integers(1, 3))):
        interfaces = tuple(
            Interface(linktype=draw(st.sampled_from((LINKTYPE_ETHERNET, LINKTYPE_RAW))),
                      tsresol=draw(st.sampled_from((None, 9, 3, 0x80 | 20))))
            for _ in range(draw(st.integers(1, 2)))
        )
        blocks: list[EnhancedPacket | ObsoletePacket | SimplePacket] = []
        for ts, data in draw(capture_frames):
            kind = draw(st.sampled_from(("epb", "epb", "opb", "spb")))
            iface = draw(st.integers(0, len(interfaces) - 1))
            if kind == "epb":
                blocks.append(EnhancedPacket(ts, data, interface=iface))
            elif kind == "opb":
                blocks.append(ObsoletePacket(ts, data, interface=iface))
            else:
                blocks.append(SimplePacket(data))
        sections.append(Section(interfaces=interfaces, blocks=tuple(blocks)))
    return sections


# --- strategies: finished flow records ---

INT32, INT64 = (-(1 << 31), (1 << 31) - 1), (-(1 << 63), (1 << 63) - 1)
TS_MIN_NS = (1 << 26) * NS  # json_bytes.TS_MIN in ns: the compiled writers' earliest exact time
_u64 = st.one_of(st.integers(0, (1 << 64) - 1), st.sampled_from((0, 1, 0x10, 0xF0, (1 << 64) - 1)))
_i32 = st.one_of(st.integers(*INT32), st.sampled_from((-1, 0, 1, 4095, 65535, *INT32)))
_i64 = st.one_of(st.integers(*INT64), st.integers(0, 10**6), st.sampled_from((-1, 0, 1, *INT64)))
_ts = st.one_of(st.integers(*INT64), st.integers(T0_NS - 10**12, T0_NS + 10**12),
                st.integers(TS_MIN_NS - 3, TS_MIN_NS + 3), st.sampled_from((0, 1, -1, *INT64, TS_MIN_NS - NS)))
_hextets = st.lists(st.one_of(st.sampled_from((0, 0, 0, 1, 0x10, 0xABC, 0xFFFF)), st.integers(0, 0xFFFF)),
                    min_size=8, max_size=8)


def _halves(groups: Sequence[int]) -> tuple[int, int]:
    value = int.from_bytes(b"".join(g.to_bytes(2, "big") for g in groups), "big")
    return value >> 64, value & ((1 << 64) - 1)


# (hi, lo) as the flow table stores addresses: IPv4-mapped, IPv6 with runs of zero groups, any 128 bits
addresses = st.one_of(st.integers(0, (1 << 32) - 1).map(lambda v4: (0, 0xFFFF << 32 | v4)), _hextets.map(_halves),
                      st.tuples(_u64, _u64))


@st.composite
def flow_record_arrays(draw: st.DrawFn, max_size: int = 24) -> np.ndarray:
    """FLOW_DTYPE records over every field's range (end reasons only those with a name): known and unknown
    protocols, ICMP, ports and VLANs of any int32 (a negative VLAN is none), IPv4, IPv6 and IPv4-mapped IPv6,
    times inside and outside the compiled writer's exact range, zero and extreme counters."""
    n = draw(st.integers(1, max_size))
    records = np.zeros(n, FLOW_DTYPE)
    for r in records:
        r["fid"], r["history"] = draw(_u64), draw(_u64)
        r["proto"] = draw(st.one_of(st.sampled_from((1, 6, 17, 58, 132, 2, 47, 112, 0, 255)), st.integers(0, 255)))
        r["orig_is_a"], r["end_reason"] = draw(st.integers(0, 2)), draw(st.integers(0, 4))
        r["ipver"] = draw(st.sampled_from((4, 6)))
        (r["a_hi"], r["a_lo"]), (r["b_hi"], r["b_lo"]) = draw(addresses), draw(addresses)
        for name in ("vlan_outer", "vlan_inner", "a_port", "b_port", "icmp_type", "icmp_code"):
            r[name] = draw(_i32)
        r["ts_first"], r["ts_last"] = draw(_ts), draw(_ts)
        for name in ("pkts_o", "pkts_r", "bytes_o", "bytes_r", "payload_o", "payload_r"):
            r[name] = draw(_i64)
        r["flags_o"], r["flags_r"] = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
    return records

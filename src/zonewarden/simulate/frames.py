"""Frame encoders: pure functions that build link, network and transport headers as ``bytes``.

They are written from the RFCs, independently of ``zonewarden.decode``, so that decoder tests compare two
implementations (and tshark referees both). Every length and checksum is computed, never taken from the
caller; to build a deliberately broken packet, build a good one and then damage the bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

# EtherTypes (IEEE registry).
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8

# IP protocol numbers / IPv6 next-header values (IANA).
IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_ICMPV6 = 58
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60

# Address-family values in the 4-byte LINKTYPE_NULL/LOOP header. AF_INET6 differs between the BSDs, which is
# exactly why a reader has to accept all three.
AF_INET = 2
AF_INET6_BSD = 24  # NetBSD, OpenBSD, BSD/OS
AF_INET6_FREEBSD = 28
AF_INET6_DARWIN = 30

ARP_REQUEST = 1
ARP_REPLY = 2

# Linux packet types (sll_pkttype).
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
ZERO_MAC = "00:00:00:00:00:00"

ETHERNET_MIN_FRAME = 60  # without the FCS, which captures almost never include
_TCP_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}
_IP_MAX = 0xFFFF


# Address parsing dominates the cost of a small packet, and a simulated plant reuses a few hundred
# addresses millions of times, so the parsers are memoised.
@lru_cache(maxsize=4096)
def mac_bytes(mac: str) -> bytes:
    """``"aa:bb:cc:dd:ee:ff"`` (or with ``-``) to 6 bytes."""
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones'-complement sum, as used by IPv4, ICMP, TCP and UDP."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@lru_cache(maxsize=16384)
def _addresses(src: str, dst: str) -> tuple[int, bytes, bytes]:
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if a.version != b.version:
        raise ValueError(f"address families differ: {src} and {dst}")
    return a.version, a.packed, b.packed


def _pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    version, s, d = _addresses(src, dst)
    if version == 4:
        return s + d + struct.pack("!BBH", 0, proto, length)
    return s + d + struct.pack("!I3xB", length, proto)


# --- link layer ---


def ethernet(
    dst: str,
    src: str,
    ethertype: int,
    payload: bytes,
    vlans: Sequence[tuple[int, int]] = (),
    *,
    pad: bool = False,
) -> bytes:
    """Ethernet II frame (no FCS). ``vlans`` is outermost first, e.g. ``[(0x88a8, 100), (0x8100, 200)]``.

    ``pad=True`` zero-pads to the 60-byte minimum as a NIC does on receive, so decoders must trust the IP
    length rather than the frame length.
    """
    tags = b""
    for tpid, vid in vlans:
        if not 0 <= vid < 4096:
            raise ValueError(f"VLAN id out of range: {vid}")
        tags += struct.pack("!HH", tpid, vid)
    frame = mac_bytes(dst) + mac_bytes(src) + tags + struct.pack("!H", ethertype) + payload
    if pad and len(frame) < ETHERNET_MIN_FRAME:
        frame += bytes(ETHERNET_MIN_FRAME - len(frame))
    return frame


def arp(op: int, sha: str, spa: str, tha: str, tpa: str) -> bytes:
    """ARP body for Ethernet/IPv4 (28 bytes); wrap it with ``ethernet(..., ETH_P_ARP, ...)``."""
    return (
        struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op)
        + mac_bytes(sha)
        + ipaddress.IPv4Address(spa).packed
        + mac_bytes(tha)
        + ipaddress.IPv4Address(tpa).packed
    )


def sll(payload: bytes, protocol: int, pkttype: int = PACKET_HOST, addr: str = ZERO_MAC, *, hatype: int = 1) -> bytes:
    """Linux cooked capture v1 header (LINKTYPE_LINUX_SLL, 16 bytes); ``protocol`` is an EtherType."""
    return struct.pack("!HHH8sH", pkttype, hatype, 6, mac_bytes(addr), protocol) + payload


def sll2(
    payload: bytes,
    protocol: int,
    ifindex: int = 1,
    *,
    pkttype: int = PACKET_HOST,
    addr: str = ZERO_MAC,
    hatype: int = 1,
) -> bytes:
    """Linux cooked capture v2 header (LINKTYPE_LINUX_SLL2, 20 bytes)."""
    return struct.pack("!HHIHBB8s", protocol, 0, ifindex, hatype, pkttype, 6, mac_bytes(addr)) + payload


def null_header(payload: bytes, family: int, big_endian: bool = False) -> bytes:
    """BSD loopback header: the AF value as 4 bytes in the *capturing host's* order (LINKTYPE_NULL).

    LINKTYPE_LOOP is the same header always big-endian, hence the flag.
    """
    return struct.pack(">I" if big_endian else "<I", family) + payload


# --- network layer ---


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ttl: int = 64,
    ident: int = 0,
    options: bytes = b"",
    df: bool = False,
    mf: bool = False,
    frag_offset: int = 0,
    tos: int = 0,
) -> bytes:
    """IPv4 packet with header checksum. ``frag_offset`` is in bytes; ``options`` are padded with EOL."""
    if frag_offset % 8 or not 0 <= frag_offset <= 0x1FFF * 8:
        raise ValueError(f"fragment offset must be a multiple of 8 below 65536: {frag_offset}")
    options += bytes(-len(options) % 4)
    if len(options) > 40:
        raise ValueError("IPv4 options longer than 40 bytes")
    header_len = 20 + len(options)
    total = header_len + len(payload)
    if total > _IP_MAX:
        raise ValueError(f"IPv4 packet too long: {total}")
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset // 8)
    _, s, d = _addresses(src, dst)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | header_len // 4, tos, total, ident, flags, ttl, proto, 0, s, d)
    header += options
    checksum = internet_checksum(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:] + payload


def ipv4_fragments(
    src: str, dst: str, proto: int, payload: bytes, mtu_payload: int, ident: int, *, ttl: int = 64
) -> list[bytes]:
    """Split an upper-layer datagram (e.g. a whole UDP packet) into IPv4 fragments, in order.

    Each fragment carries at most ``mtu_payload`` bytes, rounded down to a multiple of 8 because offsets
    count 8-byte units.
    """
    step = mtu_payload - mtu_payload % 8
    if step < 8:
        raise ValueError(f"mtu_payload too small to fragment: {mtu_payload}")
    return [
        ipv4(
            src,
            dst,
            proto,
            payload[off : off + step],
            ttl=ttl,
            ident=ident,
            mf=off + step < len(payload),
            frag_offset=off,
        )
        for off in range(0, max(len(payload), 1), step)
    ]


def _pad_ipv6_options(body: bytes) -> bytes:
    # Option headers must end on an 8-byte boundary; fill with Pad1 or PadN (RFC 8200 4.2) so the
    # padding is itself valid options, which is what a real stack sends.
    need = -(2 + len(body)) % 8
    if need == 1:
        return body + b"\x00"
    if need:
        return body + bytes([1, need - 2]) + bytes(need - 2)
    return body


def _ipv6_ext_chain(ext_headers: Sequence[tuple[int, bytes]], last_next: int) -> tuple[int, bytes]:
    """Encode extension headers; returns the IPv6 header's next-header value and the chained bytes."""
    types = [t for t, _ in ext_headers] + [last_next]
    out = b""
    for i, (kind, body) in enumerate(ext_headers):
        if kind in (IPPROTO_HOPOPTS, IPPROTO_DSTOPTS):
            body = _pad_ipv6_options(body)
        elif kind == IPPROTO_FRAGMENT:
            if len(body) != 6:
                raise ValueError("fragment header body must be 6 bytes")
        elif kind == IPPROTO_ROUTING:
            # Routing data is type-specific, so padding it would change its meaning: the caller aligns it.
            if (2 + len(body)) % 8:
                raise ValueError("routing header body must make the header a multiple of 8 bytes")
        else:
            raise ValueError(f"unsupported IPv6 extension header type {kind}")
        out += bytes([types[i + 1], (2 + len(body)) // 8 - 1]) + body
    return types[0], out


def ipv6(
    src: str,
    dst: str,
    next_header: int,
    payload: bytes,
    *,
    hop_limit: int = 64,
    ext_headers: Sequence[tuple[int, bytes]] = (),
    traffic_class: int = 0,
    flow_label: int = 0,
) -> bytes:
    """IPv6 packet. ``ext_headers`` are ``(type, body)`` in order, for types 0, 43, 44 and 60; the writer
    fills in each next-header and length field (option headers are padded with Pad1/PadN)."""
    first, chain = _ipv6_ext_chain(ext_headers, next_header)
    plen = len(chain) + len(payload)
    if plen > _IP_MAX:
        raise ValueError(f"IPv6 payload too long for a non-jumbo packet: {plen}")
    _, s, d = _addresses(src, dst)
    word0 = 6 << 28 | (traffic_class & 0xFF) << 20 | (flow_label & 0xFFFFF)
    return struct.pack("!IHBB16s16s", word0, plen, first, hop_limit, s, d) + chain + payload


def ipv6_fragments(
    src: str,
    dst: str,
    next_header: int,
    payload: bytes,
    mtu_payload: int,
    ident: int,
    *,
    hop_limit: int = 64,
    ext_headers: Sequence[tuple[int, bytes]] = (),
) -> list[bytes]:
    """Fragment an upper-layer packet with the IPv6 fragment header (44).

    ``ext_headers`` are the unfragmentable part (hop-by-hop, routing) and are repeated in every fragment;
    ``mtu_payload`` bounds the fragmentable bytes per fragment (rounded down to a multiple of 8).
    """
    step = mtu_payload - mtu_payload % 8
    if step < 8:
        raise ValueError(f"mtu_payload too small to fragment: {mtu_payload}")
    packets = []
    for off in range(0, max(len(payload), 1), step):
        more = off + step < len(payload)
        # The offset counts 8-byte units in the top 13 bits, so the byte offset is already in place.
        frag = struct.pack("!HI", off | int(more), ident)
        packets.append(
            ipv6(
                src,
                dst,
                next_header,
                payload[off : off + step],
                hop_limit=hop_limit,
                ext_headers=[*ext_headers, (IPPROTO_FRAGMENT, frag)],
            )
        )
    return packets


def ip(src: str, dst: str, proto: int, payload: bytes, *, ttl: int = 64) -> bytes:
    """IPv4 or IPv6 packet, chosen by the address family (for callers that work with both)."""
    version, _, _ = _addresses(src, dst)
    if version == 4:
        return ipv4(src, dst, proto, payload, ttl=ttl)
    return ipv6(src, dst, proto, payload, hop_limit=ttl)


# --- transport layer ---


@lru_cache(maxsize=256)
def tcp_flags(flags: str) -> int:
    """``"SA"`` to the TCP flag bits; letters are F S R P A U E C."""
    try:
        return sum(_TCP_FLAG_BITS[c] for c in set(flags.upper()))
    except KeyError as exc:
        raise ValueError(f"unknown TCP flag in {flags!r}") from exc


def tcp_mss_option(mss: int) -> bytes:
    return struct.pack("!BBH", 2, 4, mss)


def tcp(
    src_ip: str,
    dst_ip: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: str,
    payload: bytes = b"",
    window: int = 8192,
    options: bytes = b"",
    *,
    urgent: int = 0,
) -> bytes:
    """TCP segment with the checksum over the IPv4 or IPv6 pseudo-header. ``seq``/``ack`` wrap mod 2**32;
    ``options`` are padded with EOL to a 4-byte boundary."""
    options += bytes(-len(options) % 4)
    if len(options) > 40:
        raise ValueError("TCP options longer than 40 bytes")
    offset = (20 + len(options)) // 4
    header = (
        struct.pack(
            "!HHIIBBHHH",
            sport,
            dport,
            seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF,
            offset << 4,
            tcp_flags(flags),
            window,
            0,
            urgent,
        )
        + options
    )
    segment = header + payload
    checksum = internet_checksum(_pseudo_header(src_ip, dst_ip, IPPROTO_TCP, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", checksum) + segment[18:]


def udp(src_ip: str, dst_ip: str, sport: int, dport: int, payload: bytes) -> bytes:
    """UDP datagram with checksum (IPv4 or IPv6 pseudo-header)."""
    length = 8 + len(payload)
    if length > _IP_MAX:
        raise ValueError(f"UDP datagram too long: {length}")
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    checksum = internet_checksum(_pseudo_header(src_ip, dst_ip, IPPROTO_UDP, length) + datagram)
    # 0 means "no checksum" on the wire (and is forbidden over IPv6), so a computed 0 is sent as 0xffff.
    return datagram[:6] + struct.pack("!H", checksum or 0xFFFF) + datagram[8:]


def icmp_echo(ident: int, seq: int, payload: bytes = b"", *, reply: bool = False) -> bytes:
    """ICMPv4 echo request (type 8) or reply (type 0)."""
    msg = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq) + payload
    return msg[:2] + struct.pack("!H", internet_checksum(msg)) + msg[4:]


def icmpv6_echo(src_ip: str, dst_ip: str, ident: int, seq: int, payload: bytes = b"", *, reply: bool = False) -> bytes:
    """ICMPv6 echo request (128) or reply (129); unlike ICMPv4 the checksum covers a pseudo-header."""
    msg = struct.pack("!BBHHH", 129 if reply else 128, 0, 0, ident, seq) + payload
    checksum = internet_checksum(_pseudo_header(src_ip, dst_ip, IPPROTO_ICMPV6, len(msg)) + msg)
    return msg[:2] + struct.pack("!H", checksum) + msg[4:]


# --- TCP session ---


@dataclass
class TcpConversation:
    """Sequence/ack bookkeeping for one TCP connection; each method returns the IP packets it sends.

    Mutable on purpose: callers interleave the steps with their own timestamps (see ``demo_capture``).
    """

    client: str
    server: str
    cport: int
    sport: int
    isn_c: int
    isn_s: int
    mss: int = 1460
    window: int = 64240
    _next: dict[bool, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mss < 1:
            raise ValueError(f"mss must be positive: {self.mss}")
        self._next = {True: self.isn_c, False: self.isn_s}  # keyed by "sent by the client"

    def segment(self, from_client: bool, flags: str, payload: bytes = b"", options: bytes = b"") -> bytes:
        """One segment from either side; the ack number is the peer's next sequence number when "A" is set."""
        src, dst, sp, dp = (
            (self.client, self.server, self.cport, self.sport)
            if from_client
            else (self.server, self.client, self.sport, self.cport)
        )
        seq = self._next[from_client]
        ack = self._next[not from_client] if "A" in flags.upper() else 0
        seg = tcp(src, dst, sp, dp, seq, ack, flags, payload, self.window, options)
        # SYN and FIN each consume one sequence number.
        consumed = len(payload) + sum(1 for c in "SF" if c in flags.upper())
        self._next[from_client] = (seq + consumed) & 0xFFFFFFFF
        return ip(src, dst, IPPROTO_TCP, seg)

    def handshake(self) -> list[bytes]:
        opt = tcp_mss_option(self.mss)
        return [
            self.segment(True, "S", options=opt),
            self.segment(False, "SA", options=opt),
            self.segment(True, "A"),
        ]

    def send(self, from_client: bool, data: bytes) -> list[bytes]:
        """Data split at the MSS; PSH on the last segment as a sending stack does at the end of a write."""
        chunks = [data[i : i + self.mss] for i in range(0, len(data), self.mss)]
        return [
            self.segment(from_client, "PA" if i == len(chunks) - 1 else "A", chunk) for i, chunk in enumerate(chunks)
        ]

    def ack(self, from_client: bool) -> bytes:
        return self.segment(from_client, "A")

    def close(self, from_client: bool = True) -> list[bytes]:
        """Three-segment teardown: FIN/ACK, FIN/ACK back, final ACK."""
        return [
            self.segment(from_client, "FA"),
            self.segment(not from_client, "FA"),
            self.segment(from_client, "A"),
        ]


def tcp_session(
    client: str,
    server: str,
    cport: int,
    sport: int,
    exchanges: Sequence[tuple[bytes, bytes]],
    isn_c: int,
    isn_s: int,
    mss: int = 1460,
) -> list[bytes]:
    """A whole TCP connection as IP packets: handshake, ``(request, response)`` exchanges, FIN teardown.

    The server's response acknowledges the request; an empty response becomes a pure ACK so every byte
    is acknowledged before the next exchange.
    """
    conv = TcpConversation(client, server, cport, sport, isn_c, isn_s, mss)
    packets = conv.handshake()
    for request, response in exchanges:
        packets += conv.send(True, request)
        if response:
            packets += conv.send(False, response)
        elif request:
            packets.append(conv.ack(False))
    return packets + conv.close()

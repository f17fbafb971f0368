"""Each damaged header sets its documented anomaly code (zonewarden.decode.anomalies), never an exception."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.strategies import MAC_CLIENT, decode_via_pcap, eth, v4, v6
from zonewarden.decode import anomalies
from zonewarden.model.frames import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
)
from zonewarden.simulate import frames as f

UDP4 = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, f.udp(v4(1), v4(2), 1, 2, b"data"))
TCP4 = f.ipv4(v4(1), v4(2), f.IPPROTO_TCP, f.tcp(v4(1), v4(2), 1, 2, 0, 0, "S", options=f.tcp_mss_option(1460)))
ICMP4 = f.ipv4(v4(1), v4(2), f.IPPROTO_ICMP, f.icmp_echo(1, 1))
UDP6 = f.ipv6(v6(1), v6(2), f.IPPROTO_UDP, f.udp(v6(1), v6(2), 1, 2, b"data"))


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def ipv4_with_l4(proto: int, l4: bytes) -> bytes:
    """An IPv4 header whose total length covers exactly ``l4`` (possibly a broken transport header)."""
    return f.ipv4(v4(1), v4(2), proto, l4)


def ipv6_fragment(offset: int, more: bool, payload: bytes) -> bytes:
    """One IPv6 fragment of a UDP datagram: ``offset`` in bytes (a multiple of 8)."""
    header = struct.pack("!HI", offset | int(more), 7)
    return f.ipv6(v6(1), v6(2), f.IPPROTO_UDP, payload, ext_headers=[(f.IPPROTO_FRAGMENT, header)])


# IPv6 with a hop-by-hop header whose length field claims 3 * 8 + 8 bytes but only 8 follow.
HOP_TOO_LONG = patched(f.ipv6(v6(1), v6(2), f.IPPROTO_UDP, f.udp(v6(1), v6(2), 1, 2, b""),
                              ext_headers=[(f.IPPROTO_HOPOPTS, b"")]), 41, "B", 3)

CASES = [
    # (id, link type, frame, snaplen, expected anomaly name)
    ("ethernet-13-bytes", LINKTYPE_ETHERNET, eth(UDP4)[:13], 0, "link.truncated_header"),
    ("sll-15-bytes", LINKTYPE_LINUX_SLL, f.sll(UDP4, f.ETH_P_IP)[:15], 0, "link.truncated_header"),
    ("sll2-19-bytes", LINKTYPE_LINUX_SLL2, f.sll2(UDP4, f.ETH_P_IP)[:19], 0, "link.truncated_header"),
    ("null-3-bytes", LINKTYPE_NULL, b"\x02\x00\x00", 0, "link.truncated_header"),
    ("loop-2-bytes", LINKTYPE_LOOP, b"\x00\x00", 0, "link.truncated_header"),
    ("vlan-tag-cut", LINKTYPE_ETHERNET, eth(UDP4, [(f.ETH_P_8021Q, 5)])[:16], 0, "vlan.truncated_tag"),
    ("second-vlan-tag-cut", LINKTYPE_ETHERNET,
     eth(UDP4, [(f.ETH_P_8021AD, 5), (f.ETH_P_8021Q, 6)])[:20], 0, "vlan.truncated_tag"),
    ("arp-7-bytes", LINKTYPE_ETHERNET,
     f.ethernet(f.BROADCAST_MAC, MAC_CLIENT, f.ETH_P_ARP, f.arp(1, MAC_CLIENT, v4(1), f.ZERO_MAC, v4(2)))[:21], 0,
     "arp.truncated"),
    ("ipv4-19-bytes", LINKTYPE_ETHERNET, eth(UDP4)[: 14 + 19], 0, "ipv4.truncated_header"),
    ("ipv4-options-cut", LINKTYPE_ETHERNET,
     eth(f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, b"", options=bytes(8)))[: 14 + 24], 0, "ipv4.truncated_header"),
    ("raw-empty", LINKTYPE_RAW, b"", 0, "ipv4.truncated_header"),
    ("ipv4-ihl-4", LINKTYPE_ETHERNET, eth(patched(UDP4, 0, "B", 0x44)), 0, "ipv4.bad_header_length"),
    ("ipv4-total-below-ihl", LINKTYPE_ETHERNET, eth(patched(UDP4, 2, "!H", 19)), 0, "ipv4.bad_total_length"),
    ("ipv6-39-bytes", LINKTYPE_ETHERNET, eth(UDP6)[: 14 + 39], 0, "ipv6.truncated_header"),
    ("raw-ipv6-39-bytes", LINKTYPE_IPV6, UDP6[:39], 0, "ipv6.truncated_header"),
    ("ipv6-extension-too-long", LINKTYPE_ETHERNET, eth(HOP_TOO_LONG), 0, "ipv6.bad_extension_header"),
    ("ipv6-extension-cut", LINKTYPE_ETHERNET,
     eth(f.ipv6(v6(1), v6(2), f.IPPROTO_UDP, b"", ext_headers=[(f.IPPROTO_DSTOPTS, b"")]))[: 14 + 44], 0,
     "ipv6.bad_extension_header"),
    ("tcp-19-bytes", LINKTYPE_ETHERNET, eth(ipv4_with_l4(f.IPPROTO_TCP, bytes(19))), 0, "tcp.truncated_header"),
    ("tcp-options-cut-by-snaplen", LINKTYPE_ETHERNET, eth(TCP4), 14 + 20 + 22, "tcp.truncated_header"),
    ("tcp-data-offset-4", LINKTYPE_ETHERNET, eth(patched(TCP4, 32, "B", 0x40)), 0, "tcp.bad_data_offset"),
    ("tcp-data-offset-past-ip", LINKTYPE_ETHERNET, eth(patched(TCP4, 32, "B", 0xF0)), 0, "tcp.bad_data_offset"),
    ("udp-7-bytes", LINKTYPE_ETHERNET, eth(ipv4_with_l4(f.IPPROTO_UDP, bytes(7))), 0, "udp.truncated_header"),
    ("udp-cut-by-snaplen", LINKTYPE_ETHERNET, eth(UDP4), 14 + 20 + 6, "udp.truncated_header"),
    ("udp-length-7", LINKTYPE_ETHERNET, eth(patched(UDP4, 24, "!H", 7)), 0, "udp.bad_length"),
    ("udp-length-past-ip", LINKTYPE_ETHERNET, eth(patched(UDP4, 24, "!H", 13)), 0, "udp.length_exceeds_ip_payload"),
    ("udp6-length-zero", LINKTYPE_ETHERNET, eth(patched(UDP6, 44, "!H", 0)), 0, None),  # jumbogram form: legal
    ("udp4-length-zero", LINKTYPE_ETHERNET, eth(patched(UDP4, 24, "!H", 0)), 0, "udp.bad_length"),
    ("icmp-3-bytes", LINKTYPE_ETHERNET, eth(ipv4_with_l4(f.IPPROTO_ICMP, bytes(3))), 0, "icmp.truncated_header"),
    ("icmp-cut-by-snaplen", LINKTYPE_ETHERNET, eth(ICMP4), 14 + 20 + 2, "icmp.truncated_header"),
    ("ipv4-ethertype-version-6", LINKTYPE_ETHERNET, f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, UDP6), 0,
     "ip.bad_version"),
    ("ipv6-ethertype-version-4", LINKTYPE_ETHERNET,
     f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IPV6, UDP4 + bytes(20)), 0, "ip.bad_version"),
    ("null-family-99", LINKTYPE_NULL, f.null_header(UDP4, 99), 0, "null.unknown_address_family"),
    ("raw-ipv6-empty", LINKTYPE_IPV6, b"", 0, "ipv6.truncated_header"),
    # Only the last fragment may end off an 8-byte boundary; no fragment may reach past byte 65535.
    ("ipv4-fragment-13-bytes-more-follow", LINKTYPE_ETHERNET,
     eth(f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, bytes(13), ident=5, mf=True)), 0, "ipv4.bad_fragment"),
    ("ipv4-fragment-past-65535", LINKTYPE_ETHERNET,
     eth(f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, bytes(16), ident=5, frag_offset=0x1FFF * 8)), 0, "ipv4.bad_fragment"),
    ("ipv6-fragment-13-bytes-more-follow", LINKTYPE_ETHERNET, eth(ipv6_fragment(0, True, bytes(13))), 0,
     "ipv6.bad_fragment"),
    ("ipv6-fragment-past-65535", LINKTYPE_ETHERNET, eth(ipv6_fragment(0xFFF8, False, bytes(16))), 0,
     "ipv6.bad_fragment"),
    ("ipv4-last-fragment-13-bytes", LINKTYPE_ETHERNET,
     eth(f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, bytes(13), ident=5, frag_offset=64)), 0, None),
    ("ipv6-last-fragment-13-bytes", LINKTYPE_ETHERNET, eth(ipv6_fragment(64, False, bytes(13))), 0, None),
    ("unknown-linktype", 147, UDP4, 0, "link.unknown_linktype"),
]


@pytest.mark.parametrize(("linktype", "frame", "snaplen", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_damaged_header_sets_its_anomaly(
    tmp_path: Path, linktype: int, frame: bytes, snaplen: int, expected: str | None
) -> None:
    (got,) = decode_via_pcap(tmp_path / "bad.pcap", [frame], linktype, snaplen=snaplen or 262144)
    assert got.err == expected


def test_every_anomaly_the_decoder_sets_has_a_case() -> None:
    covered = {c[4] for c in CASES}
    assert set(anomalies.NAMES.values()) <= covered


def test_anomaly_names_follow_layer_dot_reason() -> None:
    for code, name in anomalies.NAMES.items():
        layer, _, reason = name.partition(".")
        assert layer and reason and name == name.lower(), code
    assert anomalies.anomaly_name(200) == "unknown-200"


def test_damaged_frames_do_not_disturb_their_neighbours(tmp_path: Path) -> None:
    frames = [eth(UDP4)] + [c[2] for c in CASES if c[1] == LINKTYPE_ETHERNET and not c[3]] + [eth(UDP4)]
    rows = decode_via_pcap(tmp_path / "mixed.pcap", frames)
    assert rows[0] == rows[-1]
    assert rows[0].err is None and rows[0].sport == 1

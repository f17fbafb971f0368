"""Link layers: every supported encapsulation of the same IP packets decodes to the same L3/L4 fields, with
the IP header found right after the link header. Frames go through a pcap file and the capture reader."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.strategies import MAC_CLIENT, T0_NS, Decoded, decode_via_pcap, decoded_rows, v4, v6
from zonewarden.capture.source import CaptureRun
from zonewarden.decode.l2l4_kernel import L3_ARP, L3_IPV4, L3_IPV6, L3_NONE, L3_OTHER
from zonewarden.decode.packets import decode
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
)
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import EnhancedPacket, Interface, Section, write_pcapng

# UDP 10.0.0.1:4000 -> 10.0.0.2:502 with 12 payload bytes (IPv4 header 20 + UDP 8 + 12 = 40 bytes).
UDP4 = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, f.udp(v4(1), v4(2), 4000, 502, b"modbus-frame"))
# TCP SYN 2001:db8::1:5000 -> 2001:db8::2:20000 with an MSS option (IPv6 40 + TCP 24 = 64 bytes).
SYN6 = f.ipv6(v6(1), v6(2), f.IPPROTO_TCP,
              f.tcp(v6(1), v6(2), 5000, 20000, 0x01020304, 0, "S", options=f.tcp_mss_option(1460)))

EXPECT_UDP4 = Decoded(
    l3=L3_IPV4, ethertype=f.ETH_P_IP, vlan_outer=-1, vlan_inner=-1, l2_off=-1, ip_off=0, src=v4(1), dst=v4(2),
    proto=f.IPPROTO_UDP, sport=4000, dport=502, tcp_flags=0, seq=0, ack=0, l4_off=28, l4_len=12, l4_wire_len=12,
    frag=0, err=None,
)
EXPECT_SYN6 = Decoded(
    l3=L3_IPV6, ethertype=f.ETH_P_IPV6, vlan_outer=-1, vlan_inner=-1, l2_off=-1, ip_off=0, src=v6(1), dst=v6(2),
    proto=f.IPPROTO_TCP, sport=5000, dport=20000, tcp_flags=0x02, seq=0x01020304, ack=0, l4_off=64, l4_len=0,
    l4_wire_len=0, frag=0, err=None,
)


def shifted(expect: Decoded, link_len: int, *, l2_off: int = -1, vlan_outer: int = -1, vlan_inner: int = -1
            ) -> Decoded:
    """The expectation for the packet behind a ``link_len``-byte link header."""
    return replace(expect, ip_off=expect.ip_off + link_len, l4_off=expect.l4_off + link_len, l2_off=l2_off,
                   vlan_outer=vlan_outer, vlan_inner=vlan_inner)


# VLAN 7 with priority 7 and the DEI bit set in the TCI: only the low 12 bits are the VLAN id.
PRIORITY_TAGGED = bytes([*f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, UDP4, [(f.ETH_P_8021Q, 7)])[:14], 0xF0, 0x07,
                         *f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, UDP4, [(f.ETH_P_8021Q, 7)])[16:]])

LINKS = [
    # (id, link type, frame, expected)
    ("ethernet-v4", LINKTYPE_ETHERNET, f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, UDP4),
     shifted(EXPECT_UDP4, 14, l2_off=0)),
    ("ethernet-v6", LINKTYPE_ETHERNET, f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IPV6, SYN6),
     shifted(EXPECT_SYN6, 14, l2_off=0)),
    ("8021q", LINKTYPE_ETHERNET, f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, UDP4, [(f.ETH_P_8021Q, 100)]),
     shifted(EXPECT_UDP4, 18, l2_off=0, vlan_outer=100)),
    ("8021q-priority-and-dei-bits", LINKTYPE_ETHERNET, PRIORITY_TAGGED,
     shifted(EXPECT_UDP4, 18, l2_off=0, vlan_outer=7)),
    ("qinq", LINKTYPE_ETHERNET,
     f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IPV6, SYN6, [(f.ETH_P_8021AD, 100), (f.ETH_P_8021Q, 200)]),
     shifted(EXPECT_SYN6, 22, l2_off=0, vlan_outer=100, vlan_inner=200)),
    ("qinq-9100", LINKTYPE_ETHERNET,
     f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, UDP4, [(0x9100, 4095), (f.ETH_P_8021Q, 0)]),
     shifted(EXPECT_UDP4, 22, l2_off=0, vlan_outer=4095, vlan_inner=0)),
    ("three-tags", LINKTYPE_ETHERNET,
     f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, UDP4,
                [(f.ETH_P_8021AD, 1), (f.ETH_P_8021Q, 2), (f.ETH_P_8021Q, 3)]),
     shifted(EXPECT_UDP4, 26, l2_off=0, vlan_outer=1, vlan_inner=2)),
    ("sll", LINKTYPE_LINUX_SLL, f.sll(UDP4, f.ETH_P_IP, f.PACKET_OUTGOING, MAC_CLIENT), shifted(EXPECT_UDP4, 16)),
    ("sll-v6", LINKTYPE_LINUX_SLL, f.sll(SYN6, f.ETH_P_IPV6), shifted(EXPECT_SYN6, 16)),
    ("sll2", LINKTYPE_LINUX_SLL2, f.sll2(UDP4, f.ETH_P_IP, 3, pkttype=f.PACKET_BROADCAST), shifted(EXPECT_UDP4, 20)),
    ("sll2-v6", LINKTYPE_LINUX_SLL2, f.sll2(SYN6, f.ETH_P_IPV6), shifted(EXPECT_SYN6, 20)),
    ("raw-101-v4", LINKTYPE_RAW, UDP4, EXPECT_UDP4),
    ("raw-101-v6", LINKTYPE_RAW, SYN6, EXPECT_SYN6),
    ("raw-12", LINKTYPE_RAW_BSD12, UDP4, EXPECT_UDP4),
    ("raw-14", LINKTYPE_RAW_BSD14, SYN6, EXPECT_SYN6),
    ("ipv4-228", LINKTYPE_IPV4, UDP4, EXPECT_UDP4),
    ("ipv6-229", LINKTYPE_IPV6, SYN6, EXPECT_SYN6),
]
for family, packet, expect in ((f.AF_INET, UDP4, EXPECT_UDP4), (f.AF_INET6_BSD, SYN6, EXPECT_SYN6),
                               (f.AF_INET6_FREEBSD, SYN6, EXPECT_SYN6), (f.AF_INET6_DARWIN, SYN6, EXPECT_SYN6)):
    LINKS.append((f"null-le-af{family}", LINKTYPE_NULL, f.null_header(packet, family), shifted(expect, 4)))
    LINKS.append((f"null-be-af{family}", LINKTYPE_NULL, f.null_header(packet, family, big_endian=True),
                  shifted(expect, 4)))
    LINKS.append((f"loop-af{family}", LINKTYPE_LOOP, f.null_header(packet, family, big_endian=True),
                  shifted(expect, 4)))


@pytest.mark.parametrize(("linktype", "frame", "expected"), [x[1:] for x in LINKS], ids=[x[0] for x in LINKS])
def test_link_layer_decodes_to_the_same_packet(tmp_path: Path, linktype: int, frame: bytes, expected: Decoded) -> None:
    (got,) = decode_via_pcap(tmp_path / "link.pcap", [frame], linktype)
    assert got == expected


def test_mixed_link_types_in_one_pcapng_batch_decode_each_by_its_own(tmp_path: Path) -> None:
    interfaces = (Interface(), Interface(linktype=LINKTYPE_RAW), Interface(linktype=LINKTYPE_LINUX_SLL2),
                  Interface(linktype=LINKTYPE_NULL))
    frames = [f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, UDP4), UDP4, f.sll2(UDP4, f.ETH_P_IP),
              f.null_header(UDP4, f.AF_INET)]
    path = tmp_path / "mixed.pcapng"
    blocks = tuple(EnhancedPacket(T0_NS + i, fr, interface=i) for i, fr in enumerate(frames))
    write_pcapng(path, [Section(interfaces=interfaces, blocks=blocks)])
    run = CaptureRun([str(path)])
    (batch,) = list(run)
    rows = decoded_rows(decode(batch))
    assert [r.ip_off for r in rows] == [14, 0, 20, 4]
    assert rows == [shifted(EXPECT_UDP4, n, l2_off=0 if n == 14 else -1) for n in (14, 0, 20, 4)]
    assert run.problems == []


def test_8023_llc_frame_is_other_layer3_without_error(tmp_path: Path) -> None:
    # IEEE 802.3 length field (38) instead of an EtherType, then LLC DSAP/SSAP 0x42 (spanning tree), control 3.
    llc = bytes.fromhex("424203") + bytes(35)
    frame = f.ethernet("01:80:c2:00:00:00", MAC_CLIENT, len(llc), llc)
    (got,) = decode_via_pcap(tmp_path / "llc.pcap", [frame])
    assert (got.l3, got.ethertype, got.err, got.l4_off, got.src) == (L3_OTHER, 0, None, -1, None)


def test_8023_llc_behind_a_vlan_tag_keeps_the_vlan(tmp_path: Path) -> None:
    llc = bytes.fromhex("aaaa03000000") + bytes(40)
    frame = f.ethernet("01:80:c2:00:00:00", MAC_CLIENT, len(llc), llc, [(f.ETH_P_8021Q, 42)])
    (got,) = decode_via_pcap(tmp_path / "llc.pcap", [frame])
    assert (got.l3, got.vlan_outer, got.err) == (L3_OTHER, 42, None)


def test_unknown_ethertype_is_other_layer3_with_its_ethertype(tmp_path: Path) -> None:
    # PROFINET real-time frames (EtherType 0x8892) are layer 2 only.
    frame = f.ethernet(MAC_CLIENT, MAC_CLIENT, 0x8892, bytes.fromhex("fefe") + bytes(40))
    (got,) = decode_via_pcap(tmp_path / "pn.pcap", [frame])
    assert (got.l3, got.ethertype, got.ip_off, got.err) == (L3_OTHER, 0x8892, 14, None)


def test_arp_request_is_arp_layer3(tmp_path: Path) -> None:
    frame = f.ethernet(f.BROADCAST_MAC, MAC_CLIENT, f.ETH_P_ARP,
                       f.arp(f.ARP_REQUEST, MAC_CLIENT, v4(1), f.ZERO_MAC, v4(2)), pad=True)
    (got,) = decode_via_pcap(tmp_path / "arp.pcap", [frame])
    assert (got.l3, got.ethertype, got.ip_off, got.err, got.proto, got.l4_off) == (
        L3_ARP, f.ETH_P_ARP, 14, None, 0, -1)


def test_arp_in_sll_is_arp_layer3(tmp_path: Path) -> None:
    frame = f.sll(f.arp(f.ARP_REPLY, MAC_CLIENT, v4(1), MAC_CLIENT, v4(2)), f.ETH_P_ARP)
    (got,) = decode_via_pcap(tmp_path / "arp.pcap", [frame], LINKTYPE_LINUX_SLL)
    assert (got.l3, got.ip_off, got.err) == (L3_ARP, 16, None)


def test_unknown_linktype_is_reported_per_frame(tmp_path: Path) -> None:
    (got,) = decode_via_pcap(tmp_path / "user0.pcap", [UDP4], 147)
    assert (got.l3, got.err, got.ip_off, got.l4_off) == (L3_NONE, "link.unknown_linktype", -1, -1)


def test_null_header_with_unknown_family_is_reported(tmp_path: Path) -> None:
    (got,) = decode_via_pcap(tmp_path / "null.pcap", [f.null_header(UDP4, 7)], LINKTYPE_NULL)
    assert (got.l3, got.err) == (L3_NONE, "null.unknown_address_family")


def test_raw_link_with_bad_ip_version_is_reported(tmp_path: Path) -> None:
    (got,) = decode_via_pcap(tmp_path / "raw.pcap", [bytes([0x55]) + UDP4[1:]], LINKTYPE_RAW)
    assert (got.l3, got.err) == (L3_NONE, "ip.bad_version")


def test_ethertype_ipv4_carrying_ipv6_is_bad_version(tmp_path: Path) -> None:
    (got,) = decode_via_pcap(tmp_path / "ver.pcap", [f.ethernet(MAC_CLIENT, MAC_CLIENT, f.ETH_P_IP, SYN6)])
    assert got.err == "ip.bad_version"

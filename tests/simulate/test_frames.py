"""The frame encoders checked against peers: tshark must decode and validate what they write (checksums,
VLANs, extension headers, reassembly, link types, TCP sequence tracking) and dpkt must parse it back."""

from __future__ import annotations

import ipaddress
import struct
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonewarden.model.frames import LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_LOOP, LINKTYPE_NULL
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import write_pcap

peer = pytest.mark.peer

CHECKSUM_PREFS = ("-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE")
GOOD = "1"  # Wireshark's PROTO_CHECKSUM_E_GOOD
EXPERT_WARN = 0x00600000  # PI_WARN; chats (SYN, FIN) and notes sit below it

C4, S4 = "10.20.0.1", "10.20.0.2"
C6, S6 = "fd00:20::1", "fd00:20::2"
MAC_C, MAC_S = "00:1b:1b:00:00:01", "00:80:f4:00:00:02"
T0 = 1_767_592_800 * 1_000_000_000


FIELDS_FORMAT = ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]


def tshark_fields(path: Path, fields: Sequence[str], *args: str) -> list[dict[str, str]]:
    """One dict per frame; repeated fields are comma-joined, absent ones are ''."""
    cmd = ["tshark", "-n", "-r", str(path), *CHECKSUM_PREFS, *args, *FIELDS_FORMAT]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines()]


def eth(packet: bytes, vlans: Sequence[tuple[int, int]] = ()) -> bytes:
    ethertype = f.ETH_P_IP if packet[0] >> 4 == 4 else f.ETH_P_IPV6
    return f.ethernet(MAC_S, MAC_C, ethertype, packet, vlans)


def udp4(payload: bytes, sport: int = 40000, dport: int = 9999) -> bytes:
    return f.ipv4(C4, S4, f.IPPROTO_UDP, f.udp(C4, S4, sport, dport, payload))


def zero_sum_payload() -> bytes:
    """Two bytes that make the UDP checksum compute to 0, which must go on the wire as 0xffff."""
    probe = f.udp(C4, S4, 40000, 9999, b"\x00\x00")
    computed = struct.unpack("!H", probe[6:8])[0]
    # With a zero payload word the checksum is ~S; adding that word makes the sum 0xffff, the checksum 0.
    return struct.pack("!H", computed)


HBH_ROUTER_ALERT = bytes([5, 2, 0, 0])  # 6 bytes with the header: the writer adds a 2-byte PadN
DST_EXPERIMENT = bytes([0x1E, 3, 1, 2, 3])  # 7 bytes with the header: the writer adds a Pad1
# Segment Routing Header (type 4) whose only segment is the destination, so the upper-layer checksum's
# "final destination" is S6 whichever way a peer reads it.
SRH_TO_S6 = bytes([4, 0, 0, 0, 0, 0]) + ipaddress.IPv6Address(S6).packed
BIG = bytes(range(256)) * 12  # 3072 bytes: three fragments at 1480, three at 1232


def frame_cases() -> dict[str, list[bytes]]:
    syn = f.tcp(C4, S4, 40000, 502, 1000, 0, "S", options=f.tcp_mss_option(1460))
    ext_chain = [
        (f.IPPROTO_HOPOPTS, HBH_ROUTER_ALERT),
        (f.IPPROTO_ROUTING, SRH_TO_S6),
        (f.IPPROTO_DSTOPTS, DST_EXPERIMENT),
    ]
    udp_big4 = f.udp(C4, S4, 7, 9, BIG)
    udp_big6 = f.udp(C6, S6, 7, 9, BIG)
    hbh_only = [(f.IPPROTO_HOPOPTS, HBH_ROUTER_ALERT)]
    return {
        "tcp4_syn_mss": [eth(f.ipv4(C4, S4, f.IPPROTO_TCP, syn, df=True))],
        "tcp4_odd_payload": [eth(f.ipv4(C4, S4, f.IPPROTO_TCP, f.tcp(C4, S4, 40000, 502, 1, 9, "PA", b"odd")))],
        "udp4": [eth(udp4(b"hello"))],
        "udp4_checksum_zero": [eth(udp4(zero_sum_payload()))],
        "ipv4_options": [
            eth(f.ipv4(C4, S4, f.IPPROTO_UDP, f.udp(C4, S4, 1, 2, b"x"), options=b"\x94\x04\x00\x00\x01"))
        ],
        "icmp4_request": [eth(f.ipv4(C4, S4, f.IPPROTO_ICMP, f.icmp_echo(7, 1, b"ping!")))],
        "icmp4_reply": [eth(f.ipv4(S4, C4, f.IPPROTO_ICMP, f.icmp_echo(7, 1, b"ping!", reply=True)))],
        "tcp6": [eth(f.ipv6(C6, S6, f.IPPROTO_TCP, f.tcp(C6, S6, 40000, 22, 5, 6, "PA", b"SSH-2.0-x\r\n")))],
        "udp6": [eth(f.ipv6(C6, S6, f.IPPROTO_UDP, f.udp(C6, S6, 40000, 9999, b"odd")))],
        "icmpv6_request": [eth(f.ipv6(C6, S6, f.IPPROTO_ICMPV6, f.icmpv6_echo(C6, S6, 3, 4, b"abc")))],
        "icmpv6_reply": [eth(f.ipv6(S6, C6, f.IPPROTO_ICMPV6, f.icmpv6_echo(S6, C6, 3, 4, b"abc", reply=True)))],
        "ipv6_ext_chain": [
            eth(f.ipv6(C6, S6, f.IPPROTO_TCP, f.tcp(C6, S6, 40000, 502, 1, 1, "A"), ext_headers=ext_chain))
        ],
        "qinq": [eth(udp4(b"qinq"), vlans=[(f.ETH_P_8021AD, 100), (f.ETH_P_8021Q, 200)])],
        "dot1q": [eth(udp4(b"tagged"), vlans=[(f.ETH_P_8021Q, 10)])],
        "arp_reply_padded": [f.ethernet(MAC_C, MAC_S, f.ETH_P_ARP, f.arp(f.ARP_REPLY, MAC_S, S4, MAC_C, C4), pad=True)],
        "ipv4_fragments": [eth(p) for p in f.ipv4_fragments(C4, S4, f.IPPROTO_UDP, udp_big4, 1480, 0x1234)],
        "ipv6_fragments": [
            eth(p) for p in f.ipv6_fragments(C6, S6, f.IPPROTO_UDP, udp_big6, 1232, 0xABCDEF01, ext_headers=hbh_only)
        ],
    }


FIELDS = (
    "frame.len",
    "frame.protocols",
    "_ws.expert.severity",
    "_ws.malformed",
    "ip.checksum.status",
    "ip.hdr_len",
    "ip.flags.df",
    "tcp.checksum.status",
    "udp.checksum.status",
    "udp.checksum",
    "udp.length",
    "icmp.checksum.status",
    "icmp.type",
    "icmpv6.checksum.status",
    "icmpv6.type",
    "tcp.options.mss_val",
    "tcp.flags",
    "vlan.id",
    "ieee8021ad.id",
    "ipv6.hopopts.len_oct",
    "ipv6.routing.type",
    "ipv6.dstopts.len_oct",
    "ipv6.dstopts.nxt",
    "ip.reassembled.length",
    "ip.fragment.count",
    "ip.reassembled_in",
    "ipv6.reassembled.length",
    "ipv6.fragment.count",
    "ipv6.fraghdr.ident",
    "ipv6.reassembled.in",
    "arp.opcode",
    "arp.src.proto_ipv4",
    "arp.dst.hw_mac",
)
CHECKSUM_STATUS = (
    "ip.checksum.status",
    "tcp.checksum.status",
    "udp.checksum.status",
    "icmp.checksum.status",
    "icmpv6.checksum.status",
)


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    """Every case written to one pcap and decoded by a single tshark run (one process keeps this fast)."""
    cases = frame_cases()
    flat = [(name, frame) for name, frames in cases.items() for frame in frames]
    path = tmp_path_factory.mktemp("frames") / "cases.pcap"
    write_pcap(path, [(T0 + i * 1000, frame) for i, (_, frame) in enumerate(flat)])
    # Two passes so fragments learn the frame they are reassembled in; sequence analysis is off because
    # the cases are unrelated one-off segments (test_tcp_session_tracked_by_tshark covers it).
    rows = tshark_fields(path, FIELDS, "-2", "-o", "tcp.analyze_sequence_numbers:FALSE")
    assert len(rows) == len(flat)
    out: dict[str, list[dict[str, str]]] = {name: [] for name in cases}
    for (name, _), row in zip(flat, rows, strict=True):
        out[name].append(row)
    return out


@peer
@pytest.mark.parametrize("name", list(frame_cases()))
def test_tshark_decodes_case_cleanly(decoded: dict[str, list[dict[str, str]]], name: str) -> None:
    checked = 0
    for row in decoded[name]:
        assert row["_ws.malformed"] == "", row
        severities = [int(s) for s in row["_ws.expert.severity"].split(",") if s]
        assert all(s < EXPERT_WARN for s in severities), row
        for status in CHECKSUM_STATUS:
            for value in filter(None, row[status].split(",")):
                assert value == GOOD, (status, row)
                checked += 1
    assert checked or name.startswith("arp"), "no checksum was verified"


@peer
def test_tcp_syn_with_mss_and_df(decoded: dict[str, list[dict[str, str]]]) -> None:
    (row,) = decoded["tcp4_syn_mss"]
    assert (row["tcp.flags"], row["tcp.options.mss_val"], row["ip.flags.df"]) == ("0x0002", "1460", "1")


@peer
def test_udp_checksum_computing_to_zero_is_sent_as_ffff(decoded: dict[str, list[dict[str, str]]]) -> None:
    (row,) = decoded["udp4_checksum_zero"]
    assert (row["udp.checksum"], row["udp.checksum.status"]) == ("0xffff", GOOD)


@peer
def test_ipv4_options_are_padded_into_the_header_length(decoded: dict[str, list[dict[str, str]]]) -> None:
    (row,) = decoded["ipv4_options"]
    assert row["ip.hdr_len"] == "28"  # 5 option bytes padded to 8


@peer
def test_icmp_echo_types(decoded: dict[str, list[dict[str, str]]]) -> None:
    types = [
        decoded[n][0]["icmp.type"] or decoded[n][0]["icmpv6.type"]
        for n in ("icmp4_request", "icmp4_reply", "icmpv6_request", "icmpv6_reply")
    ]
    assert types == ["8", "0", "128", "129"]


@peer
def test_vlan_tags(decoded: dict[str, list[dict[str, str]]]) -> None:
    (qinq,) = decoded["qinq"]
    (dot1q,) = decoded["dot1q"]
    assert (qinq["ieee8021ad.id"], qinq["vlan.id"], qinq["udp.checksum.status"]) == ("100", "200", GOOD)
    assert dot1q["vlan.id"] == "10"


@peer
def test_ipv6_extension_header_chain(decoded: dict[str, list[dict[str, str]]]) -> None:
    (row,) = decoded["ipv6_ext_chain"]
    assert "ipv6.hopopts:ipv6.routing:ipv6.dstopts:tcp" in row["frame.protocols"]
    assert (row["ipv6.hopopts.len_oct"], row["ipv6.routing.type"]) == ("8", "4")
    assert (row["ipv6.dstopts.len_oct"], row["ipv6.dstopts.nxt"]) == ("8", "6")


@peer
def test_arp_reply_padded_to_ethernet_minimum(decoded: dict[str, list[dict[str, str]]]) -> None:
    (row,) = decoded["arp_reply_padded"]
    assert (row["frame.len"], row["arp.opcode"], row["arp.src.proto_ipv4"]) == ("60", "2", S4)
    assert row["arp.dst.hw_mac"] == MAC_C


@peer
def test_ipv4_fragments_reassembled_by_tshark(decoded: dict[str, list[dict[str, str]]]) -> None:
    first, middle, last = decoded["ipv4_fragments"]
    assert first["ip.reassembled_in"] == middle["ip.reassembled_in"] != ""
    assert (last["ip.fragment.count"], last["ip.reassembled.length"]) == ("3", str(8 + len(BIG)))
    assert (last["udp.length"], last["udp.checksum.status"]) == (str(8 + len(BIG)), GOOD)


@peer
def test_ipv6_fragments_reassembled_by_tshark(decoded: dict[str, list[dict[str, str]]]) -> None:
    rows = decoded["ipv6_fragments"]
    assert len(rows) == 3
    assert all(r["ipv6.fraghdr.ident"] == "0xabcdef01" and r["ipv6.hopopts.len_oct"] == "8" for r in rows)
    assert rows[0]["ipv6.reassembled.in"] == rows[1]["ipv6.reassembled.in"] != ""
    last = rows[-1]
    assert (last["ipv6.fragment.count"], last["ipv6.reassembled.length"]) == ("3", str(8 + len(BIG)))
    assert last["udp.checksum.status"] == GOOD


# --- TCP sessions: tshark tracks sequence numbers and rebuilds both byte streams ---

EXCHANGES = [(b"req-1", b"resp-1" * 3), (b"Q" * 2500, b""), (b"", b"R" * 1200), (b"bye", b"ok")]


def follow_stream(path: Path) -> tuple[bytes, bytes]:
    """Client and server byte streams of TCP stream 0 as tshark's follow reassembles them."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-q", "-z", "follow,tcp,raw,0"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    client, server = b"", b""
    for line in out.split("Node 1:", 1)[1].splitlines()[1:]:
        if line.startswith("="):
            break
        if line.startswith("\t"):
            server += bytes.fromhex(line.strip())
        elif line:
            client += bytes.fromhex(line)
    return client, server


@peer
@pytest.mark.parametrize(
    ("client", "server", "isn_c", "isn_s"),
    [(C4, S4, 0xFFFFFF00, 0xFFFFFFF0), (C6, S6, 12345, 0)],
    ids=["ipv4-seq-wrap", "ipv6"],
)
def test_tcp_session_tracked_by_tshark(tmp_path: Path, client: str, server: str, isn_c: int, isn_s: int) -> None:
    packets = f.tcp_session(client, server, 40001, 502, EXCHANGES, isn_c, isn_s, mss=1000)
    path = tmp_path / "session.pcap"
    write_pcap(path, [(T0 + i * 1000, eth(p)) for i, p in enumerate(packets)])
    rows = tshark_fields(path, ("tcp.flags", "tcp.len", "tcp.analysis.flags", "tcp.checksum.status"))
    flags = [r["tcp.flags"] for r in rows]
    assert flags[:3] == ["0x0002", "0x0012", "0x0010"]
    assert flags[-3:] == ["0x0011", "0x0011", "0x0010"]
    # No retransmission, lost segment, out-of-order or ACK-of-unseen-segment: seq/ack are consistent.
    assert [r for r in rows if r["tcp.analysis.flags"]] == []
    assert {r["tcp.checksum.status"] for r in rows} == {GOOD}
    assert max(int(r["tcp.len"]) for r in rows) == 1000
    assert [int(r["tcp.len"]) for r in rows].count(500) == 1  # the 2500-byte request split 1000/1000/500
    client_bytes, server_bytes = follow_stream(path)
    assert client_bytes == b"".join(req for req, _ in EXCHANGES)
    assert server_bytes == b"".join(resp for _, resp in EXCHANGES)


# --- link-layer headers: tshark must recognise each encapsulation ---

IP4_UDP = udp4(b"link")
IP6_UDP = f.ipv6(C6, S6, f.IPPROTO_UDP, f.udp(C6, S6, 40000, 9999, b"link"))

LINK_CASES = {
    "sll": (
        LINKTYPE_LINUX_SLL,
        [
            (
                f.sll(IP4_UDP, f.ETH_P_IP, f.PACKET_OUTGOING, MAC_C),
                "sll:ethertype:ip:udp",
                {"sll.pkttype": "4", "sll.src.eth": MAC_C},
            ),
            (
                f.sll(IP6_UDP, f.ETH_P_IPV6, f.PACKET_BROADCAST),
                "sll:ethertype:ipv6:udp",
                {"sll.pkttype": "1"},
            ),
        ],
    ),
    "sll2": (
        LINKTYPE_LINUX_SLL2,
        [
            (
                f.sll2(IP4_UDP, f.ETH_P_IP, 7, addr=MAC_S),
                "sll:ethertype:ip:udp",
                {"sll.ifindex": "7", "sll.src.eth": MAC_S},
            ),
            (
                f.sll2(IP6_UDP, f.ETH_P_IPV6, 2, pkttype=f.PACKET_OUTGOING),
                "sll:ethertype:ipv6:udp",
                {"sll.ifindex": "2", "sll.pkttype": "4"},
            ),
        ],
    ),
    # LINKTYPE_NULL stores the family in the capturing host's byte order; readers must accept both.
    "null": (
        LINKTYPE_NULL,
        [
            (f.null_header(IP4_UDP, f.AF_INET), "null:ip:udp", {"null.family": "2"}),
            (f.null_header(IP4_UDP, f.AF_INET, big_endian=True), "null:ip:udp", {"null.family": "2"}),
            (f.null_header(IP6_UDP, f.AF_INET6_BSD), "null:ipv6:udp", {"null.family": "24"}),
            (f.null_header(IP6_UDP, f.AF_INET6_FREEBSD), "null:ipv6:udp", {"null.family": "28"}),
            (
                f.null_header(IP6_UDP, f.AF_INET6_DARWIN, big_endian=True),
                "null:ipv6:udp",
                {"null.family": "30"},
            ),
        ],
    ),
    "loop": (
        LINKTYPE_LOOP,
        [
            (f.null_header(IP4_UDP, f.AF_INET, big_endian=True), "null:ip:udp", {"null.family": "2"}),
            (
                f.null_header(IP6_UDP, f.AF_INET6_DARWIN, big_endian=True),
                "null:ipv6:udp",
                {"null.family": "30"},
            ),
        ],
    ),
}


@peer
@pytest.mark.parametrize("name", list(LINK_CASES))
def test_link_layer_header_recognised(tmp_path: Path, name: str) -> None:
    linktype, cases = LINK_CASES[name]
    path = tmp_path / f"{name}.pcap"
    write_pcap(path, [(T0 + i, frame) for i, (frame, _, _) in enumerate(cases)], linktype)
    extra = sorted({k for _, _, fields in cases for k in fields})
    rows = tshark_fields(path, ("frame.protocols", "udp.checksum.status", *extra))
    assert len(rows) == len(cases)
    for row, (_, protocols, fields) in zip(rows, cases, strict=True):
        assert row["frame.protocols"].startswith(protocols), row
        assert row["udp.checksum.status"] == GOOD
        assert {k: row[k] for k in fields} == fields


def test_link_header_sizes() -> None:
    assert len(f.sll(b"", f.ETH_P_IP)) == 16
    assert len(f.sll2(b"", f.ETH_P_IP)) == 20
    assert f.null_header(b"", f.AF_INET6_DARWIN) == b"\x1e\x00\x00\x00"
    assert f.null_header(b"", f.AF_INET6_DARWIN, big_endian=True) == b"\x00\x00\x00\x1e"


# --- dpkt as a second peer: it must rebuild byte-identical packets, recomputing every checksum itself ---

ADDRESS_PAIRS = [(C4, S4), ("192.0.2.255", "198.51.100.0"), (C6, S6), ("::1", "ff02::1:ff00:1")]
IPV4_OPTIONS = [b"", b"\x94\x04\x00\x00", b"\x01", b"\x01\x01\x01\x00"]
DPKT_FLAGS = {
    "F": dpkt.tcp.TH_FIN,
    "S": dpkt.tcp.TH_SYN,
    "R": dpkt.tcp.TH_RST,
    "P": dpkt.tcp.TH_PUSH,
    "A": dpkt.tcp.TH_ACK,
    "U": dpkt.tcp.TH_URG,
    "E": dpkt.tcp.TH_ECE,
    "C": dpkt.tcp.TH_CWR,
}


def rebuilt_by_dpkt(packet: bytes) -> bytes:
    parsed: dpkt.ip.IP | dpkt.ip6.IP6 = dpkt.ip.IP(packet) if packet[0] >> 4 == 4 else dpkt.ip6.IP6(packet)
    if isinstance(parsed, dpkt.ip.IP):
        parsed.sum = 0
    parsed.data.sum = 0  # zeroed checksums make dpkt compute its own
    return bytes(parsed)


@settings(max_examples=150, database=None, deadline=None)
@given(
    addresses=st.sampled_from(ADDRESS_PAIRS),
    ports=st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    seq=st.integers(0, 2**32 - 1),
    ack=st.integers(0, 2**32 - 1),
    flags=st.text(alphabet="FSRPAUEC", max_size=8),
    window=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=200),
    ttl=st.integers(1, 255),
    ident=st.integers(0, 0xFFFF),
    options=st.sampled_from(IPV4_OPTIONS),
)
def test_tcp_packets_match_dpkt(
    addresses: tuple[str, str],
    ports: tuple[int, int],
    seq: int,
    ack: int,
    flags: str,
    window: int,
    payload: bytes,
    ttl: int,
    ident: int,
    options: bytes,
) -> None:
    src, dst = addresses
    segment = f.tcp(src, dst, *ports, seq, ack, flags, payload, window, options=f.tcp_mss_option(1460))
    if ":" in src:
        packet = f.ipv6(src, dst, f.IPPROTO_TCP, segment, hop_limit=ttl)
    else:
        packet = f.ipv4(src, dst, f.IPPROTO_TCP, segment, ttl=ttl, ident=ident, options=options)
    parsed = dpkt.ip.IP(packet) if ":" not in src else dpkt.ip6.IP6(packet)
    tcp = parsed.data
    assert isinstance(tcp, dpkt.tcp.TCP)
    expected_flags = sum(DPKT_FLAGS[c] for c in set(flags))
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.flags, tcp.win, tcp.data) == (
        *ports,
        seq,
        ack,
        expected_flags,
        window,
        payload,
    )
    assert rebuilt_by_dpkt(packet) == packet


@settings(max_examples=100, database=None, deadline=None)
@given(
    addresses=st.sampled_from(ADDRESS_PAIRS),
    ports=st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
    payload=st.binary(max_size=300),
)
def test_udp_packets_match_dpkt(addresses: tuple[str, str], ports: tuple[int, int], payload: bytes) -> None:
    src, dst = addresses
    datagram = f.udp(src, dst, *ports, payload)
    packet = f.ip(src, dst, f.IPPROTO_UDP, datagram)
    assert rebuilt_by_dpkt(packet) == packet
    assert dpkt.udp.UDP(datagram).data == payload


@settings(max_examples=50, database=None, deadline=None)
@given(ident=st.integers(0, 0xFFFF), seq=st.integers(0, 0xFFFF), payload=st.binary(max_size=64))
def test_icmp_echo_checksums_match_dpkt(ident: int, seq: int, payload: bytes) -> None:
    msg = f.icmp_echo(ident, seq, payload)
    parsed = dpkt.icmp.ICMP(msg)
    parsed.sum = 0
    assert bytes(parsed) == msg
    packet6 = f.ipv6(C6, S6, f.IPPROTO_ICMPV6, f.icmpv6_echo(C6, S6, ident, seq, payload, reply=True))
    assert rebuilt_by_dpkt(packet6) == packet6


def test_dpkt_walks_ipv6_extension_chain() -> None:
    packet = f.ipv6(
        C6,
        S6,
        f.IPPROTO_UDP,
        f.udp(C6, S6, 1, 2, b"x"),
        ext_headers=[(f.IPPROTO_HOPOPTS, HBH_ROUTER_ALERT), (f.IPPROTO_DSTOPTS, DST_EXPERIMENT)],
    )
    parsed = dpkt.ip6.IP6(packet)
    assert [h.nxt for h in parsed.all_extension_headers] == [f.IPPROTO_DSTOPTS, f.IPPROTO_UDP]
    assert parsed.p == f.IPPROTO_UDP and parsed.data.data == b"x"


def test_fragments_reassemble_to_the_original_payload() -> None:
    datagram = f.udp(C4, S4, 7, 9, BIG)
    fragments = [dpkt.ip.IP(p) for p in f.ipv4_fragments(C4, S4, f.IPPROTO_UDP, datagram, 1000, 1)]
    assert [(fr.offset * 8, fr.mf) for fr in fragments] == [(0, 1), (1000, 1), (2000, 1), (3000, 0)]
    assert b"".join(bytes(fr.data) for fr in fragments) == datagram
    assert all(len(bytes(fr.data)) % 8 == 0 for fr in fragments[:-1])


# --- caller mistakes are refused, not encoded as garbage ---


@pytest.mark.parametrize(
    "build",
    [
        lambda: f.ipv4(C4, S4, 17, b"", frag_offset=12),
        lambda: f.ipv4(C4, S4, 17, b"", options=bytes(41)),
        lambda: f.ipv4(C4, S6, 17, b""),
        lambda: f.ipv4(C4, S4, 17, bytes(65516)),
        lambda: f.ipv6(C6, S6, 17, b"", ext_headers=[(f.IPPROTO_ROUTING, b"\x00\x00\x00")]),
        lambda: f.ipv6(C6, S6, 17, b"", ext_headers=[(51, b"")]),
        lambda: f.tcp(C4, S4, 1, 2, 0, 0, "SX"),
        lambda: f.ipv4_fragments(C4, S4, 17, b"x" * 20, 7, 1),
        lambda: f.ethernet(MAC_S, MAC_C, f.ETH_P_IP, b"", vlans=[(f.ETH_P_8021Q, 4096)]),
        lambda: f.mac_bytes("00:11:22:33:44"),
    ],
    ids=[
        "frag-offset-not-8",
        "options-too-long",
        "mixed-families",
        "ipv4-too-long",
        "routing-misaligned",
        "unsupported-ext",
        "unknown-tcp-flag",
        "mtu-below-8",
        "vid-out-of-range",
        "short-mac",
    ],
)
def test_invalid_arguments_raise_value_error(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()

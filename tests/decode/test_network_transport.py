"""IPv4 (options), IPv6 (extension header chains), TCP, UDP and ICMP fields, payload offsets and lengths."""

from __future__ import annotations

from pathlib import Path

from tests.strategies import Decoded, decode_via_pcap, eth, frame_batch, v4, v6
from zonewarden.capture.source import CaptureRun
from zonewarden.decode.l2l4_kernel import L3_IPV4, L3_IPV6
from zonewarden.decode.packets import decode
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import write_pcap

ETH = 14


def one(tmp_path: Path, frame: bytes, *, snaplen: int = 262144) -> Decoded:
    (row,) = decode_via_pcap(tmp_path / "one.pcap", [frame], snaplen=snaplen)
    return row


def test_ipv4_options_move_the_transport_header(tmp_path: Path) -> None:
    # Record route (type 7, length 11, pointer 4, two slots) + NOP + EOL padding: IHL 8 (32 bytes).
    options = bytes([7, 11, 4]) + bytes(8) + b"\x01"
    packet = f.ipv4(v4(1), v4(2), f.IPPROTO_TCP, f.tcp(v4(1), v4(2), 1024, 102, 7, 9, "PA", b"\x03\x00\x00\x07"),
                    options=options)
    got = one(tmp_path, eth(packet))
    assert (got.l3, got.ip_off, got.l4_off, got.l4_len, got.sport, got.dport) == (L3_IPV4, ETH, ETH + 32 + 20, 4,
                                                                                  1024, 102)


def test_ipv6_extension_chain_is_walked_to_tcp(tmp_path: Path) -> None:
    # Hop-by-hop (router alert, padded to 8), routing (type 0 header, 24 bytes), destination options (16 bytes).
    hop = bytes([5, 2, 0, 0])
    routing = bytes([0, 1, 0, 0, 0, 0]) + bytes(16)
    dest = bytes([1, 12]) + bytes(12)
    segment = f.tcp(v6(1), v6(2), 40000, 4840, 1, 2, "PA", b"OPC UA")
    packet = f.ipv6(v6(1), v6(2), f.IPPROTO_TCP, segment,
                    ext_headers=[(f.IPPROTO_HOPOPTS, hop), (f.IPPROTO_ROUTING, routing), (f.IPPROTO_DSTOPTS, dest)])
    got = one(tmp_path, eth(packet))
    assert (got.l3, got.proto, got.sport, got.dport, got.err) == (L3_IPV6, f.IPPROTO_TCP, 40000, 4840, None)
    assert got.l4_off == ETH + 40 + 8 + 24 + 16 + 20
    assert got.l4_len == got.l4_wire_len == 6
    assert (got.src, got.dst) == (v6(1), v6(2))


def test_ipv6_no_next_header_has_no_transport(tmp_path: Path) -> None:
    packet = f.ipv6(v6(1), v6(2), f.IPPROTO_NONE, b"", ext_headers=[(f.IPPROTO_DSTOPTS, b"")])
    got = one(tmp_path, eth(packet))
    assert (got.proto, got.sport, got.dport, got.err, got.l4_len) == (f.IPPROTO_NONE, 0, 0, None, 0)


def test_tcp_fields(tmp_path: Path) -> None:
    segment = f.tcp(v4(3), v4(4), 49152, 44818, 0xFFFFFFF0, 0x80000001, "SA", options=f.tcp_mss_option(1400))
    got = one(tmp_path, eth(f.ipv4(v4(3), v4(4), f.IPPROTO_TCP, segment)))
    assert (got.src, got.dst, got.proto, got.sport, got.dport) == (v4(3), v4(4), f.IPPROTO_TCP, 49152, 44818)
    assert (got.tcp_flags, got.seq, got.ack) == (0x12, 0xFFFFFFF0, 0x80000001)
    assert (got.l4_off, got.l4_len, got.l4_wire_len) == (ETH + 20 + 24, 0, 0)


def test_tcp_all_flag_bits(tmp_path: Path) -> None:
    segment = f.tcp(v4(3), v4(4), 1, 2, 0, 0, "FSRPAUEC")
    got = one(tmp_path, eth(f.ipv4(v4(3), v4(4), f.IPPROTO_TCP, segment)))
    assert got.tcp_flags == 0xFF


def test_udp_fields_and_payload(tmp_path: Path) -> None:
    payload = bytes(range(100))
    got = one(tmp_path, eth(f.ipv4(v4(5), v4(6), f.IPPROTO_UDP, f.udp(v4(5), v4(6), 47808, 47809, payload))))
    assert (got.proto, got.sport, got.dport) == (f.IPPROTO_UDP, 47808, 47809)
    assert (got.l4_off, got.l4_len, got.l4_wire_len) == (ETH + 28, 100, 100)


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    # 14 + 20 + 8 + 2 = 44 bytes, padded by the NIC to 60: the 16 zero bytes are not UDP payload.
    frame = eth(f.ipv4(v4(5), v4(6), f.IPPROTO_UDP, f.udp(v4(5), v4(6), 1, 2, b"hi")), pad=True)
    assert len(frame) == 60
    got = one(tmp_path, frame)
    assert (got.l4_off, got.l4_len, got.l4_wire_len) == (ETH + 28, 2, 2)


def test_ethernet_padding_after_ipv6_and_tcp_is_not_payload(tmp_path: Path) -> None:
    # An IPv6 frame is never short enough for NIC padding, but trailers (e.g. an F5 or VSS trailer) exist.
    packet = f.ipv6(v6(1), v6(2), f.IPPROTO_TCP, f.tcp(v6(1), v6(2), 1, 2, 0, 0, "PA", b"abc"))
    got = one(tmp_path, eth(packet) + b"TRAILER!")
    assert (got.l4_len, got.l4_wire_len) == (3, 3)


def test_udp_length_shorter_than_ip_payload_bounds_the_payload(tmp_path: Path) -> None:
    # IP says 8 + 10 bytes of UDP, the UDP header only 8 + 4: the rest is not part of the datagram.
    datagram = bytearray(f.udp(v4(1), v4(2), 1, 2, bytes(10)))
    datagram[4:6] = (12).to_bytes(2, "big")
    got = one(tmp_path, eth(f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, bytes(datagram))))
    assert (got.err, got.l4_len, got.l4_wire_len) == (None, 4, 4)


def test_snaplen_cut_payload_keeps_wire_length(tmp_path: Path) -> None:
    payload = bytes(1000)
    frame = eth(f.ipv4(v4(1), v4(2), f.IPPROTO_TCP, f.tcp(v4(1), v4(2), 1, 502, 0, 0, "PA", payload)))
    got = one(tmp_path, frame, snaplen=96)
    assert got.err is None
    assert got.l4_off == ETH + 40
    assert (got.l4_len, got.l4_wire_len) == (96 - ETH - 40, 1000)


def test_snaplen_cut_ipv6_udp_payload_keeps_wire_length(tmp_path: Path) -> None:
    frame = eth(f.ipv6(v6(1), v6(2), f.IPPROTO_UDP, f.udp(v6(1), v6(2), 1, 2, bytes(500))))
    got = one(tmp_path, frame, snaplen=100)
    assert (got.err, got.l4_len, got.l4_wire_len) == (None, 100 - ETH - 48, 500)


def test_ipv4_total_length_zero_takes_the_captured_length(tmp_path: Path) -> None:
    # TSO/offloaded captures write total length 0; Wireshark then uses what was captured.
    packet = bytearray(f.ipv4(v4(1), v4(2), f.IPPROTO_TCP, f.tcp(v4(1), v4(2), 1, 2, 0, 0, "PA", bytes(3000))))
    packet[2:4] = b"\x00\x00"
    got = one(tmp_path, eth(bytes(packet)))
    assert (got.err, got.l4_len, got.l4_wire_len) == (None, 3000, 3000)


def test_ip_lengths_beyond_the_frame_wire_length_are_clamped(tmp_path: Path) -> None:
    # The length fields claim 1500 bytes, but the frames were 60 and 80 bytes on the wire: a length field
    # cannot make a packet bigger than what was sent.
    v4_packet = bytearray(f.ipv4(v4(1), v4(2), f.IPPROTO_TCP, f.tcp(v4(1), v4(2), 1, 2, 0, 0, "PA", bytes(6))))
    v4_packet[2:4] = (1500).to_bytes(2, "big")
    v6_packet = bytearray(f.ipv6(v6(1), v6(2), f.IPPROTO_TCP, f.tcp(v6(1), v6(2), 1, 2, 0, 0, "PA", bytes(6))))
    v6_packet[4:6] = (1500).to_bytes(2, "big")
    got4 = one(tmp_path, eth(bytes(v4_packet)))
    got6 = one(tmp_path, eth(bytes(v6_packet)))
    assert (got4.err, got4.l4_len, got4.l4_wire_len) == (None, 6, 6)
    assert (got6.err, got6.l4_len, got6.l4_wire_len) == (None, 6, 6)


def test_wire_length_clamp_uses_the_wire_length_not_the_captured_one() -> None:
    # Cut to 64 bytes by the snap length, 1000 on the wire, the IP header claiming 1500: 1000 - 14 - 40 on the wire.
    packet = bytearray(f.ipv4(v4(1), v4(2), f.IPPROTO_TCP, f.tcp(v4(1), v4(2), 1, 2, 0, 0, "PA", bytes(2000))))
    packet[2:4] = (1500).to_bytes(2, "big")
    frame = eth(bytes(packet))
    pk = decode(frame_batch([(0, frame[:64])], wirelen=[1000]))
    assert (int(pk.err[0]), int(pk.l4_len[0]), int(pk.l4_wire_len[0])) == (0, 64 - ETH - 40, 1000 - ETH - 40)


def test_icmp_type_and_code_in_port_fields(tmp_path: Path) -> None:
    echo = one(tmp_path, eth(f.ipv4(v4(1), v4(2), f.IPPROTO_ICMP, f.icmp_echo(7, 1, b"ping"))))
    assert (echo.proto, echo.sport, echo.dport, echo.l4_off, echo.l4_len) == (f.IPPROTO_ICMP, 8, 0, ETH + 24, 8)
    # Destination unreachable, port unreachable (type 3, code 3), quoting the offending header.
    unreach = bytes([3, 3, 0, 0, 0, 0, 0, 0]) + f.ipv4(v4(2), v4(1), f.IPPROTO_UDP, f.udp(v4(2), v4(1), 5, 6, b""))
    got = one(tmp_path, eth(f.ipv4(v4(1), v4(2), f.IPPROTO_ICMP, unreach)))
    assert (got.sport, got.dport, got.err) == (3, 3, None)


def test_icmpv6_type_and_code_in_port_fields(tmp_path: Path) -> None:
    reply = f.icmpv6_echo(v6(1), v6(2), 9, 1, reply=True)
    got = one(tmp_path, eth(f.ipv6(v6(1), v6(2), f.IPPROTO_ICMPV6, reply)))
    assert (got.proto, got.sport, got.dport, got.err) == (f.IPPROTO_ICMPV6, 129, 0, None)


def test_other_ip_protocol_has_no_ports_but_a_payload(tmp_path: Path) -> None:
    gre = bytes.fromhex("00000800") + bytes(20)  # GRE carrying IPv4 (not decoded further)
    got = one(tmp_path, eth(f.ipv4(v4(1), v4(2), 47, gre)))
    assert (got.proto, got.sport, got.dport, got.err, got.l4_off, got.l4_len) == (47, 0, 0, None, ETH + 20, 24)


def test_ipv4_addresses_are_stored_ipv4_mapped(tmp_path: Path) -> None:
    path = tmp_path / "mapped.pcap"
    write_pcap(path, [(0, eth(f.ipv4("192.168.1.20", "172.16.0.1", f.IPPROTO_UDP,
                                     f.udp("192.168.1.20", "172.16.0.1", 1, 2, b""))))])
    (batch,) = list(CaptureRun([str(path)]))
    pk = decode(batch)
    assert (int(pk.src_hi[0]), int(pk.src_lo[0])) == (0, 0x0000FFFF_C0A80114)
    assert (int(pk.dst_hi[0]), int(pk.dst_lo[0])) == (0, 0x0000FFFF_AC100001)

"""The capture readers against tshark: same frames, exact times (ns), wire and captured lengths."""

from __future__ import annotations

import gzip
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.strategies import NS, T0_NS, eth, read_capture, v4
from zonewarden.model.frames import LINKTYPE_LINUX_SLL2, LINKTYPE_RAW
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import (
    Block,
    EnhancedPacket,
    Interface,
    InterfaceStatistics,
    NameResolution,
    ObsoletePacket,
    Section,
    SimplePacket,
    pcap_bytes,
    pcapng_bytes,
)

pytestmark = pytest.mark.peer

IP_PACKET = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, f.udp(v4(1), v4(2), 1000, 2000, bytes(100)))


def tshark_frames(path: Path) -> list[tuple[int, int, int]]:
    """(time in ns, frame.len, frame.cap_len) per frame as tshark reads it (errors on stderr are ignored:
    tshark reports a cut file after printing the frames before the cut)."""
    done = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len",
         "-e", "frame.cap_len"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    rows = []
    for line in done.stdout.splitlines():
        epoch, wire, cap = line.split("\t")
        # A simple packet block has no time: tshark prints none, the reader gives 0.
        rows.append((int(Decimal(epoch or "0") * NS), int(wire), int(cap)))
    return rows


def ours(path: Path) -> list[tuple[int, int, int]]:
    got, _ = read_capture(path)
    return [(g.ts_ns, g.wirelen, len(g.data)) for g in got]


def frames(n: int) -> list[tuple[int, bytes]]:
    return [(T0_NS + i * 123_456_789, eth(IP_PACKET)[: 60 + i * 13]) for i in range(n)]


@pytest.mark.parametrize(("big_endian", "nanosecond"), [(False, False), (True, True), (True, False)],
                         ids=["le-usec", "be-nsec", "be-usec"])
def test_pcap_matches_tshark(tmp_path: Path, big_endian: bool, nanosecond: bool) -> None:
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap_bytes(frames(8), big_endian=big_endian, nanosecond=nanosecond, snaplen=100))
    expected = tshark_frames(path)
    assert len(expected) == 8
    assert ours(path) == expected


def test_pcapng_interfaces_and_skipped_blocks_match_tshark(tmp_path: Path) -> None:
    interfaces = (
        Interface(tsresol=9),
        Interface(linktype=LINKTYPE_RAW, tsresol=0x80 | 24, tsoffset=-7),
        Interface(linktype=LINKTYPE_LINUX_SLL2, tsresol=4, snaplen=40),
    )
    blocks: list[Block] = []
    for i in range(4):
        ts = T0_NS + i * 987_654_321
        blocks += [
            EnhancedPacket(ts, eth(IP_PACKET)),
            ObsoletePacket(ts + 1, IP_PACKET, interface=1),
            EnhancedPacket(ts + 2, f.sll2(IP_PACKET, f.ETH_P_IP), interface=2),
            NameResolution(((v4(1), "rtu"),)),
            InterfaceStatistics(1, ts, received=i),
        ]
    path = tmp_path / "ifaces.pcapng"
    path.write_bytes(pcapng_bytes([Section(interfaces=interfaces, blocks=tuple(blocks)),
                                   Section(blocks=(EnhancedPacket(T0_NS + 9 * NS, eth(IP_PACKET)),))]))
    expected = tshark_frames(path)
    assert len(expected) == 13
    assert ours(path) == expected


def test_gzip_pcapng_matches_tshark(tmp_path: Path) -> None:
    blocks = tuple(EnhancedPacket(ts, fr) for ts, fr in frames(20))
    path = tmp_path / "t.pcapng.gz"
    path.write_bytes(gzip.compress(pcapng_bytes([Section(interfaces=(Interface(tsresol=9),), blocks=blocks)])))
    expected = tshark_frames(path)
    assert len(expected) == 20
    assert ours(path) == expected


def test_truncated_pcap_matches_tshark_up_to_the_cut(tmp_path: Path) -> None:
    data = pcap_bytes(frames(10), nanosecond=True)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: len(data) - 30])
    expected = tshark_frames(path)
    assert len(expected) == 9
    assert ours(path) == expected


def test_big_endian_pcapng_sections_match_tshark(tmp_path: Path) -> None:
    blocks = tuple(EnhancedPacket(ts, fr) for ts, fr in frames(5))
    path = tmp_path / "be.pcapng"
    path.write_bytes(pcapng_bytes([
        Section(interfaces=(Interface(tsresol=9),), blocks=blocks, big_endian=True),
        Section(interfaces=(Interface(linktype=LINKTYPE_RAW, tsresol=0x80 | 24, tsoffset=3),),
                blocks=(EnhancedPacket(T0_NS + NS, IP_PACKET), SimplePacket(IP_PACKET))),
        Section(interfaces=(Interface(tsresol=3),), blocks=(ObsoletePacket(T0_NS + 2 * NS, IP_PACKET[:30]),),
                big_endian=True),
    ]))
    expected = tshark_frames(path)
    assert len(expected) == 8
    assert ours(path) == expected


def test_pcap_version_2_0_corpus_file_matches_tshark(corpus_dir: Path) -> None:
    # nDPI's fuzz-2021-10-13.pcap is a version 2.0 file: its record stores (wire, captured) swapped.
    path = corpus_dir / "robustness/ndpi/fuzz-2021-10-13.pcap"
    expected = tshark_frames(path)
    got, run = read_capture(path)
    assert [(g.wirelen, len(g.data)) for g in got] == [(wire, cap) for _, wire, cap in expected] == [(524501, 197)]
    # Its nanosecond field is 1882137472, past 10**9: tshark prints it after the seconds' dot, we add it.
    assert [g.ts_ns for g in got] == [980658802 * NS + 1882137472]
    # Two bytes of a next record follow (tshark: "cut short in the middle of a packet").
    assert [p.offset for p in run.problems] == [24 + 16 + 197]


def test_cut_gzip_matches_tshark_up_to_the_cut(tmp_path: Path) -> None:
    data = pcap_bytes([(T0_NS + i * 1000, eth(IP_PACKET)[: 60 + i % 80]) for i in range(4000)])
    packed = gzip.compress(data)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    expected = tshark_frames(path)
    assert len(expected) > 2000
    assert ours(path) == expected

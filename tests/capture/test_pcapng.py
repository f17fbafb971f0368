"""pcapng reading: sections and their byte order, interfaces with their own link type and timestamp
resolution/offset, the three packet blocks, blocks to skip, and damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.strategies import NS, T0_NS, eth, read_capture, v4
from zonewarden.capture.chunks import CHUNK, FIRST_CHUNK
from zonewarden.capture.source import CaptureRun
from zonewarden.capture.walk_status import MAX_CAPLEN
from zonewarden.model.frames import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import (
    CustomBlock,
    EnhancedPacket,
    Interface,
    InterfaceStatistics,
    NameResolution,
    ObsoletePacket,
    Option,
    RawBlock,
    Section,
    SimplePacket,
    encode_timestamp,
    pcapng_bytes,
    timestamp_units_per_second,
    write_pcapng,
)

IP_PACKET = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, f.udp(v4(1), v4(2), 1000, 2000, b"pcapng"))
ETH_FRAME = eth(IP_PACKET)
SLL_FRAME = f.sll(IP_PACKET, f.ETH_P_IP)


def expected_ts(ts_ns: int, tsresol: int | None = None, tsoffset: int = 0) -> int:
    """What an exact reader returns: the stored tick count converted back to ns, rounded down."""
    ticks = encode_timestamp(ts_ns, tsresol, tsoffset)
    return ticks * NS // timestamp_units_per_second(tsresol) + tsoffset * NS


def block_offsets(data: bytes, big_endian: bool = False) -> list[int]:
    """Start of every block of a single-byte-order pcapng file."""
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += struct.unpack_from(">I" if big_endian else "<I", data, pos + 4)[0]
    return offsets


def test_pcapng_interfaces_keep_their_own_linktype_resolution_and_offset(tmp_path: Path) -> None:
    interfaces = (
        Interface(linktype=LINKTYPE_ETHERNET),  # no if_tsresol: microseconds
        Interface(linktype=LINKTYPE_RAW, tsresol=9),  # 10^-9
        Interface(linktype=LINKTYPE_LINUX_SLL, tsresol=3, tsoffset=-100),  # 10^-3, shifted
        Interface(linktype=LINKTYPE_ETHERNET, tsresol=0x80 | 20),  # 2^-20
        Interface(linktype=LINKTYPE_ETHERNET, tsresol=0x80 | 30, tsoffset=1_700_000_000),  # 2^-30 + offset
    )
    frames = {0: ETH_FRAME, 1: IP_PACKET, 2: SLL_FRAME, 3: ETH_FRAME, 4: ETH_FRAME}
    times = [T0_NS + k * 777_777_777 for k in range(3)]
    blocks = tuple(EnhancedPacket(ts, frames[i], interface=i) for ts in times for i in range(len(interfaces)))
    path = tmp_path / "ifaces.pcapng"
    write_pcapng(path, [Section(interfaces=interfaces, blocks=blocks)])
    got, run = read_capture(path)
    expected = [
        (expected_ts(ts, interfaces[i].tsresol, interfaces[i].tsoffset or 0), frames[i], interfaces[i].linktype)
        for ts in times for i in range(len(interfaces))
    ]
    assert [(g.ts_ns, g.data, g.linktype) for g in got] == expected
    assert run.problems == []
    # Spot-check the arithmetic of expected_ts against hand values.
    assert got[0].ts_ns == T0_NS - 789  # microseconds
    assert got[1].ts_ns == T0_NS  # nanoseconds
    assert got[2].ts_ns == T0_NS - 456_789  # milliseconds


def test_pcapng_epb_spb_opb_are_all_packets(tmp_path: Path) -> None:
    section = Section(
        interfaces=(Interface(tsresol=9), Interface(linktype=LINKTYPE_RAW, tsresol=9)),
        blocks=(
            EnhancedPacket(T0_NS, ETH_FRAME, comment="first"),
            SimplePacket(ETH_FRAME),
            ObsoletePacket(T0_NS + 5, IP_PACKET, interface=1, drops=3),
        ),
    )
    path = tmp_path / "kinds.pcapng"
    write_pcapng(path, [section])
    got, run = read_capture(path)
    # A simple packet block has no timestamp (Wireshark shows 0) and belongs to interface 0.
    assert [(g.ts_ns, g.data, g.linktype) for g in got] == [
        (T0_NS, ETH_FRAME, LINKTYPE_ETHERNET),
        (0, ETH_FRAME, LINKTYPE_ETHERNET),
        (T0_NS + 5, IP_PACKET, LINKTYPE_RAW),
    ]
    assert run.problems == []


def test_pcapng_spb_caplen_is_cut_to_interface_snaplen_and_padding_dropped(tmp_path: Path) -> None:
    odd = ETH_FRAME[:45]  # padded to 48 bytes in the block; the padding is not frame data
    path = tmp_path / "spb.pcapng"
    write_pcapng(path, [
        Section(interfaces=(Interface(snaplen=20),), blocks=(SimplePacket(ETH_FRAME),)),
        Section(blocks=(SimplePacket(odd),)),
    ])
    got, _ = read_capture(path)
    assert [(g.data, g.wirelen) for g in got] == [(ETH_FRAME[:20], len(ETH_FRAME)), (odd, 45)]


def test_pcapng_epb_snaplen_keeps_wire_length(tmp_path: Path) -> None:
    path = tmp_path / "snap.pcapng"
    write_pcapng(path, [Section(interfaces=(Interface(snaplen=30, tsresol=9),),
                                blocks=(EnhancedPacket(T0_NS, ETH_FRAME),))])
    (got,), _ = read_capture(path)
    assert (got.data, got.wirelen) == (ETH_FRAME[:30], len(ETH_FRAME))


def test_pcapng_non_packet_blocks_are_skipped_and_counted(tmp_path: Path) -> None:
    blocks = (
        EnhancedPacket(T0_NS, ETH_FRAME),
        NameResolution(((v4(1), "plc-1"), ("2001:db8::1", "hmi"))),
        InterfaceStatistics(0, T0_NS + 1000, received=10, dropped=1),
        CustomBlock(32473, b"vendor data"),
        CustomBlock(32473, b"not to copy", copyable=False),
        RawBlock(0x00000BAE, b"unknown block type"),
        EnhancedPacket(T0_NS + 2000, ETH_FRAME),
    )
    path = tmp_path / "skip.pcapng"
    write_pcapng(path, [Section(interfaces=(Interface(tsresol=9),), blocks=blocks)])
    got, run = read_capture(path)
    assert [g.ts_ns for g in got] == [T0_NS, T0_NS + 2000]
    assert run.stats.skipped_blocks == 5
    assert run.problems == []


def test_pcapng_interface_defined_after_packets_applies_from_there(tmp_path: Path) -> None:
    section = Section(
        interfaces=(Interface(tsresol=9),),
        blocks=(
            EnhancedPacket(T0_NS, ETH_FRAME),
            Interface(linktype=LINKTYPE_RAW, tsresol=6),
            EnhancedPacket(T0_NS + 1234, IP_PACKET, interface=1),
        ),
    )
    path = tmp_path / "late-idb.pcapng"
    write_pcapng(path, [section])
    got, run = read_capture(path)
    assert [(g.ts_ns, g.linktype) for g in got] == [
        (T0_NS, LINKTYPE_ETHERNET),
        (expected_ts(T0_NS + 1234, 6), LINKTYPE_RAW),
    ]
    assert run.problems == []


def test_pcapng_new_little_endian_section_resets_interfaces(tmp_path: Path) -> None:
    sections = [
        Section(interfaces=(Interface(linktype=LINKTYPE_RAW, tsresol=9),), blocks=(EnhancedPacket(T0_NS, IP_PACKET),)),
        Section(
            interfaces=(Interface(linktype=LINKTYPE_ETHERNET, tsresol=3), Interface(linktype=LINKTYPE_RAW)),
            blocks=(EnhancedPacket(T0_NS + NS, ETH_FRAME), EnhancedPacket(T0_NS + 2 * NS, IP_PACKET, interface=1)),
        ),
        Section(interfaces=(Interface(tsresol=0x80 | 10),), blocks=(EnhancedPacket(T0_NS + 3 * NS, ETH_FRAME),)),
    ]
    path = tmp_path / "sections.pcapng"
    write_pcapng(path, sections)
    got, run = read_capture(path)
    assert [(g.ts_ns, g.linktype) for g in got] == [
        (T0_NS, LINKTYPE_RAW),
        (expected_ts(T0_NS + NS, 3), LINKTYPE_ETHERNET),
        (expected_ts(T0_NS + 2 * NS), LINKTYPE_RAW),
        (expected_ts(T0_NS + 3 * NS, 0x80 | 10), LINKTYPE_ETHERNET),
    ]
    assert run.problems == []


def test_pcapng_packet_for_undefined_interface_is_a_problem_at_its_block(tmp_path: Path) -> None:
    # The new section defines one interface; a packet naming interface 1 there is corrupt.
    first = Section(interfaces=(Interface(), Interface()), blocks=(EnhancedPacket(T0_NS, ETH_FRAME, interface=1),))
    second = Section(interfaces=(Interface(),), blocks=(EnhancedPacket(T0_NS + 1000, ETH_FRAME),))
    good = pcapng_bytes([first, second])
    epb = pcapng_bytes([Section(interfaces=(Interface(), Interface()),
                                blocks=(EnhancedPacket(T0_NS + 2000, ETH_FRAME, interface=1),))])
    epb = epb[block_offsets(epb)[-1]:]  # just the EPB for interface 1
    path = tmp_path / "bad-if.pcapng"
    path.write_bytes(good + epb)
    got, run = read_capture(path)
    assert [g.ts_ns for g in got] == [expected_ts(T0_NS), expected_ts(T0_NS + 1000)]
    assert [p.offset for p in run.problems] == [len(good)]
    assert "interface" in run.problems[0].message


def test_pcapng_cut_mid_block_keeps_earlier_packets_and_reports_block_offset(tmp_path: Path) -> None:
    blocks = tuple(EnhancedPacket(T0_NS + i, ETH_FRAME) for i in range(4))
    data = pcapng_bytes([Section(interfaces=(Interface(tsresol=9),), blocks=blocks)])
    offsets = block_offsets(data)
    for cut in (offsets[-1] + 3, offsets[-1] + 20, len(data) - 1):
        path = tmp_path / f"cut{cut}.pcapng"
        path.write_bytes(data[:cut])
        got, run = read_capture(path)
        assert [g.ts_ns for g in got] == [T0_NS, T0_NS + 1, T0_NS + 2]
        assert [p.offset for p in run.problems] == [offsets[-1]]
        assert "truncated" in run.problems[0].message


def test_pcapng_cut_inside_section_header_reports_offset_zero(tmp_path: Path) -> None:
    data = pcapng_bytes([Section(blocks=(EnhancedPacket(T0_NS, ETH_FRAME),))])
    path = tmp_path / "cut-shb.pcapng"
    path.write_bytes(data[:10])
    got, run = read_capture(path)
    assert got == []
    assert [p.offset for p in run.problems] == [0]


@pytest.mark.parametrize("bad_length", [0, 8, 30], ids=["zero", "below-minimum", "not-multiple-of-4"])
def test_pcapng_bad_block_length_is_a_problem_at_its_block(tmp_path: Path, bad_length: int) -> None:
    blocks = tuple(EnhancedPacket(T0_NS + i, ETH_FRAME) for i in range(3))
    data = bytearray(pcapng_bytes([Section(interfaces=(Interface(tsresol=9),), blocks=blocks)]))
    offsets = block_offsets(bytes(data))
    struct.pack_into("<I", data, offsets[-2] + 4, bad_length)
    path = tmp_path / "badlen.pcapng"
    path.write_bytes(bytes(data))
    got, run = read_capture(path)
    assert [g.ts_ns for g in got] == [T0_NS]
    assert [p.offset for p in run.problems] == [offsets[-2]]


def test_pcapng_bad_byte_order_magic_is_a_problem(tmp_path: Path) -> None:
    first = pcapng_bytes([Section(interfaces=(Interface(tsresol=9),), blocks=(EnhancedPacket(T0_NS, ETH_FRAME),))])
    second = bytearray(first)
    struct.pack_into("<I", second, 8, 0x12345678)
    path = tmp_path / "magic.pcapng"
    path.write_bytes(first + bytes(second))
    got, run = read_capture(path)
    assert [g.ts_ns for g in got] == [T0_NS]
    assert [p.offset for p in run.problems] == [len(first)]


def test_pcapng_blocks_larger_than_the_carry_room_straddle_chunks(tmp_path: Path) -> None:
    # 600 KB custom blocks between packets of the largest legal size: a block cut by a chunk boundary is
    # carried over whole into the next buffer, even when it is longer than the carry room.
    frames = [(T0_NS + i, bytes([i]) * (MAX_CAPLEN - i)) for i in range(20)]
    blocks: list[EnhancedPacket | CustomBlock] = []
    for ts, data in frames:
        blocks += [CustomBlock(32473, bytes(600_000 + ts % 7)), EnhancedPacket(ts, data)]
    path = tmp_path / "big-blocks.pcapng"
    write_pcapng(path, [Section(interfaces=(Interface(tsresol=9),), blocks=tuple(blocks))])
    assert path.stat().st_size > FIRST_CHUNK + CHUNK
    got, run = read_capture(path)
    assert [(g.ts_ns, g.data) for g in got] == frames
    assert run.problems == []
    assert run.stats.skipped_blocks == len(frames)


@pytest.mark.parametrize("block", ["epb", "opb", "spb"])
def test_pcapng_packet_longer_than_the_maximum_is_corrupt(tmp_path: Path, block: str) -> None:
    # As tshark: "pcapng: cap_len 600000 is larger than 262144"; the packets before it are kept.
    big = bytes(600_000)
    make = {"epb": lambda: EnhancedPacket(T0_NS, big), "opb": lambda: ObsoletePacket(T0_NS, big),
            "spb": lambda: SimplePacket(big)}[block]
    before = EnhancedPacket(T0_NS, ETH_FRAME)
    head = pcapng_bytes([Section(interfaces=(Interface(tsresol=9),), blocks=(before,))])
    path = tmp_path / "too-long.pcapng"
    write_pcapng(path, [Section(interfaces=(Interface(tsresol=9),), blocks=(before, make(), before))])
    got, run = read_capture(path)
    assert [g.data for g in got] == [ETH_FRAME]
    assert [p.offset for p in run.problems] == [len(head)]
    assert f"exceeds the maximum {MAX_CAPLEN}" in run.problems[0].message


def test_pcapng_many_small_packets_across_chunks(tmp_path: Path) -> None:
    # More than 65536 packet blocks in one read chunk (the walk's "output full" path) and carry-over between
    # chunks, with skipped blocks in between.
    n = 200_000
    blocks: list[EnhancedPacket | InterfaceStatistics] = []
    for i in range(n):
        blocks.append(EnhancedPacket(T0_NS + i, ETH_FRAME[: 20 + i % 8]))
        if i % 50_000 == 0:
            blocks.append(InterfaceStatistics(0, T0_NS + i, received=i))
    path = tmp_path / "many.pcapng"
    write_pcapng(path, [Section(interfaces=(Interface(tsresol=9),), blocks=tuple(blocks))])
    assert path.stat().st_size > FIRST_CHUNK + CHUNK
    run = CaptureRun([str(path)])
    count = total = ts_sum = 0
    for batch in run:
        count += len(batch)
        total += int(batch.caplen.sum())
        ts_sum += int((batch.ts_ns - T0_NS).sum())
    assert count == n
    assert total == sum(20 + i % 8 for i in range(n))
    assert ts_sum == n * (n - 1) // 2
    assert run.stats.skipped_blocks == 4
    assert run.problems == []


# --- regressions, each pinned by its smallest input ---

# A big-endian section's SHB must be recognised by its type before its length is read: in the previous
# section's byte order, its length 0x1c reads as 0x1c000000.


def test_pcapng_big_endian_file(tmp_path: Path) -> None:
    path = tmp_path / "be.pcapng"
    write_pcapng(path, [Section(interfaces=(Interface(tsresol=9),), blocks=(EnhancedPacket(T0_NS, ETH_FRAME),),
                                big_endian=True)])
    got, run = read_capture(path)
    assert run.problems == []
    assert [(g.ts_ns, g.data) for g in got] == [(T0_NS, ETH_FRAME)]


@pytest.mark.parametrize("length", [24, 30, 0x1C000000], ids=["below-28", "not-multiple-of-4", "read-little-endian"])
def test_pcapng_big_endian_section_header_length_is_checked_in_its_own_order(tmp_path: Path, length: int) -> None:
    first = pcapng_bytes([Section(interfaces=(Interface(tsresol=9),), blocks=(EnhancedPacket(T0_NS, ETH_FRAME),))])
    second = bytearray(pcapng_bytes([Section(interfaces=(Interface(tsresol=9),),
                                             blocks=(EnhancedPacket(T0_NS, ETH_FRAME),), big_endian=True)]))
    struct.pack_into(">I", second, 4, length)
    path = tmp_path / "bad-shb.pcapng"
    path.write_bytes(first + bytes(second))
    got, run = read_capture(path)
    assert [g.data for g in got] == [ETH_FRAME]
    assert [(p.offset, p.message) for p in run.problems] == [
        (len(first), f"corrupt pcapng section header (bad block length {length})")]


def test_pcapng_little_then_big_endian_sections(tmp_path: Path) -> None:
    sections = [
        Section(interfaces=(Interface(tsresol=9),), blocks=(EnhancedPacket(T0_NS, ETH_FRAME),)),
        Section(interfaces=(Interface(linktype=LINKTYPE_RAW, tsresol=0x80 | 24, tsoffset=3),),
                blocks=(EnhancedPacket(T0_NS + NS, IP_PACKET), SimplePacket(IP_PACKET)), big_endian=True),
        Section(interfaces=(Interface(tsresol=6),), blocks=(ObsoletePacket(T0_NS + 2 * NS, ETH_FRAME),)),
    ]
    path = tmp_path / "mixed.pcapng"
    write_pcapng(path, sections)
    got, run = read_capture(path)
    assert run.problems == []
    assert [(g.ts_ns, g.linktype) for g in got] == [
        (T0_NS, LINKTYPE_ETHERNET),
        (expected_ts(T0_NS + NS, 0x80 | 24, 3), LINKTYPE_RAW),
        (0, LINKTYPE_RAW),
        (expected_ts(T0_NS + 2 * NS), LINKTYPE_ETHERNET),
    ]


def test_pcapng_picosecond_resolution_is_exact(tmp_path: Path) -> None:
    # Picosecond ticks since an if_tsoffset base fit 64 bits; the conversion to ns must not overflow.
    base = T0_NS // NS
    path = tmp_path / "ps.pcapng"
    write_pcapng(path, [Section(interfaces=(Interface(tsresol=12, tsoffset=base),),
                                blocks=(EnhancedPacket(T0_NS + NS // 2, ETH_FRAME),))])
    (got,), _ = read_capture(path)
    assert got.ts_ns == T0_NS + NS // 2


def test_pcapng_tick_count_above_2_63_is_unsigned(tmp_path: Path) -> None:
    path = tmp_path / "2-33.pcapng"
    section = Section(interfaces=(Interface(tsresol=0x80 | 33),), blocks=(EnhancedPacket(T0_NS, ETH_FRAME),))
    write_pcapng(path, [section])
    (got,), _ = read_capture(path)
    assert got.ts_ns == expected_ts(T0_NS, 0x80 | 33)


def idb_with_raw_option(code: int, length: int, value: bytes) -> bytes:
    """An IDB whose option header claims ``length`` bytes but carries only ``value`` before the block ends."""
    body = struct.pack("<HHI", LINKTYPE_ETHERNET, 0, 0) + struct.pack("<HH", code, length) + value
    total = 12 + len(body)
    return struct.pack("<II", 1, total) + body + struct.pack("<I", total)


def test_pcapng_truncated_tsoffset_option_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    shb = pcapng_bytes([Section(interfaces=())])
    path = tmp_path / "idb.pcapng"
    path.write_bytes(shb + idb_with_raw_option(14, 8, b""))
    got, run = read_capture(path)
    assert got == []
    assert [p.offset for p in run.problems] == [len(shb)]
    assert "runs past the end of the block" in run.problems[0].message


def test_pcapng_huge_tsoffset_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "offset.pcapng"
    huge = Interface(tsresol=9, options=(Option(14, struct.pack("<q", 2**62)),))
    write_pcapng(path, [Section(interfaces=(huge,), blocks=(EnhancedPacket(T0_NS, ETH_FRAME),))])
    got, run = read_capture(path)
    # 2**62 s is no time an int64 of nanoseconds can hold: the interface is corrupt, reported where it starts.
    assert got == []
    assert [p.offset for p in run.problems] == [len(pcapng_bytes([Section(interfaces=())]))]
    assert "out of range" in run.problems[0].message


def raw_epb(ticks: int, data: bytes) -> RawBlock:
    """An EPB on interface 0 with a tick count written as is (any 64-bit value)."""
    body = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data
    return RawBlock(6, body)


@pytest.mark.parametrize("tsresol", [0, 3, 6, 9, 12, 15, 19, 20, 40, 127, 0x80, 0x80 | 20, 0x80 | 30, 0x80 | 33,
                                     0x80 | 40, 0x80 | 63, 0x80 | 64, 0x80 | 127])
def test_pcapng_tick_conversion_is_exact_for_any_resolution_and_tick_count(tmp_path: Path, tsresol: int) -> None:
    # floor(ticks * 10**9 / units per second), saturated at the largest int64: exact where representable.
    units = timestamp_units_per_second(tsresol)
    ticks = [0, 1, 999, units - 1, units, units + 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**63 + 12345, 2**64 - 1]
    ticks = sorted({t for t in ticks if 0 <= t < 2**64})
    path = tmp_path / "ticks.pcapng"
    write_pcapng(path, [Section(interfaces=(Interface(tsresol=tsresol),),
                                blocks=tuple(raw_epb(t, ETH_FRAME) for t in ticks))])
    got, run = read_capture(path)
    assert run.problems == []
    assert [g.ts_ns for g in got] == [min(t * NS // units, 2**63 - 1) for t in ticks]

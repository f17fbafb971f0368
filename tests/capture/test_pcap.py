"""Classic pcap reading: byte orders, timestamp resolutions, lengths, chunking and damaged files.

Files are written by ``zonewarden.simulate.pcap_writer`` (independent of the reader) into tmp_path.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.strategies import NS, T0_NS, eth, read_capture, v4
from zonewarden.capture.chunks import CHUNK, FIRST_CHUNK
from zonewarden.capture.source import CaptureRun
from zonewarden.capture.walk_status import MAX_CAPLEN
from zonewarden.model.frames import LINKTYPE_ETHERNET, LINKTYPE_RAW
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import pcap_bytes, write_pcap

PCAP_HEADER = 24
RECORD_HEADER = 16
# Sub-microsecond digits on purpose: a microsecond file must drop them, a nanosecond file keep them.
TIMES = [T0_NS, T0_NS + 1, T0_NS + 999, T0_NS + 1_000, T0_NS + 86_400 * NS + 987_654_321]


def udp_frame(n: int, payload: bytes = b"") -> bytes:
    return eth(f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, f.udp(v4(1), v4(2), 1000 + n, 2000, payload)))


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
@pytest.mark.parametrize("nanosecond", [False, True], ids=["usec", "nsec"])
def test_pcap_timestamps_exact_to_the_nanosecond(tmp_path: Path, big_endian: bool, nanosecond: bool) -> None:
    path = tmp_path / "t.pcap"
    frames = [(ts, udp_frame(i)) for i, ts in enumerate(TIMES)]
    write_pcap(path, frames, big_endian=big_endian, nanosecond=nanosecond)
    got, run = read_capture(path)
    expected = TIMES if nanosecond else [ts - ts % 1000 for ts in TIMES]
    assert [g.ts_ns for g in got] == expected
    assert [g.data for g in got] == [fr for _, fr in frames]
    assert run.problems == []
    assert run.stats.frames == len(TIMES)


def test_pcap_frame_batch_ts_ns_is_int64_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    write_pcap(path, [(TIMES[-1], udp_frame(0))], nanosecond=True)
    (batch,) = list(CaptureRun([str(path)]))
    assert batch.ts_ns.dtype == np.int64
    assert batch.ts_ns.tolist() == [TIMES[-1]]
    assert batch.first_frame == 1


def test_pcap_caplen_below_wirelen_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "snap.pcap"
    frame = udp_frame(0, bytes(200))
    write_pcap(path, [(T0_NS, frame)], snaplen=64)
    (got,), run = read_capture(path)
    assert got.data == frame[:64]
    assert got.wirelen == len(frame)
    assert run.problems == []


def test_pcap_wirelen_below_caplen_is_raised_to_caplen(tmp_path: Path) -> None:
    # An impossible record (wire shorter than captured): bytes counted on the wire are never below captured.
    path = tmp_path / "short-wire.pcap"
    frame = udp_frame(0)
    write_pcap(path, [(T0_NS, frame)], wirelen_override={0: 10})
    (got,), _ = read_capture(path)
    assert got.wirelen == len(frame)


def test_pcap_linktype_fcs_length_bits_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "fcs.pcap"
    # pcap spec: the top 4 bits of the link-type field carry the FCS length.
    write_pcap(path, [(T0_NS, udp_frame(0))], linktype=LINKTYPE_ETHERNET | 0x4 << 28)
    (got,), run = read_capture(path)
    assert got.linktype == LINKTYPE_ETHERNET
    assert run.problems == []


def test_pcap_linktype_fcs_present_flag_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "fcs-present.pcap"
    # FCS length 4, P bit set: what a capture of Ethernet frames with their FCS declares (tshark reads it).
    write_pcap(path, [(T0_NS, udp_frame(0) + b"\x11\x22\x33\x44")], linktype=LINKTYPE_ETHERNET | 0x4 << 28 | 1 << 26)
    (got,), run = read_capture(path)
    assert got.linktype == LINKTYPE_ETHERNET
    assert run.problems == []


def test_pcap_zero_length_record_is_a_frame(tmp_path: Path) -> None:
    path = tmp_path / "zero.pcap"
    write_pcap(path, [(T0_NS, b""), (T0_NS + 1000, udp_frame(1))], linktype=LINKTYPE_RAW)
    got, run = read_capture(path)
    assert [(g.data, g.wirelen) for g in got] == [(b"", 0), (udp_frame(1), len(udp_frame(1)))]
    assert run.problems == []


def test_pcap_larger_than_one_read_chunk_counts_every_frame_and_byte(tmp_path: Path) -> None:
    # Small frames of varying length: more than one batch of 65536 frames fits in a chunk (the walk's
    # "output full" path) and records straddle the chunk boundaries (the carry-over path).
    n = 150_000
    template = udp_frame(0, bytes(range(256)) * 2)
    lengths = [60 + (i * 7) % 23 for i in range(n)]
    frames = [(T0_NS + i * 1000, template[:length]) for i, length in enumerate(lengths)]
    data = pcap_bytes(frames, nanosecond=True)
    assert len(data) > FIRST_CHUNK + CHUNK
    path = tmp_path / "big.pcap"
    path.write_bytes(data)
    run = CaptureRun([str(path)])
    count = total = ts_sum = 0
    last_first_frame = 0
    for batch in run:
        assert batch.first_frame == count + 1 > last_first_frame
        last_first_frame = batch.first_frame
        count += len(batch)
        total += int(batch.caplen.sum())
        ts_sum += int((batch.ts_ns - T0_NS).sum())
        assert (batch.caplen == batch.wirelen).all()
    assert count == n
    assert total == sum(lengths)
    assert ts_sum == sum(ts - T0_NS for ts, _ in frames)
    assert run.problems == []
    assert run.stats.frames == n


def test_pcap_frame_straddling_first_chunk_boundary_keeps_its_bytes(tmp_path: Path) -> None:
    # One frame starts a few bytes before the end of the first read and ends in the second one.
    filler = udp_frame(0, bytes(1000))
    per_record = RECORD_HEADER + len(filler)
    boundary = PCAP_HEADER + FIRST_CHUNK  # the first read starts after the file header
    before = FIRST_CHUNK // per_record
    marker = udp_frame(9, bytes(range(256)) * 4)
    frames = [(T0_NS + i, filler) for i in range(before)] + [(T0_NS + before, marker)]
    frames += [(T0_NS + before + 1, filler)]
    path = tmp_path / "straddle.pcap"
    write_pcap(path, frames, nanosecond=True)
    start = PCAP_HEADER + before * per_record
    assert start < boundary < start + RECORD_HEADER + len(marker)
    got, run = read_capture(path)
    assert [g.data for g in got] == [fr for _, fr in frames]
    assert [g.ts_ns for g in got] == [ts for ts, _ in frames]
    assert run.problems == []


# --- damaged files: everything before the damage is processed, the damage is reported once with its offset ---


def five_frame_file(tmp_path: Path) -> tuple[Path, bytes, list[tuple[int, bytes]]]:
    frames = [(T0_NS + i * NS, udp_frame(i, bytes(i * 3))) for i in range(5)]
    data = pcap_bytes(frames)
    return tmp_path / "five.pcap", data, frames


def record_offsets(frames: list[tuple[int, bytes]]) -> list[int]:
    offsets, pos = [], PCAP_HEADER
    for _, fr in frames:
        offsets.append(pos)
        pos += RECORD_HEADER + len(fr)
    return offsets


def test_pcap_cut_mid_record_data_keeps_frames_before_and_reports_record_offset(tmp_path: Path) -> None:
    path, data, frames = five_frame_file(tmp_path)
    offsets = record_offsets(frames)
    path.write_bytes(data[: offsets[3] + RECORD_HEADER + 5])
    got, run = read_capture(path)
    assert [g.data for g in got] == [fr for _, fr in frames[:3]]
    assert len(run.problems) == 1
    assert run.problems[0].offset == offsets[3]
    assert "truncated" in run.problems[0].message


def test_pcap_cut_mid_record_header_reports_record_offset(tmp_path: Path) -> None:
    path, data, frames = five_frame_file(tmp_path)
    offsets = record_offsets(frames)
    path.write_bytes(data[: offsets[4] + 7])
    got, run = read_capture(path)
    assert len(got) == 4
    assert [p.offset for p in run.problems] == [offsets[4]]


def test_pcap_cut_at_record_boundary_is_not_a_problem(tmp_path: Path) -> None:
    path, data, frames = five_frame_file(tmp_path)
    path.write_bytes(data[: record_offsets(frames)[2]])
    got, run = read_capture(path)
    assert len(got) == 2
    assert run.problems == []


def test_pcap_cut_inside_file_header_reports_offset_zero(tmp_path: Path) -> None:
    path, data, _ = five_frame_file(tmp_path)
    path.write_bytes(data[:13])
    got, run = read_capture(path)
    assert got == []
    assert [p.offset for p in run.problems] == [0]
    assert "header" in run.problems[0].message


def test_pcap_header_only_is_an_empty_capture_without_problem(tmp_path: Path) -> None:
    path, data, _ = five_frame_file(tmp_path)
    path.write_bytes(data[:PCAP_HEADER])
    got, run = read_capture(path)
    assert got == []
    assert run.problems == []


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_pcap_corrupt_caplen_stops_with_problem_at_record_offset(tmp_path: Path, big_endian: bool) -> None:
    frames = [(T0_NS + i * NS, udp_frame(i)) for i in range(4)]
    data = bytearray(pcap_bytes(frames, big_endian=big_endian))
    offsets = record_offsets(frames)
    struct.pack_into(">I" if big_endian else "<I", data, offsets[2] + 8, MAX_CAPLEN + 1)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(data))
    got, run = read_capture(path)
    assert [g.data for g in got] == [fr for _, fr in frames[:2]]
    assert len(run.problems) == 1
    assert run.problems[0].offset == offsets[2]
    assert str(MAX_CAPLEN + 1) in run.problems[0].message


def test_pcap_caplen_at_maximum_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "max.pcap"
    big = bytes(MAX_CAPLEN)
    write_pcap(path, [(T0_NS, big), (T0_NS + 1000, udp_frame(1))])
    got, run = read_capture(path)
    assert [len(g.data) for g in got] == [MAX_CAPLEN, len(udp_frame(1))]
    assert run.problems == []


def test_empty_file_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    got, run = read_capture(path)
    assert got == []
    assert [(p.offset, p.message) for p in run.problems] == [(0, "empty file")]


@pytest.mark.parametrize("content", [b"hello, this is not a capture\n", b"\x00", b"\xd4\xc3"], ids=["text", "1B", "2B"])
def test_not_a_capture_is_reported_not_raised(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    got, run = read_capture(path)
    assert got == []
    assert len(run.problems) == 1
    assert run.problems[0].offset == 0
    assert "not a pcap or pcapng" in run.problems[0].message


def test_problem_text_names_file_and_offset(tmp_path: Path) -> None:
    path, data, frames = five_frame_file(tmp_path)
    path.write_bytes(data[:-3])
    _, run = read_capture(path)
    (problem,) = run.problems
    assert str(problem) == f"{path}: {problem.message} at byte offset {record_offsets(frames)[4]}"


def test_pcap_version_2_2_lengths_are_swapped_as_libpcap_does(tmp_path: Path) -> None:
    frame = udp_frame(0, bytes(300))
    data = bytearray(pcap_bytes([(T0_NS, frame)], snaplen=300))
    struct.pack_into("<H", data, 6, 2)  # minor version 2
    # Old libpcap wrote (wire length, captured length) in that order: wire 400000 > MAX_CAPLEN, captured 100.
    struct.pack_into("<II", data, PCAP_HEADER + 8, 400_000, 100)
    path = tmp_path / "v22.pcap"
    path.write_bytes(bytes(data[: PCAP_HEADER + RECORD_HEADER + 100]))
    got, run = read_capture(path)
    assert [(len(g.data), g.wirelen) for g in got] == [(100, 400_000)]
    assert run.problems == []


@pytest.mark.parametrize(("stored", "expected"), [((400_000, 100), (100, 400_000)), ((100, 400_000), (100, 400_000)),
                                                  ((100, 100), (100, 100))],
                         ids=["captured-above-wire-swapped", "in-order-kept", "equal"])
def test_pcap_version_2_3_lengths_are_swapped_only_when_captured_exceeds_wire(
    tmp_path: Path, stored: tuple[int, int], expected: tuple[int, int]
) -> None:
    # libpcap's rule for 2.3 files, written by old and new libpcap alike: swap only when the "captured"
    # length is the larger one.
    data = bytearray(pcap_bytes([(T0_NS, udp_frame(0, bytes(300)))], snaplen=300))
    struct.pack_into("<H", data, 6, 3)
    struct.pack_into("<II", data, PCAP_HEADER + 8, *stored)
    path = tmp_path / "v23.pcap"
    path.write_bytes(bytes(data[: PCAP_HEADER + RECORD_HEADER + 100]))
    got, run = read_capture(path)
    assert [(len(g.data), g.wirelen) for g in got] == [expected]
    assert run.problems == []


def test_pcap_version_2_4_lengths_are_never_swapped(tmp_path: Path) -> None:
    data = bytearray(pcap_bytes([(T0_NS, udp_frame(0, bytes(300)))], snaplen=300))
    struct.pack_into("<II", data, PCAP_HEADER + 8, 400_000, 100)
    path = tmp_path / "v24.pcap"
    path.write_bytes(bytes(data))
    got, run = read_capture(path)
    assert got == []
    assert [(p.offset, p.message) for p in run.problems] == [
        (PCAP_HEADER, f"corrupt record header: captured length 400000 exceeds the maximum {MAX_CAPLEN}")]

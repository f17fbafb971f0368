"""Properties of the capture readers: a damaged file yields a prefix of its frames and at most one problem,
never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import capture_frames, pcapng_sections, read_capture
from zonewarden.simulate.pcap_writer import (
    EnhancedPacket,
    ObsoletePacket,
    Section,
    SimplePacket,
    encode_timestamp,
    pcap_bytes,
    pcapng_bytes,
    timestamp_units_per_second,
)

NS = 1_000_000_000


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("capture-properties") / "capture"


def read_bytes(path: Path, data: bytes) -> tuple[list[tuple[int, bytes]], list[int | None]]:
    path.write_bytes(data)
    got, run = read_capture(path)
    return [(g.ts_ns, g.data) for g in got], [p.offset for p in run.problems]


def pcapng_expected(sections: list[Section]) -> list[tuple[int, bytes]]:
    out = []
    for section in sections:
        interfaces = list(section.interfaces)
        for blk in section.blocks:
            if isinstance(blk, SimplePacket):
                out.append((0, blk.data))
            elif isinstance(blk, EnhancedPacket | ObsoletePacket):
                resol = interfaces[blk.interface].tsresol
                ticks = encode_timestamp(blk.ts_ns, resol)
                out.append((ticks * NS // timestamp_units_per_second(resol), blk.data))
    return out


@settings(max_examples=150, deadline=None)
@given(frames=capture_frames, big_endian=st.booleans(), nanosecond=st.booleans(), cut=st.integers(0, 2000))
def test_truncated_pcap_yields_a_prefix_and_at_most_one_problem(
    scratch: Path, frames: list[tuple[int, bytes]], big_endian: bool, nanosecond: bool, cut: int
) -> None:
    data = pcap_bytes(frames, big_endian=big_endian, nanosecond=nanosecond)
    cut = min(cut, len(data))
    got, problems = read_bytes(scratch, data[:cut])
    expected = [(ts if nanosecond else ts - ts % 1000, fr) for ts, fr in frames]
    assert got == expected[: len(got)]
    assert len(problems) <= 1
    # Record boundaries: a cut exactly on one is a shorter file, anything else is reported where the record starts.
    starts = [24]
    for _, fr in frames:
        starts.append(starts[-1] + 16 + len(fr))
    if cut == 0:
        assert problems == [0]
    elif cut in starts:
        assert problems == []
        assert len(got) == starts.index(cut)
    elif cut < 24:
        assert problems == [0]
    else:
        assert problems == [starts[len(got)]]


@settings(max_examples=150, deadline=None)
@given(sections=pcapng_sections(), cut=st.integers(0, 3000))
def test_truncated_pcapng_yields_a_prefix_and_at_most_one_problem(
    scratch: Path, sections: list[Section], cut: int
) -> None:
    data = pcapng_bytes(sections)
    got, problems = read_bytes(scratch, data[: min(cut, len(data))])
    expected = pcapng_expected(sections)
    assert got == expected[: len(got)]
    assert len(problems) <= 1
    if cut >= len(data):
        assert got == expected
        assert problems == []


@settings(max_examples=150, deadline=None)
@given(frames=capture_frames, big_endian=st.booleans(), garbage=st.binary(min_size=1, max_size=200),
       at=st.integers(0, 2000))
def test_pcap_with_garbage_written_over_it_never_raises(
    scratch: Path, frames: list[tuple[int, bytes]], big_endian: bool, garbage: bytes, at: int
) -> None:
    data = bytearray(pcap_bytes(frames, big_endian=big_endian))
    at = 24 + at % max(1, len(data) - 24)
    data[at : at + len(garbage)] = garbage
    got, problems = read_bytes(scratch, bytes(data))
    assert len(problems) <= 1
    # Frames are slices of the file, whatever the headers say.
    assert sum(16 + len(fr) for _, fr in got) <= len(data) - 24


@settings(max_examples=150, deadline=None)
@given(sections=pcapng_sections(), flips=st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)),
                                                  min_size=1, max_size=6))
def test_pcapng_with_bytes_overwritten_never_raises(
    scratch: Path, sections: list[Section], flips: list[tuple[int, int]]
) -> None:
    data = bytearray(pcapng_bytes(sections))
    for pos, value in flips:
        data[pos % len(data)] = value
    _, problems = read_bytes(scratch, bytes(data))
    assert len(problems) <= 1

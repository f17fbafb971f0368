"""TCP stream reassembly: named cases for each rule of the defined behaviour, then properties."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonewarden.errors import ConfigError
from zonewarden.flow.tcp_reassembly import (
    Chunk,
    ReassemblyBudget,
    ReassemblyLimits,
    ReassemblyStats,
    StreamReassembler,
)

# Modbus/TCP read holding registers request: 12 bytes.
MODBUS_READ_REQ = bytes.fromhex(
    "0001"  # transaction id 1
    "0000"  # protocol id 0
    "0006"  # length 6 (unit id + PDU)
    "01"  # unit id 1
    "03"  # function 3, read holding registers
    "0000"  # start address 0
    "000a"  # quantity 10
)
# Modbus/TCP write single register request: 12 bytes, same transaction id, different content.
MODBUS_WRITE_REQ = bytes.fromhex(
    "0001"  # transaction id 1
    "0000"  # protocol id 0
    "0006"  # length 6
    "01"  # unit id 1
    "06"  # function 6, write single register (differs from the read at byte 7)
    "0000"  # register 0
    "ffff"  # value 0xffff (differs from the read's quantity at bytes 10-11)
)
# Modbus/TCP read holding registers request, transaction 2.
MODBUS_READ_REQ_2 = bytes.fromhex(
    "0002"  # transaction id 2
    "0000"  # protocol id 0
    "0006"  # length 6
    "01"  # unit id 1
    "03"  # function 3
    "0064"  # start address 100
    "0002"  # quantity 2
)
# Modbus/TCP read holding registers request, transaction 3.
MODBUS_READ_REQ_3 = bytes.fromhex(
    "0003"  # transaction id 3
    "0000"  # protocol id 0
    "0006"  # length 6
    "01"  # unit id 1
    "03"  # function 3
    "00c8"  # start address 200
    "0001"  # quantity 1
)

ISN = 1_000


def make(
    limits: ReassemblyLimits | None = None, budget: ReassemblyBudget | None = None
) -> tuple[StreamReassembler, ReassemblyStats, ReassemblyBudget]:
    limits = limits or ReassemblyLimits()
    budget = budget or ReassemblyBudget(limits.max_total_buffered)
    stats = ReassemblyStats()
    return StreamReassembler(limits, budget, stats), stats, budget


def seg(
    r: StreamReassembler,
    seq: int,
    payload: bytes | memoryview = b"",
    *,
    syn: bool = False,
    fin: bool = False,
    rst: bool = False,
    ts: int = 0,
    frame: int = 0,
) -> list[Chunk]:
    return r.add(seq % 2**32, payload, syn=syn, fin=fin, rst=rst, ts_ns=ts, frame=frame)


def started(
    limits: ReassemblyLimits | None = None,
) -> tuple[StreamReassembler, ReassemblyStats, ReassemblyBudget]:
    """A stream that saw its SYN at ISN, so offset 0 is ISN + 1."""
    r, stats, budget = make(limits)
    assert seg(r, ISN, syn=True) == []
    return r, stats, budget


def test_in_order_segments_are_delivered_immediately() -> None:
    r, stats, _ = started()
    assert seg(r, ISN + 1, MODBUS_READ_REQ, ts=10) == [Chunk(0, MODBUS_READ_REQ, 0, 10)]
    assert seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=20) == [Chunk(12, MODBUS_READ_REQ_2, 0, 20)]
    assert stats.bytes_delivered == 24
    assert stats.segments == 3
    assert r.buffered_bytes == 0
    assert r.next_offset == 24


def test_syn_consumes_the_isn_and_its_data_starts_at_offset_zero() -> None:
    r, _, _ = make()
    # A SYN carrying data (TCP Fast Open): the data sits at ISN + 1, offset 0.
    assert seg(r, ISN, MODBUS_READ_REQ, syn=True, ts=5) == [Chunk(0, MODBUS_READ_REQ, 0, 5)]
    # A retransmitted SYN with the same data is a retransmission of delivered bytes.
    assert seg(r, ISN, MODBUS_READ_REQ, syn=True) == []
    assert seg(r, ISN + 13, MODBUS_READ_REQ_2) == [Chunk(12, MODBUS_READ_REQ_2, 0, 0)]


def test_mid_stream_pickup_starts_at_first_seq_seen() -> None:
    r, stats, _ = make()
    assert seg(r, 50_000, MODBUS_READ_REQ) == [Chunk(0, MODBUS_READ_REQ, 0, 0)]
    # Bytes before the first one seen count as already delivered.
    assert seg(r, 50_000 - 12, MODBUS_READ_REQ_3) == []
    assert stats.retransmitted_segments == 1
    assert stats.retransmitted_bytes == 12


def test_mid_stream_pickup_with_pure_ack_first() -> None:
    r, _, _ = make()
    assert seg(r, 7) == []  # an empty segment's seq is the next byte the sender will send
    assert seg(r, 7, MODBUS_READ_REQ) == [Chunk(0, MODBUS_READ_REQ, 0, 0)]


def test_wraparound_at_2_pow_32() -> None:
    r, stats, _ = make()
    start = 2**32 - 6  # the first request straddles the wrap: 6 bytes before it, 6 after
    assert seg(r, start, MODBUS_READ_REQ) == [Chunk(0, MODBUS_READ_REQ, 0, 0)]
    # Out of order across the wrap: request 3 (seq 18) before request 2 (seq 6).
    assert seg(r, 18, MODBUS_READ_REQ_3) == []
    assert seg(r, 6, MODBUS_READ_REQ_2) == [Chunk(12, MODBUS_READ_REQ_2 + MODBUS_READ_REQ_3, 0, 0)]
    # A retransmission of the straddling request, with its pre-wrap seq, is recognised.
    assert seg(r, start, MODBUS_READ_REQ) == []
    assert stats.retransmitted_bytes == 12


def test_syn_at_last_sequence_number_wraps_offset_zero_to_seq_zero() -> None:
    r, _, _ = make()
    seg(r, 2**32 - 1, syn=True)
    assert seg(r, 0, MODBUS_READ_REQ) == [Chunk(0, MODBUS_READ_REQ, 0, 0)]


def test_retransmission_of_delivered_data_is_counted_and_dropped() -> None:
    r, stats, _ = started()
    seg(r, ISN + 1, MODBUS_READ_REQ)
    # Full retransmission with different content: delivered data is never changed.
    assert seg(r, ISN + 1, MODBUS_WRITE_REQ) == []
    # Partial: the first 12 bytes were delivered, only the new tail is used.
    assert seg(r, ISN + 1, MODBUS_READ_REQ + MODBUS_READ_REQ_2) == [Chunk(12, MODBUS_READ_REQ_2, 0, 0)]
    assert stats.retransmitted_segments == 2
    assert stats.retransmitted_bytes == 24
    assert stats.bytes_delivered == 24


def test_partial_overlap_with_different_content_first_received_wins() -> None:
    r, stats, _ = started()
    # Out of order: the read request at offset 12 is buffered first.
    assert seg(r, ISN + 13, MODBUS_READ_REQ, ts=1, frame=11) == []
    assert stats.out_of_order_segments == 1
    # 6 new bytes, then the write request over offsets 12-23, where the read request is kept.
    later = bytes(6) + MODBUS_WRITE_REQ
    assert seg(r, ISN + 7, later, ts=2, frame=12) == []
    assert stats.overlapping_segments == 1
    # Bytes 7, 10 and 11 of the two requests differ: function 03 vs 06, quantity 000a vs ffff.
    assert stats.overlap_conflict_bytes == 3
    # The kept bytes keep the frame that first carried them; frame 12 only owns the 6 bytes it added.
    chunks = seg(r, ISN + 1, bytes(6), ts=9, frame=13)
    assert chunks == [
        Chunk(0, bytes(6), 0, 9, 13),
        Chunk(6, bytes(6), 0, 2, 12),
        Chunk(12, MODBUS_READ_REQ, 0, 1, 11),
    ]


def test_segment_filling_holes_around_kept_data_owns_only_the_holes() -> None:
    r, stats, _ = started()
    seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=1, frame=21)  # kept: offsets 12-23
    # One segment over offsets 0-35: the same request 2 in the middle, new bytes on either side.
    chunks = seg(r, ISN + 1, MODBUS_READ_REQ + MODBUS_READ_REQ_2 + MODBUS_READ_REQ_3, ts=2, frame=22)
    assert chunks == [
        Chunk(0, MODBUS_READ_REQ, 0, 2, 22),
        Chunk(12, MODBUS_READ_REQ_2, 0, 1, 21),
        Chunk(24, MODBUS_READ_REQ_3, 0, 2, 22),
    ]
    assert (stats.overlapping_segments, stats.overlap_conflict_bytes) == (1, 0)


def test_out_of_order_fill_in_delivers_each_segment_with_its_own_frame() -> None:
    r, stats, budget = started()
    assert seg(r, ISN + 25, MODBUS_READ_REQ_3, ts=1, frame=5) == []
    assert seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=2, frame=6) == []
    assert r.buffered_bytes == 24
    assert budget.used == 24
    # The segment that closes the hole makes all three deliverable; each keeps the frame that carried it,
    # as Wireshark attributes a message to the frame holding its last byte.
    chunks = seg(r, ISN + 1, MODBUS_READ_REQ, ts=3, frame=7)
    assert chunks == [
        Chunk(0, MODBUS_READ_REQ, 0, 3, 7),
        Chunk(12, MODBUS_READ_REQ_2, 0, 2, 6),
        Chunk(24, MODBUS_READ_REQ_3, 0, 1, 5),
    ]
    assert stats.out_of_order_segments == 2
    assert stats.gaps == 0
    assert r.buffered_bytes == 0
    assert budget.used == 0


def test_contiguous_data_of_one_segment_stays_one_chunk() -> None:
    r, _, _ = started()
    seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=1, frame=5)
    # A segment over the hole and the kept request: its own bytes are the hole, delivered whole.
    chunks = seg(r, ISN + 1, MODBUS_READ_REQ + MODBUS_READ_REQ_2, ts=2, frame=6)
    assert chunks == [Chunk(0, MODBUS_READ_REQ, 0, 2, 6), Chunk(12, MODBUS_READ_REQ_2, 0, 1, 5)]
    # In order again: a segment ending exactly where buffered data starts is delivered without buffering.
    seg(r, ISN + 37, MODBUS_READ_REQ, ts=3, frame=8)
    chunks = seg(r, ISN + 25, MODBUS_READ_REQ_3, ts=4, frame=9)
    assert chunks == [Chunk(24, MODBUS_READ_REQ_3, 0, 4, 9), Chunk(36, MODBUS_READ_REQ, 0, 3, 8)]


def test_hole_closed_by_ack_becomes_a_gap_chunk() -> None:
    r, stats, _ = started()
    seg(r, ISN + 1, MODBUS_READ_REQ, ts=10, frame=1)
    seg(r, ISN + 25, MODBUS_READ_REQ_3, ts=30, frame=3)  # request 2 was lost by the capture
    # The peer acknowledges through request 3: it got request 2, so the hole is a real loss.
    chunks = r.ack(ISN + 37, ts_ns=44, frame=4)
    # The gap belongs to the ACK's packet; the data held behind it to the segment that carried it.
    assert chunks == [Chunk(12, b"", 12, 44, 4), Chunk(24, MODBUS_READ_REQ_3, 0, 30, 3)]
    assert (stats.gaps, stats.gap_bytes) == (1, 12)
    assert r.buffered_bytes == 0


def test_gap_declared_by_ack_delivers_buffered_segments_with_their_own_frames() -> None:
    # A capture that dropped the first segment: everything after it waits until the peer's ACK proves the hole.
    r, _, budget = started()
    seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=2, frame=2)
    seg(r, ISN + 25, MODBUS_READ_REQ_3, ts=3, frame=3)
    seg(r, ISN + 49, MODBUS_READ_REQ, ts=5, frame=5)  # and a second hole before this one
    chunks = r.ack(ISN + 61, ts_ns=6, frame=6)
    assert chunks == [
        Chunk(0, b"", 12, 6, 6),
        Chunk(12, MODBUS_READ_REQ_2, 0, 2, 2),
        Chunk(24, MODBUS_READ_REQ_3, 0, 3, 3),
        Chunk(36, b"", 12, 6, 6),
        Chunk(48, MODBUS_READ_REQ, 0, 5, 5),
    ]
    assert budget.used == 0


def test_ack_beyond_everything_buffered_declares_each_hole() -> None:
    r, stats, _ = started()
    seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=7, frame=3)
    chunks = r.ack(ISN + 1 + 48)  # no time or frame given: the last packet's are used
    assert chunks == [Chunk(0, b"", 12, 7, 3), Chunk(12, MODBUS_READ_REQ_2, 0, 7, 3), Chunk(24, b"", 24, 7, 3)]
    assert (stats.gaps, stats.gap_bytes) == (2, 36)
    assert r.next_offset == 48


def test_stale_or_early_ack_is_ignored() -> None:
    r, _, _ = make()
    assert r.ack(123) == []  # before any segment: nothing to measure against
    seg(r, ISN, syn=True)
    seg(r, ISN + 1, MODBUS_READ_REQ)
    assert r.ack(ISN + 1) == []
    assert r.ack(ISN + 13) == []


def test_hole_closed_by_byte_limit_is_a_gap_chunk_and_counted() -> None:
    r, stats, budget = started(ReassemblyLimits(max_buffered_per_direction=20))
    assert seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=7, frame=1) == []
    # 24 bytes would be buffered: over the limit, so the stream gives up on the hole at offset 0.
    chunks = seg(r, ISN + 37, MODBUS_READ_REQ_3, ts=8, frame=2)
    assert chunks == [Chunk(0, b"", 12, 8, 2), Chunk(12, MODBUS_READ_REQ_2, 0, 7, 1)]
    assert stats.limit_drops == 1
    assert r.buffered_bytes == 12
    assert budget.used == 12
    # The late data for the given-up hole is dropped as a retransmission.
    assert seg(r, ISN + 1, MODBUS_READ_REQ) == []
    assert stats.retransmitted_bytes == 12


def test_hole_closed_by_segment_limit() -> None:
    r, stats, _ = started(ReassemblyLimits(max_segments_per_direction=2))
    seg(r, ISN + 13, MODBUS_READ_REQ, frame=1)
    seg(r, ISN + 37, MODBUS_READ_REQ_2, frame=2)
    # A third piece: the lowest hole is given up; the second hole remains.
    chunks = seg(r, ISN + 61, MODBUS_READ_REQ_3, frame=3)
    assert chunks == [Chunk(0, b"", 12, 0, 3), Chunk(12, MODBUS_READ_REQ, 0, 0, 1)]
    assert (stats.limit_drops, r.buffered_bytes) == (1, 24)


def test_adjacent_out_of_order_segments_are_separate_pieces_under_the_segment_limit() -> None:
    # Each piece keeps its own frame, so touching segments are not merged and each counts against the limit.
    r, stats, _ = started(ReassemblyLimits(max_segments_per_direction=2))
    seg(r, ISN + 25, MODBUS_READ_REQ_3, frame=3)
    seg(r, ISN + 13, MODBUS_READ_REQ_2, frame=2)  # touches the first piece's left edge
    assert (stats.limit_drops, r.buffered_bytes) == (0, 24)
    chunks = seg(r, ISN + 37, MODBUS_READ_REQ, frame=4)  # touches the right edge: a third piece
    assert chunks == [
        Chunk(0, b"", 12, 0, 4),
        Chunk(12, MODBUS_READ_REQ_2, 0, 0, 2),
        Chunk(24, MODBUS_READ_REQ_3, 0, 0, 3),
        Chunk(36, MODBUS_READ_REQ, 0, 0, 4),
    ]
    assert (stats.limit_drops, r.buffered_bytes) == (1, 0)


def test_single_segment_larger_than_the_byte_limit_is_delivered_after_a_gap() -> None:
    r, stats, _ = started(ReassemblyLimits(max_buffered_per_direction=8))
    assert seg(r, ISN + 13, MODBUS_READ_REQ_2) == [Chunk(0, b"", 12, 0), Chunk(12, MODBUS_READ_REQ_2, 0, 0)]
    assert stats.limit_drops == 1


def test_flush_delivers_buffered_data_with_gap_chunks_and_releases_budget() -> None:
    r, stats, budget = started()
    seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=1, frame=1)
    seg(r, ISN + 37, MODBUS_READ_REQ_3, ts=2, frame=2)
    assert budget.used == 24
    chunks = r.flush(ts_ns=99)
    assert chunks == [
        Chunk(0, b"", 12, 99, 2),
        Chunk(12, MODBUS_READ_REQ_2, 0, 1, 1),
        Chunk(24, b"", 12, 99, 2),
        Chunk(36, MODBUS_READ_REQ_3, 0, 2, 2),
    ]
    assert (stats.gaps, stats.gap_bytes) == (2, 24)
    assert budget.used == 0
    assert r.buffered_bytes == 0
    assert r.finished
    # The stream ended: later bytes are counted and dropped, old ones are retransmissions.
    assert seg(r, ISN + 49, MODBUS_READ_REQ) == []
    assert stats.bytes_after_fin == 12
    assert r.flush() == []


def test_flush_declares_the_gap_up_to_a_known_fin() -> None:
    r, _, _ = started()
    seg(r, ISN + 1, MODBUS_READ_REQ)
    seg(r, ISN + 25, fin=True)  # the FIN says the stream is 24 bytes; 12 were not captured
    assert not r.finished
    assert r.flush() == [Chunk(12, b"", 12, 0)]
    assert r.finished


def test_data_after_fin_is_counted_and_dropped() -> None:
    r, stats, budget = started()
    # Buffered beyond where the FIN will land: trimmed when the FIN arrives.
    seg(r, ISN + 19, MODBUS_READ_REQ_3)
    assert r.buffered_bytes == 12
    assert seg(r, ISN + 1, MODBUS_READ_REQ, fin=True, ts=4) == [Chunk(0, MODBUS_READ_REQ, 0, 4)]
    assert stats.bytes_after_fin == 12
    assert budget.used == 0
    assert r.finished
    # Arriving beyond the FIN, including a second FIN further on: the first FIN wins.
    assert seg(r, ISN + 13, MODBUS_READ_REQ_2, fin=True) == []
    assert stats.bytes_after_fin == 24
    assert r.ack(ISN + 14) == []  # the ACK of the FIN: its sequence number is not data
    assert r.flush() == []


def test_fin_trims_a_buffered_piece_that_it_cuts_and_the_rest_keeps_its_frame() -> None:
    r, stats, budget = started()
    seg(r, ISN + 7, MODBUS_READ_REQ_2, ts=1, frame=1)  # offsets 6-17
    # The FIN lands at offset 12: the piece's last 6 bytes are after it; its first 6 are kept over this segment's.
    chunks = seg(r, ISN + 1, MODBUS_READ_REQ, fin=True, ts=2, frame=2)
    assert chunks == [Chunk(0, MODBUS_READ_REQ[:6], 0, 2, 2), Chunk(6, MODBUS_READ_REQ_2[:6], 0, 1, 1)]
    assert (stats.bytes_after_fin, budget.used) == (6, 0)
    assert r.finished


def test_fin_drops_an_piece_starting_exactly_at_it() -> None:
    r, stats, budget = started()
    seg(r, ISN + 13, MODBUS_READ_REQ_2)
    seg(r, ISN + 13, fin=True)  # out of order: the stream is 12 bytes, none captured yet
    assert (r.buffered_bytes, budget.used, stats.bytes_after_fin) == (0, 0, 12)
    assert r.flush() == [Chunk(0, b"", 12, 0)]


def test_fin_before_delivered_data_is_ignored() -> None:
    r, stats, _ = started()
    seg(r, ISN + 1, MODBUS_READ_REQ)
    seg(r, ISN + 5, fin=True)  # would end the stream inside bytes already delivered
    assert not r.finished
    assert seg(r, ISN + 13, MODBUS_READ_REQ_2) == [Chunk(12, MODBUS_READ_REQ_2, 0, 0)]
    assert stats.bytes_after_fin == 0


def test_rst_ends_the_stream_and_its_payload_is_not_data() -> None:
    r, stats, budget = started()
    seg(r, ISN + 13, MODBUS_READ_REQ_2, ts=5, frame=5)
    chunks = seg(r, ISN + 1, b"connection reset", rst=True, ts=6, frame=6)
    assert chunks == [Chunk(0, b"", 12, 6, 6), Chunk(12, MODBUS_READ_REQ_2, 0, 5, 5)]
    assert r.finished
    assert budget.used == 0
    assert stats.bytes_delivered == 12


def test_rst_before_any_segment_does_not_start_the_stream() -> None:
    r, _, _ = make()
    assert seg(r, 77, rst=True) == []
    assert seg(r, ISN, syn=True) == []
    assert seg(r, ISN + 1, MODBUS_READ_REQ) == [Chunk(0, MODBUS_READ_REQ, 0, 0)]


def test_budget_shared_across_two_streams_bounds_the_total() -> None:
    limits = ReassemblyLimits(max_total_buffered=30)
    budget = ReassemblyBudget(limits.max_total_buffered)
    stats = ReassemblyStats()  # shared too: counters aggregate over streams
    a = StreamReassembler(limits, budget, stats)
    b = StreamReassembler(limits, budget, stats)
    seg(a, ISN, syn=True)
    seg(b, 9_000, syn=True)
    seg(a, ISN + 13, MODBUS_READ_REQ_2)
    seg(a, ISN + 37, MODBUS_READ_REQ_3)
    assert budget.used == 24
    # Stream b wants 12 more bytes; only 6 are left, so b gives up its own lowest hole.
    chunks = seg(b, 9_013, MODBUS_READ_REQ)
    assert chunks == [Chunk(0, b"", 12, 0), Chunk(12, MODBUS_READ_REQ, 0, 0)]
    assert stats.limit_drops == 1
    assert budget.used == 24
    assert a.buffered_bytes == 24
    assert b.buffered_bytes == 0
    a.flush()
    assert budget.used == 0


def test_budget_rejects_what_does_not_fit_and_over_release() -> None:
    budget = ReassemblyBudget(10)
    assert budget.reserve(8)
    assert not budget.reserve(3)
    assert budget.used == 8
    budget.release(8)
    with pytest.raises(ValueError):
        budget.release(1)


def test_budget_peak_counts_what_was_asked_for_since_the_last_reset() -> None:
    """``events --workers`` adds the workers' peaks: at most the capacity means no stream was refused."""
    budget = ReassemblyBudget(10)
    assert budget.reserve(6) and budget.peak == 6
    budget.release(6)
    assert budget.peak == 6  # the most held at once, not what is held now
    assert not budget.reserve(11)
    assert budget.peak == 11 > budget.capacity  # a refusal shows
    budget.reset_peak()
    assert budget.peak == 0
    assert budget.reserve(4) and budget.peak == 4


def test_segment_takes_the_flags_as_the_tcp_header_has_them() -> None:
    r, _, _ = make()
    th_ack_psh = 0x18
    assert r.segment(ISN, b"", 0x02 | 0x10, 1, 1) == []  # SYN+ACK
    assert r.segment(ISN + 1, MODBUS_READ_REQ, th_ack_psh, 2, 2) == [Chunk(0, MODBUS_READ_REQ, 0, 2, 2)]
    assert r.segment(ISN + 13, b"", 0x01 | 0x10, 3, 3) == []  # FIN+ACK
    assert r.finished


@pytest.mark.parametrize(
    "field", ["max_buffered_per_direction", "max_segments_per_direction", "max_total_buffered"]
)
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ConfigError):
        ReassemblyLimits(**{field: 0})


def test_memoryview_payload_is_copied() -> None:
    r, _, _ = started()
    buf = bytearray(MODBUS_READ_REQ_2)
    seg(r, ISN + 13, memoryview(buf))
    buf[:] = bytes(12)  # the capture buffer is reused: buffered data must not change
    chunks = seg(r, ISN + 1, memoryview(MODBUS_READ_REQ))
    assert chunks == [Chunk(0, MODBUS_READ_REQ + MODBUS_READ_REQ_2, 0, 0)]


# Properties. A stream is cut into segments, optionally with extra same-content segments over
# random ranges (retransmissions and overlaps), delivered in a random order.


@st.composite
def segmented_streams(draw: st.DrawFn) -> tuple[bytes, int, list[tuple[int, int]]]:
    data = draw(st.binary(min_size=1, max_size=2_000))
    # Half the time, start just below 2**32 so the stream wraps.
    isn = draw(st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - len(data) - 2, 2**32 - 1)))
    cuts = draw(st.lists(st.integers(1, len(data)), max_size=30)) if len(data) > 1 else []
    bounds = sorted({0, len(data), *cuts})
    ranges = list(pairwise(bounds))
    extras = draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 300)), max_size=10))
    ranges += [(a, min(len(data), a + n)) for a, n in extras]
    return data, isn, draw(st.permutations(ranges))


def check_contiguous(chunks: list[Chunk]) -> None:
    offset = 0
    for chunk in chunks:
        assert chunk.offset == offset
        assert (chunk.gap == 0) != (chunk.data == b"")  # exactly one of data or gap
        offset += chunk.gap + len(chunk.data)


class Carriers:
    """Which segment (frame, time) first carried each stream offset, as the test sends them."""

    def __init__(self) -> None:
        self.first: dict[int, tuple[int, int]] = {}

    def sent(self, offset: int, nbytes: int, frame: int, ts: int) -> None:
        for k in range(offset, offset + nbytes):
            self.first.setdefault(k, (frame, ts))

    def check(self, chunks: list[Chunk]) -> None:
        """Every data chunk carries the frame and time of the segment that first carried each of its bytes."""
        for c in chunks:
            for k in range(c.offset, c.offset + len(c.data)):
                assert self.first[k] == (c.frame, c.ts_ns), (k, c)


@given(segmented_streams(), st.integers(0, 40))
def test_property_shuffled_duplicated_segments_reassemble_exactly(
    stream: tuple[bytes, int, list[tuple[int, int]]], fin_at: int
) -> None:
    data, isn, ranges = stream
    r, stats, budget = make()
    carriers = Carriers()
    chunks = seg(r, isn, syn=True)
    for i, (a, b) in enumerate(ranges):
        if i == fin_at:
            chunks += seg(r, isn + 1 + len(data), fin=True, ts=-1, frame=-1)
        chunks += seg(r, isn + 1 + a, data[a:b], ts=10 * i, frame=i + 1)
        carriers.sent(a, b - a, i + 1, 10 * i)
    chunks += r.flush()
    check_contiguous(chunks)
    carriers.check(chunks)
    assert b"".join(c.data for c in chunks) == data
    assert all(c.gap == 0 for c in chunks)
    assert stats.gaps == stats.limit_drops == stats.overlap_conflict_bytes == stats.bytes_after_fin == 0
    assert stats.bytes_delivered == len(data)
    assert budget.used == 0


@given(
    segmented_streams(),
    st.data(),
    st.integers(1, 2_000),
    st.integers(1, 8),
    st.integers(0, 2_000),
)
@settings(max_examples=150)
def test_property_lost_segments_become_gaps_that_account_for_the_stream(
    stream: tuple[bytes, int, list[tuple[int, int]]],
    draws: st.DataObject,
    max_bytes: int,
    max_segments: int,
    capacity: int,
) -> None:
    data, isn, ranges = stream
    limits = ReassemblyLimits(max_buffered_per_direction=max_bytes, max_segments_per_direction=max_segments)
    budget = ReassemblyBudget(capacity)
    r = StreamReassembler(limits, budget, ReassemblyStats())
    carriers = Carriers()
    chunks = seg(r, isn, syn=True)
    frame = 0

    def took(new: list[Chunk]) -> None:
        # Gap chunks belong to the call that declared them; data chunks are checked against their carriers.
        assert all(c.frame == frame and c.ts_ns == 10 * frame for c in new if c.gap)
        chunks.extend(new)

    for a, b in ranges:
        if draws.draw(st.booleans(), label="lost"):
            continue
        frame += 1
        took(seg(r, isn + 1 + a, data[a:b], ts=10 * frame, frame=frame))
        carriers.sent(a, b - a, frame, 10 * frame)
        if draws.draw(st.integers(0, 3), label="ack") == 0:  # the peer acks what it has received
            frame += 1
            took(r.ack(isn + 1 + draws.draw(st.integers(0, len(data)), label="ack_no"), ts_ns=10 * frame,
                       frame=frame))
        assert r.buffered_bytes <= max_bytes
        assert r.buffered_segments <= max_segments
        assert budget.used <= capacity
    frame += 1
    took(seg(r, isn + 1 + len(data), fin=True, ts=10 * frame, frame=frame))  # the FIN is captured: length known
    took(r.flush())  # without a time or frame: the FIN's
    check_contiguous(chunks)
    carriers.check(chunks)
    assert sum(c.gap + len(c.data) for c in chunks) == len(data)
    for c in chunks:
        assert c.data == data[c.offset : c.offset + len(c.data)]
    assert budget.used == 0


@given(
    st.lists(st.tuples(st.integers(0, 60), st.binary(min_size=1, max_size=20)), max_size=20),
    st.binary(min_size=60, max_size=60),
)
def test_property_first_received_byte_wins_at_every_offset(
    segments: list[tuple[int, bytes]], base: bytes
) -> None:
    # Segments with arbitrary (conflicting) content, then one covering the whole 60-byte stream.
    r, stats, _ = make()
    carriers = Carriers()
    chunks = seg(r, ISN, syn=True)
    expected: dict[int, int] = {}
    for n, (off, payload) in enumerate([*segments, (0, base)], start=1):
        payload = payload[: 60 - off]
        chunks += seg(r, ISN + 1 + off, payload, ts=n, frame=n)
        carriers.sent(off, len(payload), n, n)
        for i, byte in enumerate(payload):
            expected.setdefault(off + i, byte)
    chunks += r.flush()
    check_contiguous(chunks)
    carriers.check(chunks)
    assert b"".join(c.data for c in chunks) == bytes(expected[i] for i in range(60))
    assert stats.gaps == 0

"""TCP stream reassembly for one direction of one connection, bounded in memory.

It runs only for flows an application analyzer asked for, at message level, so it is plain Python.
The caller (the flow table) feeds every segment of the direction to ``add`` and the peer's ACK
numbers to ``ack``, and calls ``flush`` when the flow ends. Each call returns the ``Chunk``s that
became deliverable, in stream order; their offsets are contiguous from 0 over the stream's life.

The defined behaviour (tests pin every rule):

- **Offsets.** Sequence numbers are 32-bit and wrap; each is unwrapped against the next byte to
  deliver (within +/- 2**31), so offsets are unbounded ints. A SYN consumes one sequence number (the
  ISN), so offset 0 is ISN + 1. A stream picked up mid-connection (first segment without SYN) starts
  at the first sequence number seen; bytes before it are treated as already delivered.
- **Delivered data is final.** Bytes before the delivery point are never changed or re-delivered;
  a segment carrying any is counted in ``retransmitted_segments``/``retransmitted_bytes`` and only
  its new tail is used. Delivered bytes are not kept, so they cannot be checked for conflicts.
- **Overlaps: first received wins**, as Wireshark's "Follow TCP stream" shows. A segment that
  overlaps buffered out-of-order data only fills the holes; overlapped bytes whose content differs
  from what was kept are counted in ``overlap_conflict_bytes`` (an evasion signal).
- **Out-of-order data** is buffered as pieces: a piece is the new bytes of one segment (a segment
  that fills several holes between kept bytes makes several pieces) with that segment's frame
  number and packet time. The direction holds at most ``max_buffered_per_direction`` bytes in at
  most ``max_segments_per_direction`` pieces while the shared ``ReassemblyBudget`` grants the
  bytes. When a limit bites, the stream gives up on the lowest hole: it delivers a gap chunk up to
  the lowest buffered piece, delivers from there, and repeats until within limits (``limit_drops``
  counts each hole given up). Data is never glued across a hole: every hole is a gap chunk. Late
  data for a hole already declared is dropped as a retransmission.
- **ACKs.** When the peer acknowledges bytes beyond the delivery point, they were sent but not
  captured: the stream declares a gap up to min(ack, lowest buffered offset), delivers what follows,
  and repeats until the ack is reached.
- **FIN** marks the end at the offset after its payload; the first FIN wins, and a FIN before data
  already delivered is ignored. Bytes at or beyond the end (buffered or arriving) are counted in
  ``bytes_after_fin`` and dropped.
- **RST** payload is diagnostic text, not stream data (RFC 9293 3.5.3), and is ignored; a RST ends
  the stream as ``flush`` does. Judging whether a RST is genuine (in window) needs both directions:
  that is the flow table's job, which passes ``rst=False`` for one it rejects.
- **flush** delivers everything buffered with gap chunks for the holes (and up to the FIN, if the
  end is known), releases the budget, and ends the stream: later bytes count as after-FIN.
- **Attribution.** A data chunk carries the frame number and packet time of the segment that
  carried its bytes, as Wireshark attributes a message to the frame holding its last byte: buffered
  data delivered at once is split at segment ends (one segment's contiguous bytes stay one chunk),
  so chunks of one call may go back in frame order. A gap chunk carries the frame and time of the
  call that declared it (for ``ack``/``flush`` without them, the last this stream saw).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import NamedTuple

from zonewarden.errors import ConfigError

_SEQ_MOD = 1 << 32
_SEQ_HALF = 1 << 31
# TCP header flag bits, as ``segment`` takes them.
TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10
_CONTROL = TH_FIN | TH_SYN | TH_RST


@dataclass(frozen=True, slots=True)
class ReassemblyLimits:
    """Memory bounds; an attacker controls how much out-of-order data arrives.

    A "segment" here is a buffered piece: the part of a received segment that was new, kept with its
    frame number and time. Bounding them bounds that metadata, the holes tracked and the list work.
    """

    max_buffered_per_direction: int = 1 << 20
    max_segments_per_direction: int = 4096
    max_total_buffered: int = 256 << 20

    def __post_init__(self) -> None:
        for name in ("max_buffered_per_direction", "max_segments_per_direction", "max_total_buffered"):
            if getattr(self, name) < 1:
                raise ConfigError(f"reassembly limit {name} must be at least 1, got {getattr(self, name)}")


class ReassemblyBudget:
    """Bytes of out-of-order data held by all streams together, so total memory is bounded.

    Build one per flow table with ``ReassemblyBudget(limits.max_total_buffered)`` and hand it to
    every ``StreamReassembler``.
    """

    __slots__ = ("_capacity", "_peak", "_used")

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ConfigError(f"reassembly budget must not be negative, got {capacity}")
        self._capacity = capacity
        self._used = 0
        self._peak = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def used(self) -> int:
        return self._used

    @property
    def peak(self) -> int:
        """The most bytes held, or asked for, at once since the last ``reset_peak`` (or since the start): a
        refused reservation counts what it asked for, so ``peak <= capacity`` means nothing was refused."""
        return self._peak

    def reset_peak(self) -> None:
        self._peak = self._used

    def reserve(self, nbytes: int) -> bool:
        """Take ``nbytes`` if all of them fit; otherwise take nothing and return False."""
        if nbytes < 0:
            raise ValueError(f"cannot reserve {nbytes} bytes")
        wanted = self._used + nbytes
        self._peak = max(self._peak, wanted)
        if wanted > self._capacity:
            return False
        self._used = wanted
        return True

    def release(self, nbytes: int) -> None:
        # Releasing more than was reserved is a bookkeeping bug; fail loudly rather than drift.
        if nbytes < 0 or nbytes > self._used:
            raise ValueError(f"cannot release {nbytes} bytes, {self._used} in use")
        self._used -= nbytes


@dataclass(slots=True)
class ReassemblyStats:
    """Counters; one instance may be shared by many streams to aggregate them."""

    segments: int = 0
    bytes_delivered: int = 0
    retransmitted_segments: int = 0
    retransmitted_bytes: int = 0
    overlapping_segments: int = 0
    overlap_conflict_bytes: int = 0
    out_of_order_segments: int = 0
    gaps: int = 0
    gap_bytes: int = 0
    limit_drops: int = 0
    bytes_after_fin: int = 0


class Chunk(NamedTuple):
    """In-order stream content: ``data`` at ``offset``, or a hole of ``gap`` bytes (``data`` empty).

    A named tuple rather than a frozen dataclass: one is made per delivered segment, and a tuple is built
    several times faster."""

    offset: int
    data: bytes
    gap: int
    ts_ns: int
    frame: int = 0  # frame (as Wireshark counts) of the segment that carried the data, or that declared the gap


def _count_differing(kept: bytes | bytearray, new: bytes | bytearray) -> int:
    """Number of byte positions where two equal-length strings differ, at C speed."""
    if kept == new:
        return 0
    xor = int.from_bytes(kept, "big") ^ int.from_bytes(new, "big")
    return len(kept) - xor.to_bytes(len(kept), "big").count(0)


class _Output:
    """Collects one call's deliveries, merging contiguous data of one segment into one chunk (joined once)."""

    __slots__ = ("_chunks", "_data_frame", "_data_ts_ns", "_frame", "_parts", "_start", "_ts_ns")

    def __init__(self, ts_ns: int, frame: int) -> None:
        self._ts_ns = ts_ns  # for gap chunks: the call's packet
        self._frame = frame
        self._chunks: list[Chunk] = []
        self._parts: list[bytes] = []
        self._start = 0
        self._data_ts_ns = 0  # the segment the open data chunk comes from
        self._data_frame = 0

    def data(self, offset: int, data: bytes, ts_ns: int, frame: int) -> None:
        if self._parts and (frame != self._data_frame or ts_ns != self._data_ts_ns):
            self._close_data()
        if not self._parts:
            self._start = offset
            self._data_ts_ns = ts_ns
            self._data_frame = frame
        self._parts.append(data)

    def gap(self, offset: int, nbytes: int) -> None:
        self._close_data()
        self._chunks.append(Chunk(offset, b"", nbytes, self._ts_ns, self._frame))

    def result(self) -> list[Chunk]:
        self._close_data()
        return self._chunks

    def _close_data(self) -> None:
        if self._parts:
            self._chunks.append(Chunk(self._start, b"".join(self._parts), 0, self._data_ts_ns, self._data_frame))
            self._parts = []


# A buffered piece: (data, packet time, frame number) of the segment that carried it.
_Piece = tuple[bytes, int, int]


class StreamReassembler:
    """One direction of one TCP connection; see the module docstring for the defined behaviour."""

    def __init__(self, limits: ReassemblyLimits, budget: ReassemblyBudget, stats: ReassemblyStats) -> None:
        self._limits = limits
        self._budget = budget
        self._stats = stats
        self._base: int | None = None  # sequence number (mod 2**32) of offset 0; None until started
        self._next = 0  # offset of the next byte to deliver
        self._end: int | None = None  # offset of the FIN, or where flush/RST ended the stream
        # Buffered out-of-order pieces: sorted by start, disjoint (they may touch), non-empty, beyond self._next.
        self._starts: list[int] = []
        self._pieces: list[_Piece] = []
        self._buffered = 0
        self._reserved = 0  # bytes of self._budget this stream holds
        self._last_ts_ns = 0
        self._last_frame = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes of out-of-order data held."""
        return self._buffered

    @property
    def buffered_segments(self) -> int:
        """Pieces of out-of-order data held, each with its segment's frame and time."""
        return len(self._starts)

    @property
    def next_offset(self) -> int:
        """Offset of the next byte to deliver (everything before it was delivered or declared a gap)."""
        return self._next

    @property
    def finished(self) -> bool:
        """True once the stream ended (FIN reached, RST or flush) and everything before was delivered."""
        return self._end is not None and self._next >= self._end

    def add(
        self, seq: int, payload: bytes | memoryview, *, syn: bool, fin: bool, rst: bool, ts_ns: int,
        frame: int = 0,
    ) -> list[Chunk]:
        """Take one segment of this direction; return the chunks that became deliverable."""
        flags = (TH_SYN if syn else 0) | (TH_FIN if fin else 0) | (TH_RST if rst else 0)
        return self.segment(seq, payload, flags, ts_ns, frame)

    def segment(self, seq: int, payload: bytes | memoryview, flags: int, ts_ns: int, frame: int) -> list[Chunk]:
        """``add`` with the segment's TCP flags as the header carries them (bits other than SYN, FIN and RST
        are ignored): the per-packet entry of the pipeline, positional and without decoding flags."""
        stats = self._stats
        stats.segments += 1
        self._last_ts_ns = ts_ns
        self._last_frame = frame
        base = self._base
        if (base is not None and not (flags & _CONTROL or self._starts) and self._end is None and payload
                and (seq - base - self._next) % _SEQ_MOD == 0):
            # The common case, in order with nothing buffered: deliver without the general machinery.
            data = bytes(payload)
            offset = self._next
            self._next += len(data)
            stats.bytes_delivered += len(data)
            return [Chunk(offset, data, 0, ts_ns, frame)]
        syn, fin, rst = flags & TH_SYN, flags & TH_FIN, flags & TH_RST
        data_seq = seq + 1 if syn else seq  # the SYN occupies the ISN; data follows it
        if self._base is None:
            if rst:
                return []  # nothing to end yet; a stream starts at a real segment
            self._base = data_seq % _SEQ_MOD
        if rst:
            return self.flush(ts_ns=ts_ns, frame=frame)
        off = first = self._offset(data_seq)
        end = off + len(payload)
        if fin:
            self._set_end(end)
        if self._end is not None and end > self._end:
            cut = max(off, self._end)
            stats.bytes_after_fin += end - cut
            end = cut
        if off < self._next:
            old = min(end, self._next) - off
            if old > 0:
                stats.retransmitted_segments += 1
                stats.retransmitted_bytes += old
                off += old
        if end <= off:
            return []
        data = bytes(payload[off - first : end - first])
        out = _Output(ts_ns, frame)
        if off > self._next:
            stats.out_of_order_segments += 1
        if off == self._next and (not self._starts or self._starts[0] >= end):
            self._deliver(out, (data, ts_ns, frame))  # in order and overlapping nothing buffered: skip the buffer
            if self._starts and self._starts[0] == self._next:
                self._drain(out)
                self._sync_budget()
        else:
            self._insert(off, (data, ts_ns, frame))
            self._drain(out)
            self._enforce_limits(out)
        return out.result()

    def ack(self, ack_no: int, *, ts_ns: int | None = None, frame: int | None = None) -> list[Chunk]:
        """Take the peer's ACK number; bytes it acknowledges that we never saw become a gap.

        ``ts_ns`` and ``frame`` are those of the packet carrying the ACK, for the gap chunks.
        """
        if self._base is None:
            return []
        if ts_ns is not None:
            self._last_ts_ns = ts_ns
        if frame is not None:
            self._last_frame = frame
        diff = (ack_no - self._base - self._next) % _SEQ_MOD  # as _offset unwraps it
        if diff == 0 or diff >= _SEQ_HALF:
            return []  # the usual case: it acknowledges nothing beyond the delivery point
        target = self._next + diff
        if self._end is not None:
            target = min(target, self._end)  # the FIN's own sequence number is not data
        if target <= self._next:
            return []
        out = _Output(self._last_ts_ns, self._last_frame)
        while self._next < target:  # progress: each pass moves self._next forward
            self._gap_to(min(target, self._starts[0]) if self._starts else target, out)
            self._drain(out)
        self._sync_budget()
        return out.result()

    def flush(self, *, ts_ns: int | None = None, frame: int | None = None) -> list[Chunk]:
        """End the stream: deliver everything buffered with gap chunks for the holes, free the budget."""
        if self._base is None:
            return []
        out = _Output(self._last_ts_ns if ts_ns is None else ts_ns, self._last_frame if frame is None else frame)
        while self._starts:  # progress: each pass drains at least one piece
            self._gap_to(self._starts[0], out)
            self._drain(out)
        if self._end is not None:
            self._gap_to(self._end, out)
        self._end = self._next
        self._sync_budget()
        return out.result()

    def _offset(self, seq: int) -> int:
        """Unwrap a 32-bit sequence number to the stream offset nearest the delivery point."""
        assert self._base is not None
        diff = (seq - self._base - self._next) % _SEQ_MOD
        if diff >= _SEQ_HALF:
            diff -= _SEQ_MOD
        return self._next + diff

    def _set_end(self, end: int) -> None:
        if self._end is not None or end < self._next:
            return
        self._end = end
        # Drop buffered bytes at or beyond the FIN; pieces are sorted, so they are a suffix.
        starts, pieces = self._starts, self._pieces
        i = bisect_left(starts, end)
        dropped = sum(len(p[0]) for p in pieces[i:])
        del starts[i:], pieces[i:]
        if i:
            data, ts_ns, frame = pieces[-1]
            over = starts[-1] + len(data) - end
            if over > 0:  # less than the piece: it starts before end
                pieces[-1] = (data[:-over], ts_ns, frame)
                dropped += over
        self._buffered -= dropped
        self._stats.bytes_after_fin += dropped
        self._sync_budget()

    def _deliver(self, out: _Output, piece: _Piece) -> None:
        data = piece[0]
        out.data(self._next, data, piece[1], piece[2])
        self._next += len(data)
        self._stats.bytes_delivered += len(data)

    def _gap_to(self, target: int, out: _Output) -> None:
        nbytes = target - self._next
        if nbytes > 0:
            out.gap(self._next, nbytes)
            self._next = target
            self._stats.gaps += 1
            self._stats.gap_bytes += nbytes

    def _drain(self, out: _Output) -> None:
        """Deliver the buffered pieces that continue from the delivery point, each with its own segment's frame."""
        starts, pieces = self._starts, self._pieces
        k = 0
        while k < len(starts) and starts[k] == self._next:
            self._buffered -= len(pieces[k][0])
            self._deliver(out, pieces[k])
            k += 1
        if k:
            del starts[:k], pieces[:k]

    def _insert(self, off: int, piece: _Piece) -> None:
        """Buffer ``piece`` at ``off`` (>= self._next) where nothing is buffered yet: first received wins."""
        starts, pieces = self._starts, self._pieces
        data, ts_ns, frame = piece
        end = off + len(data)
        # The pieces overlapping [off, end): kept as they are, the new data fills the holes between them.
        lo = bisect_right(starts, off)
        if lo and starts[lo - 1] + len(pieces[lo - 1][0]) > off:
            lo -= 1
        hi = bisect_left(starts, end, lo)
        if lo == hi:  # overlaps nothing (the usual case): one new piece
            starts.insert(lo, off)
            pieces.insert(lo, piece)
            self._buffered += len(data)
            return
        new_starts: list[int] = []
        new_pieces: list[_Piece] = []
        added = conflicts = 0
        cursor = off
        for j in range(lo, hi):
            start, kept = starts[j], pieces[j][0]
            if cursor < start:
                new_starts.append(cursor)
                new_pieces.append((data[cursor - off : start - off], ts_ns, frame))
                added += start - cursor
            a, b = max(cursor, start), min(end, start + len(kept))
            conflicts += _count_differing(kept[a - start : b - start], data[a - off : b - off])
            new_starts.append(start)
            new_pieces.append(pieces[j])
            cursor = start + len(kept)  # pieces are sorted and disjoint, and the first reaches past off
        if cursor < end:
            new_starts.append(cursor)
            new_pieces.append((data[cursor - off :], ts_ns, frame))
            added += end - cursor
        starts[lo:hi] = new_starts
        pieces[lo:hi] = new_pieces
        self._buffered += added
        self._stats.overlapping_segments += 1
        self._stats.overlap_conflict_bytes += conflicts

    def _enforce_limits(self, out: _Output) -> None:
        limits = self._limits
        while self._starts and (  # progress: each pass drains at least one piece
            self._buffered > limits.max_buffered_per_direction
            or len(self._starts) > limits.max_segments_per_direction
            or not self._sync_budget()
        ):
            self._stats.limit_drops += 1
            self._gap_to(self._starts[0], out)
            self._drain(out)
        self._sync_budget()

    def _sync_budget(self) -> bool:
        """Make the budget share match the bytes held; False if the shared budget cannot grant more."""
        delta = self._buffered - self._reserved
        if delta > 0:
            if not self._budget.reserve(delta):
                return False
        elif delta < 0:
            self._budget.release(-delta)
        self._reserved = self._buffered
        return True

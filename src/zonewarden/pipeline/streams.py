"""TCP stream reassembly as a pipeline consumer: segments of selected flows in, ordered chunks out.

With the fast lane (fastlane.py) some segments never get here: ``packets`` takes its ``LaneChunk``, skips
the packets it consumed, hands the PDUs it handed off to ``handoff`` in packet order, and picks a flow up
where the lane left it (the next sequence number and pending ACK of each direction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from zonewarden.flow.table import FlowAttribution
from zonewarden.flow.tcp_reassembly import (
    TH_ACK,
    TH_FIN,
    TH_RST,
    TH_SYN,
    Chunk,
    ReassemblyBudget,
    ReassemblyLimits,
    ReassemblyStats,
    StreamReassembler,
)
from zonewarden.model.packets import PacketBatch
from zonewarden.pipeline.fastlane import LaneChunk
from zonewarden.pipeline.fastlane_layout import LANE_CONSUMED, LANE_HANDOFF, LANE_SLOW

# (flow uid, direction 0=orig 1=resp, chunks in stream order)
ChunkSink = Callable[[int, int, list[Chunk]], None]
# (batch, packet index, direction, payload) -> reassemble this connection? None: not yet known
# (asked again at the next packet, e.g. to look at the first payload).
StreamSelector = Callable[[PacketBatch, int, int, bytes], bool | None]
# (batch, packet index, flow uid, direction): the fast lane handed PDUs of this packet off (LaneChunk.runs_of).
HandoffSink = Callable[[PacketBatch, int, int, int], None]
# (batch, packet index, direction) -> may this new flow's opening (SYNs without payload) wait for its first
# data before ``select`` is asked? Only for flows ``select`` takes whatever the payload (by port, say).
OpeningWaits = Callable[[PacketBatch, int, int], bool]

MAX_WAITING = 8  # opening segments (a SYN, its retransmissions, the SYN-ACK) a flow holds before its first data
# An opening segment held for replay: (direction, flags, seq, ack, ts_ns, frame).
_Held = tuple[int, int, int, int, int, int]


@dataclass
class _Connection:
    sides: tuple[StreamReassembler, StreamReassembler]
    # Highest ACK each side has received from its peer, applied only after that side's next segment:
    # on a SPAN port an ACK can be captured just before the data it acknowledges.
    pending_ack: list[int | None] = field(default_factory=lambda: [None, None])


class TcpStreams:
    """Reassembles both directions of the TCP flows ``select`` accepts and hands chunks to ``sink``.

    With ``wait``, the opening of a flow it claims (SYNs and SYN-ACKs without payload) is held, not fed:
    the connection, and whatever ``select`` builds for it, is made at the flow's first other segment, which
    gets the held ones replayed before it, so the chunks are the same. A flow that ends having only opened
    (a SYN flood's forged connections) never costs more than its held segments."""

    def __init__(self, sink: ChunkSink, select: StreamSelector | None = None,
                 limits: ReassemblyLimits | None = None, handoff: HandoffSink | None = None,
                 wait: OpeningWaits | None = None) -> None:
        self.sink = sink
        self.select = select
        self.handoff = handoff
        self.wait = wait
        self.limits = limits or ReassemblyLimits()
        self.budget = ReassemblyBudget(self.limits.max_total_buffered)
        self.stats = ReassemblyStats()
        self._conns: dict[int, _Connection] = {}
        self._ignored: set[int] = set()
        self._held: dict[int, list[_Held]] = {}

    def packets(self, pk: PacketBatch, flows: FlowAttribution, lane: LaneChunk | None = None) -> None:
        uid, direction = flows.uid, flows.direction
        # Pure ACKs carry nothing to reassemble; the ACK numbers that matter for gap detection ride on
        # the data segments too, so skipping them halves the per-segment work of request/response traffic.
        carries = (pk.l4_len > 0) | ((pk.tcp_flags & (TH_SYN | TH_FIN | TH_RST)) != 0)
        wanted = (pk.proto == 6) & (uid >= 0) & (pk.err == 0) & carries
        if lane is not None:
            wanted &= lane.status != LANE_CONSUMED
        idx = np.flatnonzero(wanted)
        if idx.shape[0] == 0:
            return
        status = lane.status[idx].tolist() if lane is not None else [0] * idx.shape[0]
        fr = pk.frames
        data = fr.data.data  # the array's memoryview: it slices at half the cost of the array
        rows = zip(
            fr.frame_numbers()[idx].tolist(), idx.tolist(), uid[idx].tolist(), direction[idx].tolist(),
            pk.tcp_flags[idx].tolist(),
            pk.seq[idx].tolist(), pk.ack[idx].tolist(), pk.l4_off[idx].tolist(), pk.l4_len[idx].tolist(),
            fr.ts_ns[idx].tolist(), status, strict=True,
        )
        conns, held_by_flow = self._conns, self._held
        for number, i, u, d, flags, seq, ack, off, length, ts, st in rows:
            if st in (LANE_HANDOFF, LANE_SLOW):
                assert self.handoff is not None
                self.handoff(pk, i, u, d)  # (a flow the lane gives up first gets the frames it kept)
                if st == LANE_HANDOFF:
                    continue
            conn = conns.get(u)
            payload = data[off : off + length].tobytes()
            if conn is None:
                if u in self._ignored:
                    continue
                held = held_by_flow.get(u)
                if not length and not st and not flags & (TH_FIN | TH_RST):  # an opening segment
                    if held is not None and len(held) < MAX_WAITING:
                        held.append((d, flags, seq, ack, ts, number))
                        continue
                    if held is None and self.wait is not None and self.wait(pk, i, d):
                        held_by_flow[u] = [(d, flags, seq, ack, ts, number)]
                        continue
                if self.select is not None:
                    decision = self.select(pk, i, d, payload)
                    if decision is None:
                        continue
                    if not decision:
                        held_by_flow.pop(u, None)
                        self._ignored.add(u)
                        continue
                conn = _Connection((self._side(), self._side()))
                conns[u] = conn
                if held is not None:  # the opening, as it came
                    del held_by_flow[u]
                    for hd, hflags, hseq, hack, hts, hnumber in held:
                        self._segment(conn, u, hd, hflags, hseq, hack, b"", hts, hnumber)
                elif st == LANE_SLOW:
                    assert lane is not None
                    self._resume(conn, lane.seeds(i), ts, number)
            self._segment(conn, u, d, flags, seq, ack, payload, ts, number)

    def _segment(self, conn: _Connection, u: int, d: int, flags: int, seq: int, ack: int, payload: bytes, ts: int,
                 number: int) -> None:
        """One segment of flow ``u`` in direction ``d``: its chunks to the sink, its ACK to the other side."""
        side = conn.sides[d]
        chunks = side.segment(seq, payload, flags, ts, number)
        pending = conn.pending_ack[d]
        if pending is not None:
            chunks += side.ack(pending, ts_ns=ts, frame=number)
            conn.pending_ack[d] = None
        if chunks:
            self.sink(u, d, chunks)
        if flags & TH_ACK:
            other = conn.sides[1 - d]
            if other.buffered_bytes:
                # Data after a hole is already held, so this ACK cannot be racing the data it
                # acknowledges: the hole is real capture loss, declare it now and deliver what follows.
                late = other.ack(ack, ts_ns=ts, frame=number)
                if late:
                    self.sink(u, 1 - d, late)
            else:
                conn.pending_ack[1 - d] = ack

    @staticmethod
    def _resume(conn: _Connection, seeds: list[tuple[bool, int, bool, int | None]], ts: int, frame: int) -> None:
        """Start both directions where the fast lane stopped: everything before was delivered."""
        for d, (started, seq, ended, pending) in enumerate(seeds):
            side = conn.sides[d]
            if started:
                # A SYN takes the sequence number before the next byte: offset 0 is then ``seq``.
                side.add((seq - 1) % (1 << 32), b"", syn=True, fin=False, rst=False, ts_ns=ts, frame=frame)
                if ended:
                    side.add(seq, b"", syn=False, fin=True, rst=False, ts_ns=ts, frame=frame)
            conn.pending_ack[d] = pending

    def ignore(self, uid: int) -> None:
        """Stop reassembling a flow (its analyzer handed it back); its buffers are released."""
        self._held.pop(uid, None)
        conn = self._conns.pop(uid, None)
        if conn is not None:
            for side in conn.sides:
                side.flush()
        self._ignored.add(uid)

    def _side(self) -> StreamReassembler:
        return StreamReassembler(self.limits, self.budget, self.stats)

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        for u in records["uid"].tolist():
            self._ignored.discard(u)
            held = self._held.pop(u, None)
            if held is not None:  # it only opened: fed, its segments would have delivered nothing
                self.stats.segments += len(held)
            conn = self._conns.pop(u, None)
            if conn is None:
                continue
            for d, side in enumerate(conn.sides):
                chunks = side.flush()
                if chunks:
                    self.sink(u, d, chunks)

"""TCP stream reassembly as a pipeline consumer: segments of selected flows in, ordered chunks out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from zonewarden.flow.table import FlowAttribution
from zonewarden.flow.tcp_reassembly import (
    Chunk,
    ReassemblyBudget,
    ReassemblyLimits,
    ReassemblyStats,
    StreamReassembler,
)
from zonewarden.model.packets import PacketBatch

# (flow uid, direction 0=orig 1=resp, chunks in stream order)
ChunkSink = Callable[[int, int, list[Chunk]], None]
# (batch, packet index, direction, payload) -> reassemble this connection? None: not yet known
# (asked again at the next packet, e.g. to look at the first payload).
StreamSelector = Callable[[PacketBatch, int, int, bytes], bool | None]

TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10


@dataclass
class _Connection:
    sides: tuple[StreamReassembler, StreamReassembler]
    # Highest ACK each side has received from its peer, applied only after that side's next segment:
    # on a SPAN port an ACK can be captured just before the data it acknowledges.
    pending_ack: list[int | None] = field(default_factory=lambda: [None, None])


class TcpStreams:
    """Reassembles both directions of the TCP flows ``select`` accepts and hands chunks to ``sink``."""

    def __init__(self, sink: ChunkSink, select: StreamSelector | None = None,
                 limits: ReassemblyLimits | None = None) -> None:
        self.sink = sink
        self.select = select
        self.limits = limits or ReassemblyLimits()
        self.budget = ReassemblyBudget(self.limits.max_total_buffered)
        self.stats = ReassemblyStats()
        self._conns: dict[int, _Connection] = {}
        self._ignored: set[int] = set()

    def packets(self, pk: PacketBatch, flows: FlowAttribution) -> None:
        uid, direction = flows.uid, flows.direction
        # Pure ACKs carry nothing to reassemble; the ACK numbers that matter for gap detection ride on
        # the data segments too, so skipping them halves the per-segment work of request/response traffic.
        carries = (pk.l4_len > 0) | ((pk.tcp_flags & (TH_SYN | TH_FIN | TH_RST)) != 0)
        idx = np.flatnonzero((pk.proto == 6) & (uid >= 0) & (pk.err == 0) & carries)
        if idx.shape[0] == 0:
            return
        fr = pk.frames
        data = fr.data
        rows = zip(
            fr.frame_numbers()[idx].tolist(), idx.tolist(), uid[idx].tolist(), direction[idx].tolist(),
            pk.tcp_flags[idx].tolist(),
            pk.seq[idx].tolist(), pk.ack[idx].tolist(), pk.l4_off[idx].tolist(), pk.l4_len[idx].tolist(),
            fr.ts_ns[idx].tolist(), strict=True,
        )
        for number, i, u, d, flags, seq, ack, off, length, ts in rows:
            conn = self._conns.get(u)
            payload = data[off : off + length].tobytes() if length else b""
            if conn is None:
                if u in self._ignored:
                    continue
                if self.select is not None:
                    decision = self.select(pk, i, d, payload)
                    if decision is None:
                        continue
                    if not decision:
                        self._ignored.add(u)
                        continue
                conn = _Connection((self._side(), self._side()))
                self._conns[u] = conn
            side = conn.sides[d]
            chunks = side.add(seq, payload, syn=bool(flags & TH_SYN), fin=bool(flags & TH_FIN),
                              rst=bool(flags & TH_RST), ts_ns=ts, frame=number)
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

    def ignore(self, uid: int) -> None:
        """Stop reassembling a flow (its analyzer handed it back); its buffers are released."""
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
            conn = self._conns.pop(u, None)
            if conn is None:
                continue
            for d, side in enumerate(conn.sides):
                chunks = side.flush()
                if chunks:
                    self.sink(u, d, chunks)

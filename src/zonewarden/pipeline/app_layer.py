"""The application-layer dispatcher: finds each flow's analyzer (by port, then by content) and feeds it.

TCP flows go through stream reassembly, UDP flows datagram by datagram, layer-2 protocols frame by
frame. An analyzer that finds the content is not its protocol sets ``rejected``: the flow is handed
back (counted) and nothing more is parsed from it.

With a ``FastLane`` (``analyze`` uses one) the common TCP messages of Modbus, S7comm, DNP3 and EtherNet/IP
are counted by its kernel before this layer runs; a flow's analyzer then sees only the PDUs the lane hands
off, or the flow from where the lane gave it up, primed with what the lane consumed (fastlane.prime).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from zonewarden.decode.anomalies import SOFT
from zonewarden.flow.table import FlowAttribution, flow_id_text
from zonewarden.flow.tcp_reassembly import Chunk
from zonewarden.model.packets import PacketBatch, format_address
from zonewarden.pipeline.fastlane import FastLane, LaneChunk, prime
from zonewarden.pipeline.fastlane_layout import LANE_SLOW
from zonewarden.pipeline.streams import TcpStreams
from zonewarden.protocols.base import (
    AnalyzerSpec,
    DatagramAnalyzer,
    EventSink,
    FlowContext,
    FrameAnalyzer,
    StreamAnalyzer,
)


def _mac(data: npt.NDArray[np.uint8], off: int) -> str:
    return ":".join(f"{b:02x}" for b in data[off : off + 6].tolist())


@dataclass(frozen=True, slots=True)
class Shard:
    """One of ``count`` shares of the flows, by flow id (a hash of the flow's key and start): several
    processes, each given one, analyse a capture between them. Layer-2 frames belong to share 0."""

    index: int
    count: int

    def flows(self, flows: FlowAttribution) -> FlowAttribution:
        """``flows`` with the other shares' packets as packets of no flow (uid -1)."""
        mine = flows.fid % np.uint64(self.count) == np.uint64(self.index)
        return FlowAttribution(np.where(mine, flows.uid, -1), flows.direction, flows.fid)


class AppLayer:
    """A pipeline consumer running the given analyzers; events go to ``emit`` as they are parsed.

    With a ``shard`` it analyses only that share of the flows (see Shard)."""

    def __init__(self, emit: EventSink, specs: Iterable[AnalyzerSpec], lane: FastLane | None = None,
                 shard: Shard | None = None) -> None:
        self.emit = emit
        self.shard = shard
        self.specs = list(specs)
        self.tcp_ports = {p: s for s in self.specs if s.transport == "tcp" for p in s.ports}
        self.udp_ports = {p: s for s in self.specs if s.transport == "udp" or s.datagram_factory is not None
                          for p in s.ports}
        self.tcp_probes = [s for s in self.specs if s.transport == "tcp" and s.probe is not None]
        self.udp_probes = [s for s in self.specs if (s.transport == "udp" or s.datagram_factory is not None)
                           and s.probe is not None]
        self.ether = {e: s for s in self.specs if s.transport == "ether" for e in s.ethertypes}
        self.streams = TcpStreams(self._chunks, select=self._select_tcp, handoff=self._handoff,
                                  wait=self._opening_waits)
        self.lane = lane
        self._lane_chunk: LaneChunk | None = None
        self._tcp: dict[int, StreamAnalyzer] = {}
        self._udp: dict[int, DatagramAnalyzer | None] = {}
        self._l2: dict[str, FrameAnalyzer] = {}
        self._swap: dict[int, int] = {}  # flows whose server is the flow's originator
        self._waiting: set[int] = set()  # flows counted for their protocol whose opening waits (_opening_waits)
        self._flows = FlowAttribution(np.empty(0, np.int64), np.empty(0, np.uint8), np.empty(0, np.uint64))
        self.handed_back: Counter[str] = Counter()
        self.flows_by_protocol: Counter[str] = Counter()

    # ---- flow context and analyzer choice
    def _context(self, pk: PacketBatch, i: int, d: int, fid: int) -> FlowContext:
        """The analyzer's view: ``orig`` is the client and ``resp`` the server (see ``_swap``)."""
        ipver = int(pk.l3[i])
        src = format_address(int(pk.src_hi[i]), int(pk.src_lo[i]), ipver)
        dst = format_address(int(pk.dst_hi[i]), int(pk.dst_lo[i]), ipver)
        sport, dport = int(pk.sport[i]), int(pk.dport[i])
        if d ^ self._swap.get(int(self._flows.uid[i]), 0) == 0:
            return FlowContext(flow_id_text(fid), src, dst, sport, dport)
        return FlowContext(flow_id_text(fid), dst, src, dport, sport)

    def _choose(self, ports: dict[int, AnalyzerSpec], probes: list[AnalyzerSpec], pk: PacketBatch, i: int,
                d: int, payload: bytes) -> AnalyzerSpec | bool | None:
        """The spec for this flow, None when undecided (no payload yet), False when none applies.

        When the protocol's port is on the originator's side (the capture began mid-connection and the
        server spoke first), the flow is marked swapped so analyzers still see direction 0 as the client.
        """
        sport, dport = int(pk.sport[i]), int(pk.dport[i])
        resp_port, orig_port = (dport, sport) if d == 0 else (sport, dport)
        spec = ports.get(resp_port)
        if spec is None and (spec := ports.get(orig_port)) is not None:
            self._swap[int(self._flows.uid[i])] = 1
        if spec is not None:
            return spec
        if not probes:
            return False
        if not payload:
            return None
        for candidate in probes:
            assert candidate.probe is not None
            if candidate.probe(payload):
                return candidate
        return False

    def _select_tcp(self, pk: PacketBatch, i: int, d: int, payload: bytes) -> bool | None:
        uid = int(self._flows.uid[i])
        lane = self._lane_chunk
        if lane is not None and lane.status[i] == LANE_SLOW:
            # The fast lane gives the flow up here: its analyzer (if PDUs were handed off) goes on, primed.
            analyzer = self._tcp.get(uid) or self._new_tcp(pk, i, d, payload)
            if analyzer is not None:
                prime(analyzer, lane.prime_word(i), self._swap.get(uid, 0))
            return analyzer is not None
        spec = self._choose(self.tcp_ports, self.tcp_probes, pk, i, d, payload)
        if spec is None or spec is False:
            return None if spec is None else False
        assert isinstance(spec, AnalyzerSpec)
        self._start_tcp(spec, pk, i, d)
        return True

    def _opening_waits(self, pk: PacketBatch, i: int, d: int) -> bool:
        """Whether a flow opening on an analyzer's port (streams.TcpStreams ``wait``) may be held until its
        first data: the analyzer is then built when there is something for it (a SYN flood to a PLC's port
        costs no analyzer per forged connection; a fresh analyzer's end says nothing: a test holds every one
        to that). The flow counts for the protocol now, as building its analyzer would. Not for flows a lane
        may hand over midway: their analyzer is primed from the lane's state when it takes over."""
        spec = self._choose(self.tcp_ports, [], pk, i, d, b"")
        if not isinstance(spec, AnalyzerSpec) or (self.lane is not None and self.lane.hands_over(spec.name)):
            return False
        self.flows_by_protocol[spec.name] += 1
        self._waiting.add(int(self._flows.uid[i]))
        return True

    def _start_tcp(self, spec: AnalyzerSpec, pk: PacketBatch, i: int, d: int) -> StreamAnalyzer:
        uid = int(self._flows.uid[i])
        analyzer = spec.factory(self._context(pk, i, d, int(self._flows.fid[i])), self.emit)
        assert isinstance(analyzer, StreamAnalyzer)
        self._tcp[uid] = analyzer
        if uid in self._waiting:
            self._waiting.discard(uid)  # (counted when its opening was held)
        else:
            self.flows_by_protocol[spec.name] += 1
        return analyzer

    def _new_tcp(self, pk: PacketBatch, i: int, d: int, payload: bytes) -> StreamAnalyzer | None:
        """The analyzer of a fast-lane flow (chosen by port: the lane follows only port-matched flows)."""
        spec = self._choose(self.tcp_ports, [], pk, i, d, payload)
        return self._start_tcp(spec, pk, i, d) if isinstance(spec, AnalyzerSpec) else None

    def _handoff(self, pk: PacketBatch, i: int, uid: int, d: int) -> None:
        """PDUs the fast lane handed off at packet ``i``: to the flow's analyzer, primed, as stream data."""
        lane = self._lane_chunk
        assert lane is not None
        handed = lane.runs_of(i)
        if not handed:
            return
        analyzer = self._tcp.get(uid) or self._new_tcp(pk, i, d, b"")
        if analyzer is None:
            return
        fr = pk.frames
        ts = int(fr.ts_ns[i])
        frame = int(fr.numbers[i]) if fr.numbers is not None else fr.first_frame + i
        swap = self._swap.get(uid, 0)
        for direction, data, word in handed:
            prime(analyzer, word, swap)
            self._chunks(uid, direction, [Chunk(0, data, 0, ts, frame)])
            if uid not in self._tcp:  # the analyzer gave the flow up: so does the lane
                assert self.lane is not None
                self.lane.abandon(int(lane.row[i]))
                return

    # ---- pipeline consumer
    def packets(self, pk: PacketBatch, flows: FlowAttribution) -> None:
        if self.shard is not None:
            flows = self.shard.flows(flows)
        self._flows = flows
        if self.tcp_ports or self.tcp_probes:
            self._lane_chunk = self.lane.run(pk, flows) if self.lane is not None else None
            self.streams.packets(pk, flows, self._lane_chunk)
            self._lane_chunk = None
        if self.udp_ports or self.udp_probes:
            self._datagrams(pk, flows)
        if self.ether and (self.shard is None or self.shard.index == 0):
            self._frames(pk)

    def _chunks(self, uid: int, direction: int, chunks: list[Chunk]) -> None:
        analyzer = self._tcp.get(uid)
        if analyzer is None:
            return
        direction ^= self._swap.get(uid, 0)
        for _offset, data, gap, ts_ns, frame in chunks:
            if gap:
                analyzer.gap(direction, gap, ts_ns, frame)
            else:
                analyzer.data(direction, data, ts_ns, frame)
            if analyzer.rejected:
                self.handed_back[analyzer.proto] += 1
                del self._tcp[uid]
                self.streams.ignore(uid)
                return

    def _datagrams(self, pk: PacketBatch, flows: FlowAttribution) -> None:
        idx = np.flatnonzero((pk.proto == 17) & (flows.uid >= 0) & ((pk.err == 0) | (pk.err >= SOFT)))
        if idx.shape[0] == 0:
            return
        fr = pk.frames
        data = fr.data.data  # the array's memoryview: it slices at half the cost of the array
        rows = zip(idx.tolist(), fr.frame_numbers()[idx].tolist(), flows.uid[idx].tolist(),
                   flows.direction[idx].tolist(), pk.l4_off[idx].tolist(), pk.l4_len[idx].tolist(),
                   fr.ts_ns[idx].tolist(), strict=True)
        for i, number, u, d, off, length, ts in rows:
            analyzer = self._udp.get(u, False)
            payload = data[off : off + length].tobytes()
            if analyzer is False:
                spec = self._choose(self.udp_ports, self.udp_probes, pk, i, d, payload)
                if spec is None:
                    continue
                if spec is False:
                    self._udp[u] = None
                    continue
                assert isinstance(spec, AnalyzerSpec)
                factory = spec.factory if spec.transport == "udp" else spec.datagram_factory
                assert factory is not None
                created = factory(self._context(pk, i, d, int(flows.fid[i])), self.emit)
                assert isinstance(created, DatagramAnalyzer)
                self._udp[u] = analyzer = created
                self.flows_by_protocol[spec.name] += 1
            if analyzer is None:
                continue
            assert isinstance(analyzer, DatagramAnalyzer)
            analyzer.datagram(d ^ self._swap.get(u, 0), payload, ts, number)
            if analyzer.rejected:
                self.handed_back[analyzer.proto] += 1
                self._udp[u] = None

    def _frames(self, pk: PacketBatch) -> None:
        want = np.isin(pk.ethertype, np.fromiter(self.ether, np.int32)) & (pk.l3 == 2) & (pk.l2_off >= 0)
        idx = np.flatnonzero(want)
        if idx.shape[0] == 0:
            return
        fr = pk.frames
        numbers = fr.frame_numbers()
        for i in idx.tolist():
            spec = self.ether[int(pk.ethertype[i])]
            analyzer = self._l2.get(spec.name)
            if analyzer is None:
                created = spec.factory(FlowContext(None, "", "", None, None), self.emit)
                assert isinstance(created, FrameAnalyzer)
                self._l2[spec.name] = analyzer = created
            l2, start, end = int(pk.l2_off[i]), int(pk.ip_off[i]), int(fr.offset[i] + fr.caplen[i])
            analyzer.frame(_mac(fr.data, l2 + 6), _mac(fr.data, l2), fr.data[start:end].tobytes(),
                           int(fr.ts_ns[i]), int(numbers[i]))

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        if self.lane is not None:
            self.lane.flows_finished(records)
        self.streams.flows_finished(records)
        for u in records["uid"].tolist():
            self._swap.pop(u, None)
            self._waiting.discard(u)
            tcp = self._tcp.pop(u, None)
            if tcp is not None:
                tcp.end()
            udp = self._udp.pop(u, None)
            if udp:
                udp.end()

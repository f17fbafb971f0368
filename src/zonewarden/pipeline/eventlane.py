"""The event lane for ``zonewarden events``: the common ICS flows' events written as JSON by compiled encoders.

The contract and why a flow never changes hands are in eventlane_layout. ``survey`` runs the first pass
(the encoders dry, over the whole input) and returns the flows they refuse; an ``EventLane`` built with
that verdict is the AppLayer's lane in the second pass: it writes the events of every other flow of its
protocols and tells the Python path (LaneChunk statuses) to skip their packets. Its lines come out per
flush (``take``) with their frames, to be merged with the Python path's lines by frame (events_shards.lines_of).

Only regular files can be read twice; ``ZONEWARDEN_EVENTLANE=0`` turns the lane off.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from zonewarden import kernels
from zonewarden.capture.source import STDIN
from zonewarden.flow.table import FlowAttribution
from zonewarden.model.packets import PacketBatch
from zonewarden.pipeline import eventlane_layout as E
from zonewarden.pipeline.fastlane import PROTO_NAMES, LaneChunk, port_map
from zonewarden.pipeline.fastlane_layout import EMPTY, PORT_OTHER, PROTO_CODES
from zonewarden.protocols.base import AnalyzerSpec

if TYPE_CHECKING:
    from zonewarden.pipeline.app_layer import AppLayer

ENV_SWITCH = "ZONEWARDEN_EVENTLANE"
MIN_ROWS = 1024
OUT_BYTES = 16 << 20  # the output buffer to start with; it grows up to MAX_OUT per flush
MAX_OUT = 64 << 20


def enabled() -> bool:
    """The lane is on unless ZONEWARDEN_EVENTLANE=0 (tests and debugging compare both paths)."""
    return os.environ.get(ENV_SWITCH, "1") != "0"


def lane_ports(tcp_ports: Mapping[int, AnalyzerSpec], protocols: frozenset[str] = frozenset()) -> npt.NDArray[np.int8]:
    """fastlane.port_map, with the lane's protocols not among ``protocols`` (when given: ``events --protocol``)
    as another analyzer's ports: the Python path filters those flows' events by protocol."""
    ports = port_map(tcp_ports)
    for name, code in PROTO_CODES.items():
        if protocols and name not in protocols:
            ports[ports == code] = PORT_OTHER
    return ports


def usable(captures: Sequence[str], tcp_ports: Mapping[int, AnalyzerSpec], protocols: frozenset[str] = frozenset()
           ) -> bool:
    """Whether the lane can run: switched on, inputs that can be read twice, and one of its protocols asked for."""
    return (enabled() and STDIN not in captures and all(os.path.isfile(c) for c in captures)
            and bool((lane_ports(tcp_ports, protocols) > 0).any()))


class EventLane:
    """Runs the walk per batch; ``refused``: by flow uid, the flows left to the Python path (1), grown as
    uids grow. ``dry``: the survey (nothing written; refusals are recorded)."""

    def __init__(self, tcp_ports: Mapping[int, AnalyzerSpec], refused: npt.NDArray[np.uint8] | None = None,
                 dry: bool = False, protocols: frozenset[str] = frozenset(), anomalies: bool = True) -> None:
        self.ports = lane_ports(tcp_ports, protocols)
        self.refused = refused if refused is not None else np.zeros(1 << 12, np.uint8)
        self.dry = dry
        self.table = np.full((MIN_ROWS, E.N_ECOLS), EMPTY, np.int64)
        self.utable = np.zeros((MIN_ROWS, E.N_UBYTES), np.uint8)
        self.params = np.zeros(E.N_QPARAMS, np.int64)
        self.params[E.Q_NO_ANOMALIES] = not anomalies
        self.out = np.zeros(OUT_BYTES if not dry else E.DRY_OUT, np.uint8)
        self.ev_frame = np.zeros(1 << 14, np.int64)
        self.ev_end = np.zeros(1 << 14, np.int64)
        self.pos = 0
        self.n_ev = 0
        self._parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], bytes]] = []

    def _cover(self, uids: npt.NDArray[np.int64]) -> None:
        top = int(uids.max()) + 1 if uids.shape[0] else 0
        if top > self.refused.shape[0]:
            grown = np.zeros(max(top, 2 * self.refused.shape[0]), np.uint8)
            grown[: self.refused.shape[0]] = self.refused
            self.refused = grown

    def run(self, pk: PacketBatch, flows: FlowAttribution) -> LaneChunk:
        n = len(pk)
        fr = pk.frames
        status = np.zeros(n, np.uint8)
        self._cover(flows.uid)
        frames = fr.frame_numbers()
        start = 0
        while True:
            start, self.pos, self.n_ev, st = kernels.eventlane_walk(
                fr.data, pk.l4_off, pk.l4_len, pk.proto, pk.err, pk.tcp_flags, pk.seq, pk.ack, pk.sport, pk.dport,
                fr.ts_ns, flows.uid, flows.direction, pk.l3, pk.src_hi, pk.src_lo, pk.dst_hi, pk.dst_lo, flows.fid,
                frames, start, self.ports, self.refused, self.dry, self.table, self.utable, self.params, status,
                self.out, self.pos, self.ev_frame, self.ev_end, self.n_ev)
            if st == E.ST_DONE:
                break
            if st == E.ST_NEED_ROOM:
                self._grow()
            elif st == E.ST_OUT_FULL:
                self._make_room()
            else:
                raise RuntimeError(f"event lane: the survey and the run disagree on the flow of frame "
                                   f"{int(frames[start])} (a bug)")
        return LaneChunk(status, np.zeros(n, np.int64), {}, self.table)

    @staticmethod
    def hands_over(protocol: str) -> bool:
        """Never: a flow the lane refuses is the Python path's from its first packet on (FastLane.hands_over)."""
        return False

    def abandon(self, row: int) -> None:  # (the lane hands nothing off: never called)
        raise AssertionError("the event lane hands nothing off")

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        """The flows of ``records`` end; a flush of the events follows."""
        kernels.eventlane_forget(self.table, self.params, np.ascontiguousarray(records["uid"], np.int64))
        if self.dry:
            kernels.eventlane_settle(self.table, self.params, self.refused)

    def flows_taken(self) -> Counter[str]:
        """Flows the lane wrote, by analyzer name (as AppLayer.flows_by_protocol counts them)."""
        return Counter({PROTO_NAMES[c]: int(self.params[E.Q_TAKEN + c]) for c in PROTO_NAMES
                        if self.params[E.Q_TAKEN + c]})

    def _make_room(self) -> None:
        """The output buffer (or its index) is full: a larger one, up to MAX_OUT bytes; past that, keep what
        was written and start the buffer again."""
        if self.n_ev >= self.ev_end.shape[0]:
            self.ev_frame = np.concatenate((self.ev_frame, np.empty_like(self.ev_frame)))
            self.ev_end = np.concatenate((self.ev_end, np.empty_like(self.ev_end)))
        elif self.out.shape[0] < MAX_OUT:
            out = np.empty(2 * self.out.shape[0], np.uint8)
            out[: self.pos] = self.out[: self.pos]
            self.out = out
        else:
            self._spill()

    def _spill(self) -> None:
        """Keep the lines written so far and start the buffer again."""
        if self.n_ev:
            self._parts.append((self.ev_frame[: self.n_ev].copy(), self.ev_end[: self.n_ev].copy(),
                                self.out[: self.pos].tobytes()))
        self.pos = self.n_ev = 0

    def take(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], bytes]:
        """The lines written since the last take: (frames, ends, bytes), a frame and an end per run of lines
        (the lines of one payload, all of one frame), in the order written: lines of reassembled IP
        fragments may follow later frames' (events_shards.merge_runs puts them in frame order)."""
        self._spill()
        parts, self._parts = self._parts, []
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), b""
        if len(parts) == 1:
            frames, ends, data = parts[0]
        else:
            sizes = np.cumsum([0] + [len(p[2]) for p in parts[:-1]])
            frames = np.concatenate([p[0] for p in parts])
            ends = np.concatenate([p[1] + s for p, s in zip(parts, sizes.tolist(), strict=True)])
            data = b"".join(p[2] for p in parts)
        return frames, ends, data

    def _grow(self) -> None:
        size = self.table.shape[0]
        if self.params[E.Q_USED] * 4 > size:
            size *= 2
        table = np.full((size, E.N_ECOLS), EMPTY, np.int64)
        utable = np.zeros((size, E.N_UBYTES), np.uint8)
        kernels.eventlane_rehash(self.table, self.utable, table, utable)
        self.table, self.utable = table, utable
        self.params[E.Q_TOMBS] = 0


class _Survey:
    """The first pass's consumer: the lane, dry."""

    def __init__(self, lane: EventLane, shard: object | None) -> None:
        self.lane = lane
        self.shard = shard

    def packets(self, pk: PacketBatch, flows: FlowAttribution) -> None:
        if self.shard is not None:
            flows = self.shard.flows(flows)  # type: ignore[attr-defined]
        self.lane.run(pk, flows)

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        self.lane.flows_finished(records)


def attach(app: AppLayer, captures: Sequence[str], anomalies: bool = True, protocols: frozenset[str] = frozenset()
           ) -> EventLane | None:
    """Survey the captures (for ``app``'s shard of the flows) and make the lane ``app``'s; None when the lane
    cannot run here (see ``usable``). ``protocols``: only these protocols' events are wanted (all when empty);
    not ``anomalies``: no anomaly events (the flows whose encoder writes one are left to the Python path)."""
    if not usable(captures, app.tcp_ports, protocols):
        return None
    refused = survey(captures, app.tcp_ports, app.shard, protocols, anomalies)
    lane = EventLane(app.tcp_ports, refused, protocols=protocols)
    app.lane = lane  # type: ignore[assignment]
    return lane


def survey(captures: Sequence[str], tcp_ports: Mapping[int, AnalyzerSpec], shard: object | None = None,
           protocols: frozenset[str] = frozenset(), anomalies: bool = True) -> npt.NDArray[np.uint8]:
    """The first pass: by flow uid, 1 for the flows the encoders refuse (the Python path's)."""
    from zonewarden.pipeline.packets import PacketPipeline

    lane = EventLane(tcp_ports, dry=True, protocols=protocols, anomalies=anomalies)
    pipeline = PacketPipeline(captures, consumers=[_Survey(lane, shard)])
    for _records in pipeline.flow_batches():
        pass
    return lane.refused

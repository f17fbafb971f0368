"""The packet pipeline: frames to decoded packets to flows, streaming and bounded."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from zonewarden.capture.source import CaptureRun, open_captures
from zonewarden.decode.anomalies import anomaly_name
from zonewarden.decode.ip_fragments import FragmentReassembler, Reassembled
from zonewarden.decode.packets import decode
from zonewarden.flow.table import FlowAttribution, FlowSettings, FlowTable, FlowTableStats
from zonewarden.model.frames import LINKTYPE_RAW, FrameBatch, linktype_name
from zonewarden.model.packets import PacketBatch


class PacketConsumer(Protocol):
    """Something downstream of the flow table (stream reassembly, analyzers)."""

    def packets(self, pk: PacketBatch, flows: FlowAttribution) -> None:
        """Each decoded batch with, per packet, its flow (see FlowAttribution)."""

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        """Flows that ended (their records, FLOW_DTYPE); called before they are yielded."""

L3_NAMES = {0: "undecoded", 1: "arp", 2: "other", 4: "ipv4", 6: "ipv6"}
# Net allocations of container objects between two runs of the cyclic garbage collector (see below).
GC_ALLOCATIONS = 100_000


@contextmanager
def rare_collections(allocations: int | None = GC_ALLOCATIONS) -> Iterator[None]:
    """Run the body with CPython's cyclic garbage collector started every ``allocations`` net allocations of
    container objects instead of every 700. The analyzers make several containers per message (events, their
    lists, parse results) that reference counting frees; by default the collector runs every few messages for
    nothing (a tenth of ``zonewarden events``). Cycles are still collected, less often; the previous thresholds
    are restored on exit. ``None``: no collection at all, for bounded work that makes no cycles and keeps what it
    makes (building an inventory: 100k objects, a walk of 20-70 ms for nothing), which then goes to the oldest
    generation as a collection would put it there, without the walk (gc.freeze then gc.unfreeze: every object
    moves there, the counts start again; not where the process froze objects itself, which unfreeze would
    release)."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    if allocations is None:
        gc.disable()
    else:
        gc.set_threshold(max(thresholds[0], allocations), *thresholds[1:])
    try:
        yield
    finally:
        if allocations is None and not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()


@dataclass
class RunSummary:
    files: int = 0
    frames: int = 0
    wire_bytes: int = 0
    link_types: Counter[str] = field(default_factory=Counter)
    network: Counter[str] = field(default_factory=Counter)
    decode_errors: Counter[str] = field(default_factory=Counter)
    flows: int = 0
    limits: dict[str, int] = field(default_factory=dict)
    fragments: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it rebuilds Counters from (key, value) pairs, counting the pairs.
        return {
            "files": self.files, "frames": self.frames, "wire_bytes": self.wire_bytes,
            "link_types": dict(sorted(self.link_types.items())), "network": dict(sorted(self.network.items())),
            "decode_errors": dict(sorted(self.decode_errors.items())), "flows": self.flows,
            "limits": dict(self.limits), "fragments": dict(self.fragments), "problems": list(self.problems),
        }


def _reassembled_batch(items: list[Reassembled], first_frame: int) -> FrameBatch:
    data = np.frombuffer(b"".join(r.packet for r in items), dtype=np.uint8)
    lengths = np.array([len(r.packet) for r in items], np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    return FrameBatch(
        data, offsets, lengths, np.array([r.wirelen for r in items], np.int64),
        np.array([r.ts_ns for r in items], np.int64), np.full(len(items), LINKTYPE_RAW, np.int32), first_frame,
        np.array([r.last_frame for r in items], np.int64),
    )


class PacketPipeline:
    """Reads the inputs once; yields finished flow records (structured arrays) as flows end."""

    def __init__(self, inputs: Sequence[str], settings: FlowSettings | None = None,
                 consumers: Sequence[PacketConsumer] = (), track_flows: bool = True) -> None:
        """``track_flows=False``: no flow table (no records are yielded, consumers see every packet in no flow),
        for consumers that need only the packets, at a fraction of the memory on traffic of many flows."""
        self.capture: CaptureRun = open_captures(inputs)
        self.table = FlowTable(settings or FlowSettings()) if track_flows else None
        self.fragments = FragmentReassembler()
        self.consumers = list(consumers)
        self.summary = RunSummary()

    def flow_batches(self, progress: Callable[[int], None] | None = None) -> Iterator[npt.NDArray[np.void]]:
        s = self.summary
        for frames in self.capture:
            pk = decode(frames)
            self._count(pk)
            self._attribute(pk)
            if pk.frag.any():
                done = self.fragments.add_batch(pk)
                if done:
                    extra = decode(_reassembled_batch(done, frames.first_frame))
                    extra.vlan_outer[:] = [r.vlan_outer for r in done]
                    extra.vlan_inner[:] = [r.vlan_inner for r in done]
                    self._attribute(extra)
            yield from self._drain()
            if progress is not None:
                progress(self.capture.bytes_done)
        if self.table is not None:
            self.table.finish_all()
        self.fragments.finish()
        yield from self._drain()
        s.files = self.capture.stats.files
        s.problems = [str(p) for p in self.capture.problems]
        t = self.table.stats if self.table is not None else FlowTableStats()
        s.limits = {"flows_evicted": t.flows_evicted, "peak_live_flows": t.peak_flows,
                    "fragments_dropped_limit": self.fragments.stats.dropped_limit,
                    "skipped_pcapng_blocks": self.capture.stats.skipped_blocks}
        s.fragments = asdict(self.fragments.stats)

    def _attribute(self, pk: PacketBatch) -> None:
        if self.table is not None:
            flows = self.table.update(pk)
        else:
            n = len(pk)
            flows = FlowAttribution(np.full(n, -1, np.int64), np.zeros(n, np.uint8), np.zeros(n, np.uint64))
        for consumer in self.consumers:
            consumer.packets(pk, flows)

    def _drain(self) -> Iterator[npt.NDArray[np.void]]:
        if self.table is None:
            return
        for records in self.table.take_finished():
            self.summary.flows += records.shape[0]
            for consumer in self.consumers:
                consumer.flows_finished(records)
            yield records

    def _count(self, pk: PacketBatch) -> None:
        s = self.summary
        fr = pk.frames
        s.frames += len(fr)
        s.wire_bytes += int(fr.wirelen.sum())
        lts, counts = np.unique(fr.linktype, return_counts=True)
        for lt, c in zip(lts.tolist(), counts.tolist(), strict=True):
            s.link_types[linktype_name(lt)] += c
        for l3, c in enumerate(np.bincount(pk.l3, minlength=7).tolist()):
            if c and l3 in L3_NAMES:
                s.network[L3_NAMES[l3]] += c
        errs = np.bincount(pk.err)
        for code, c in enumerate(errs.tolist()):
            if code and c:
                s.decode_errors[anomaly_name(code)] += c

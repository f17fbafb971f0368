"""Our flows against tshark's conversation tap, per 5-tuple and sender, with named known differences.

The tests own the tables of differences (which files, which frames, why); this module applies them:
each TCP/UDP header tshark's tap counted either counts for us too, is one we do not count (the entry
drops it from the expected totals), or is a reassembled IP datagram whose fragments' wire bytes we
count and tshark does not (the entry adds them).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.peers.tshark import (
    CONV_PROTOCOLS,
    ConvKey,
    Endpoint,
    L4Layer,
    TsharkFrame,
    TsharkRun,
    conv_key,
    normalize_address,
    tapped,
)
from zonewarden.flow.records import flow_dicts
from zonewarden.pipeline.packets import PacketPipeline

# Sees one TCP/UDP header tshark's conversation tap counted (the frame and the header) and says whether
# a table entry explains it.
Predicate = Callable[[TsharkFrame, L4Layer], bool]


@dataclass(frozen=True)
class PeerDifference:
    """One known difference: the captures it occurs in, the headers it explains, and why."""

    name: str
    reason: str
    files: frozenset[str]
    matches: Predicate
    # False: tshark counts this header, we do not (it leaves the expected totals). True: tshark counts
    # a reassembled IP datagram as its last fragment's frame; we count the wire bytes of all of them.
    adds_fragment_bytes: bool = False
    keys: frozenset[str] = frozenset()  # when set, only these keys (str(ConvKey)) of those files

    def applies(self, capture: str, frame: TsharkFrame, layer: L4Layer) -> bool:
        if capture not in self.files or (self.keys and str(layer.key) not in self.keys):
            return False
        return self.matches(frame, layer)


# Per undirected 5-tuple, per sending endpoint: (packets, wire bytes). The undirected sums the peer
# tests demand follow from it; comparing per sender also catches a packet put on the wrong side.
Totals = dict[ConvKey, dict[Endpoint, tuple[int, int]]]


@dataclass(frozen=True)
class OurRun:
    frames: int
    problems: list[str]
    totals: Totals


def our_totals(flows: Iterable[dict[str, Any]]) -> Totals:
    """Our TCP/UDP flows summed per key (VLANs merged) and sender."""
    sums: dict[ConvKey, dict[Endpoint, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for f in flows:
        if f["proto"] not in CONV_PROTOCOLS:
            continue
        side = sums[conv_key(f["proto"], f["src"], f["sport"], f["dst"], f["dport"])]
        for addr, port, packets, nbytes in ((f["src"], f["sport"], f["packets_orig"], f["bytes_orig"]),
                                            (f["dst"], f["dport"], f["packets_resp"], f["bytes_resp"])):
            if packets:
                t = side[Endpoint(normalize_address(addr), port)]
                t[0] += packets
                t[1] += nbytes
    return _frozen(sums)


def _frozen(sums: dict[ConvKey, dict[Endpoint, list[int]]]) -> Totals:
    return {k: {e: (v[0], v[1]) for e, v in sides.items() if v[0]} for k, sides in sums.items()}


def run_ours(path: Path) -> OurRun:
    pipeline = PacketPipeline([str(path)])
    flows = [row for records in pipeline.flow_batches() for row in flow_dicts(records)]
    return OurRun(pipeline.summary.frames, list(pipeline.summary.problems), our_totals(flows))


@dataclass
class Comparison:
    failures: list[str] = field(default_factory=list)
    explained: Counter[str] = field(default_factory=Counter)  # rule name -> keys it explained
    keys: int = 0


def _show(sides: dict[Endpoint, tuple[int, int]]) -> str:
    if not sides:
        return "nothing"
    return "; ".join(f"from {e.addr}:{e.port} {p} packets {b} bytes" for e, (p, b) in sorted(sides.items()))


@dataclass
class _Expected:
    raw: Totals  # what tshark's conversation tap counted
    want: Totals  # what we should count, after the rules
    applied: dict[ConvKey, set[str]]  # rule names that changed each key
    matched: Counter[str]  # rule name -> headers it matched


def _expected(capture: str, run: TsharkRun, rules: Sequence[PeerDifference]) -> _Expected:
    lengths = run.frame_lengths()
    raw: dict[ConvKey, dict[Endpoint, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    want: dict[ConvKey, dict[Endpoint, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    applied: dict[ConvKey, set[str]] = defaultdict(set)
    matched: Counter[str] = Counter()
    for frame in run.frames:
        for layer in frame.layers:
            if not tapped(layer):
                continue
            key = layer.key
            t = raw[key][layer.sender]
            t[0] += 1
            t[1] += frame.length
            hits = [r for r in rules if r.applies(capture, frame, layer)]
            matched.update(r.name for r in hits)
            drop = next((r for r in hits if not r.adds_fragment_bytes), None)
            if drop is not None:
                applied[key].add(drop.name)
                continue
            t = want[key][layer.sender]
            t[0] += 1
            t[1] += frame.length
            for r in hits:
                applied[key].add(r.name)
                t[1] += sum(lengths[n] for n in frame.reassembled_from)
    return _Expected(_frozen(raw), _frozen(want), applied, matched)


def compare(capture: str, run: TsharkRun, ours: Totals,
            rules: Sequence[PeerDifference]) -> Comparison:
    """Ours against tshark's per-frame view (checked against its conversation table separately)."""
    exp = _expected(capture, run, rules)
    result = Comparison(keys=len(set(exp.raw) | set(ours)))
    for key in sorted(set(exp.want) | set(ours) | set(exp.applied)):
        want, got, names = exp.want.get(key, {}), ours.get(key, {}), sorted(exp.applied.get(key, ()))
        if got == want:
            result.explained.update(names)
            continue
        line = f"{key}: ours {_show(got)}; tshark {_show(exp.raw.get(key, {}))}"
        if names:
            line += f"; expected after {', '.join(names)}: {_show(want)}"
            stale = [n for n in names
                     if _expected(capture, run, tuple(r for r in rules if r.name != n)).want.get(key, {}) == got]
            if stale:
                line += f" -- ours matches without {', '.join(stale)}: remove it for this capture"
        result.failures.append(line)
    for r in rules:
        if capture in r.files and exp.matched[r.name] == 0:
            result.failures.append(f"{r.name} lists {capture} but matches no frame there: remove it")
    return result

"""Shared machinery for comparing ``zonewarden events`` with tshark, message by message.

tshark is run once per capture with ``-T json -j "<protocols>"``; a frame holding several messages
of a protocol gives a list of layers, in wire order, which is paired with our events of that frame
in order. Each protocol test supplies how to read each contract field from tshark's layer.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msgspec import structs

from zonewarden.model.events import Event
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.protocols.registry import ANALYZERS

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus"

Layer = dict[str, Any]
# our field name -> function of one tshark layer group giving the expected value (None: not shown by tshark)
FieldMap = dict[str, Callable[[dict[str, Layer]], Any]]


def corpus_files(protocol_dir: str, suffixes: Sequence[str] = (".pcap", ".pcapng", ".cap")) -> list[str]:
    root = CORPUS / protocol_dir
    assert root.is_dir(), f"corpus folder missing: {root}"
    return sorted(str(p.relative_to(CORPUS)) for p in root.rglob("*") if p.is_file() and p.suffix in suffixes
                  and ".expected" not in p.parts[-2])


def tshark_messages(path: Path, layers: Sequence[str], extra: Sequence[str] = ()) -> dict[int, list[dict[str, Layer]]]:
    """frame number -> one dict per message: {layer name: that message's layer} (layers zipped by position)."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "json", "--no-duplicate-keys", "-j", " ".join(["frame", *layers]),
         *extra],
        capture_output=True, text=True, check=True,
    ).stdout
    frames: dict[int, list[dict[str, Layer]]] = {}
    for pkt in json.loads(out or "[]"):
        lay = pkt["_source"]["layers"]
        number = int(lay["frame"]["frame.number"])
        per_layer = {name: (lay[name] if isinstance(lay[name], list) else [lay[name]]) for name in layers
                     if name in lay}
        if not per_layer:
            continue
        count = max(len(v) for v in per_layer.values())
        frames[number] = [{name: v[k] for name, v in per_layer.items() if k < len(v)} for k in range(count)]
    return frames


def our_messages(path: Path, protocol: str) -> dict[int, list[dict[str, Any]]]:
    """frame number -> our message events (not anomalies) of ``protocol`` in that frame, in order."""
    events: list[Event] = []
    specs = [s for s in ANALYZERS if protocol in s.event_protos]
    assert specs, f"no analyzer named {protocol}"
    pipeline = PacketPipeline([str(path)], consumers=[AppLayer(events.append, specs)])
    for _ in pipeline.flow_batches():
        pass
    frames: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e.kind == "message" and e.proto == protocol:
            frames[e.frame].append(structs.asdict(e))
    return dict(frames)


@dataclass
class Agreement:
    ours: int = 0
    theirs: int = 0
    compared: int = 0
    agreeing: int = 0
    differences: list[tuple[str, int, str, Any, Any]] = field(default_factory=list)
    unmatched: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, other: Agreement) -> None:
        self.ours += other.ours
        self.theirs += other.theirs
        self.compared += other.compared
        self.agreeing += other.agreeing
        self.differences += other.differences
        self.unmatched += other.unmatched

    @property
    def ratio(self) -> float:
        return self.agreeing / self.compared if self.compared else 0.0


def compare(name: str, ours: dict[int, list[dict[str, Any]]], theirs: dict[int, list[dict[str, Layer]]],
            fields: FieldMap) -> Agreement:
    """Pair messages frame by frame, in order, and compare every mapped field."""
    result = Agreement(ours=sum(map(len, ours.values())), theirs=sum(map(len, theirs.values())))
    for frame in sorted(set(ours) | set(theirs)):
        a, b = ours.get(frame, []), theirs.get(frame, [])
        if len(a) != len(b):
            result.unmatched.append((name, frame, f"{len(a)} ours vs {len(b)} tshark"))
        for mine, their in zip(a, b, strict=False):
            result.compared += 1
            ok = True
            for our_field, read in fields.items():
                expected = read(their)
                if expected is None:
                    continue
                if mine.get(our_field) != expected:
                    ok = False
                    result.differences.append((name, frame, our_field, mine.get(our_field), expected))
            result.agreeing += ok
    return result


def int_field(layer: str, key: str, base: int = 0) -> Callable[[dict[str, Layer]], int | None]:
    """Read an integer field (decimal, or hex with 0x) from one of the message's layers."""

    def read(msg: dict[str, Layer]) -> int | None:
        value = msg.get(layer, {}).get(key)
        if value is None:
            return None
        return int(value, base) if isinstance(value, str) else None

    return read


def find_field(msg: dict[str, Layer], key: str) -> Any:
    """A field anywhere inside one message's layers (tshark nests some fields in subtrees)."""
    stack: list[Any] = list(msg.values())
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if key in item:
                return item[key]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def summarize(total: Agreement, limit: int = 15) -> str:
    lines = [f"ours {total.ours}, tshark {total.theirs}, compared {total.compared}, agreeing {total.agreeing}"
             f" ({total.ratio:.4%})"]
    lines += [f"  diff {n} frame {f}: {k} ours={o!r} tshark={t!r}" for n, f, k, o, t in total.differences[:limit]]
    lines += [f"  count {n} frame {f}: {why}" for n, f, why in total.unmatched[:limit]]
    return "\n".join(lines)


def iterate(files: Iterable[str]) -> Iterable[tuple[str, Path]]:
    for rel in files:
        path = CORPUS / rel
        assert path.exists(), f"missing corpus capture {path}"
        yield rel, path


def unexplained(total: Agreement, exceptions: dict[tuple[str, int], str]) -> list[str]:
    """Differences and count mismatches not listed in ``exceptions`` ({(file, frame): reason})."""
    listed = set(exceptions)
    out = [f"{n} frame {f}: {k} ours={o!r} tshark={t!r}" for n, f, k, o, t in total.differences
           if (n, f) not in listed]
    out += [f"{n} frame {f}: {why}" for n, f, why in total.unmatched if (n, f) not in listed]
    return out


def assert_file_agrees(result: Agreement, exceptions: dict[tuple[str, int], str]) -> None:
    """One capture: something was compared if tshark saw messages, and every difference is explained."""
    print(summarize(result))
    assert result.theirs == 0 or result.compared > 0, summarize(result)
    assert not unexplained(result, exceptions), "\n".join(unexplained(result, exceptions))


def assert_corpus_agrees(results: Iterable[Agreement], min_messages: int) -> Agreement:
    """The issue's bar over the whole corpus: at least 99.5% of messages agree on every compared field
    and the message counts are within 0.5% (and enough messages were seen for that to mean something)."""
    total = Agreement()
    for result in results:
        total.add(result)
    print(summarize(total))
    assert total.theirs > min_messages, summarize(total)
    assert abs(total.ours - total.theirs) <= 0.005 * total.theirs, summarize(total)
    assert total.ratio >= 0.995, summarize(total)
    return total

"""EndpointObserver holds its sightings in columns; the proof is the per-key dict it replaced, fed the same
groups in the same order: the same sightings (order, text, times, counts) and the same packets dropped past
``max_entries``, over every corpus capture and over floods of random keys with a small cap and merges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from zonewarden.model.assets import EndpointSighting
from zonewarden.model.packets import format_address
from zonewarden.pipeline import endpoints
from zonewarden.pipeline.endpoints import SOURCES, EndpointObserver, mac_text
from zonewarden.pipeline.packets import PacketPipeline


class DictObserver(EndpointObserver):
    """The observer as it was: every group of a batch taken into a dict in turn, a new key while there is room,
    and the sightings sorted and written from the dict."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        super().__init__(max_entries)
        self.acc: dict[tuple[int, int, int, int, str], list[int]] = {}
        self.dict_dropped = 0

    def _add(self, macs: npt.NDArray[np.uint64], hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64],
             vlan: npt.NDArray[np.int32], ts: npt.NDArray[np.int64], source: str) -> None:
        held = len(self._parts)
        super()._add(macs, hi, lo, vlan, ts, source)  # (groups the batch; its part is taken back here)
        if len(self._parts) == held:
            return
        m, h, low, v, _src, first, last, packets, _arrival = self._parts.pop()
        self._held -= m.shape[0]
        for key_m, key_h, key_lo, key_v, f, la, c in zip(m.tolist(), h.tolist(), low.tolist(), v.tolist(),
                                                         first.tolist(), last.tolist(), packets.tolist(), strict=True):
            key = (key_m, key_h, key_lo, key_v, source)
            acc = self.acc.get(key)
            if acc is None:
                if len(self.acc) >= self.max_entries:
                    self.dict_dropped += c
                    continue
                self.acc[key] = [f, la, c]
            else:
                acc[0], acc[1], acc[2] = min(acc[0], f), max(acc[1], la), acc[2] + c

    def _compact(self) -> None:
        return None  # (its parts are only ever the batch in hand)

    def dict_sightings(self) -> list[EndpointSighting]:
        out = []
        for (m, h, lo, v, source), (first, last, packets) in sorted(self.acc.items(), key=lambda kv: (
                kv[0][0], kv[0][1], kv[0][2], kv[0][3], SOURCES.index(kv[0][4]))):
            if m == 0 or (m >> 40) & 1:
                continue
            ip = None if source == "l2" else format_address(h, lo, 6 if source.endswith("6") else 4)
            out.append(EndpointSighting(mac_text(m), ip, v if v >= 0 else None, first / 1e9, last / 1e9, packets,
                                        source.rstrip("6")))
        return out


class Both:
    """A column observer and a dict observer fed the same batches."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self.columns = EndpointObserver(max_entries)
        self.reference = DictObserver(max_entries)

    def packets(self, *args: Any) -> None:
        self.columns.packets(*args)
        self.reference.packets(*args)

    def flows_finished(self, records: Any) -> None:
        return None

    def check(self) -> list[EndpointSighting]:
        got = self.columns.sightings()
        assert got == self.reference.dict_sightings()
        assert [type(x) for s in got for x in s] == [type(x) for s in self.reference.dict_sightings() for x in s]
        assert self.columns.dropped == self.reference.dict_dropped
        assert self.columns.bridge_protocols == self.reference.bridge_protocols
        return got


def test_columns_equal_the_dict(corpus_capture: str, shared_dir: Path) -> None:
    both = Both()
    for _records in PacketPipeline([str(shared_dir / "corpus" / corpus_capture)], consumers=[both],
                                   track_flows=False).flow_batches():
        pass
    both.check()


@pytest.mark.parametrize("cap", [1, 7, 50, 10_000])
def test_a_flood_of_keys_past_the_cap_merged_on_the_way(cap: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoints, "COMPACT_ROWS", 13)  # merge every few batches
    rng = np.random.default_rng(cap)
    both = Both(cap)
    sources = ["ip", "dst", "ip6", "dst6", "arp", "l2"]
    for batch in range(40):
        n = int(rng.integers(1, 60))
        macs = rng.integers(0, 24, n).astype(np.uint64) | np.uint64(0x0200_0000_0000)
        macs[rng.random(n) < 0.1] = np.uint64(0x0100_5E00_0001)  # multicast: never a sighting
        macs[rng.random(n) < 0.05] = np.uint64(0)
        lo = np.uint64(0xFFFF_0A00_0000) + rng.integers(0, 30, n).astype(np.uint64)
        unmapped = rng.random(n) < 0.2  # not IPv4-mapped: written as IPv6 whatever the source's family
        lo[unmapped] = rng.integers(0, 1 << 62, int(unmapped.sum())).astype(np.uint64)
        hi = np.where(rng.random(n) < 0.1, np.uint64(0x2001_0DB8_0000_0000), np.uint64(0)).astype(np.uint64)
        vlan = rng.choice(np.array([-1, -1, 10, 4095], np.int32), n)
        ts = (1_700_000_000 * 10**9 + rng.integers(0, 10**12, n)).astype(np.int64)
        for observer in (both.columns, both.reference):
            observer._add(macs, hi, lo, vlan, ts, sources[batch % len(sources)])
    got = both.check()
    assert got and (cap >= 10_000 or both.columns.dropped > 0)

"""Layer-2 to layer-3 address sightings (which MAC sent with which IP, ARP bindings), vectorised per batch.

Mechanism only: the inventory decides what a sighting means (a host, a router forwarding for many).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from zonewarden.flow.table import FlowAttribution
from zonewarden.model.assets import EndpointSighting
from zonewarden.model.frames import LINKTYPE_ETHERNET
from zonewarden.model.packets import PacketBatch, format_address

V4_MAPPED = 0x0000FFFF00000000


def _macs(data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """48-bit MAC addresses at ``offsets`` as integers (vectorised)."""
    out = np.zeros(offsets.shape[0], np.uint64)
    for k in range(6):
        out = (out << np.uint64(8)) | data[offsets + k].astype(np.uint64)
    return out


def mac_text(value: int) -> str:
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -8, -8))


@dataclass
class _Acc:
    first: int
    last: int
    packets: int


@dataclass
class EndpointObserver:
    """A pipeline consumer accumulating (MAC, IP, VLAN) sightings; bounded by ``max_entries``."""

    max_entries: int = 1_000_000
    dropped: int = 0
    # MACs that speak bridge/switch protocols (STP, LLDP, CDP): network devices.
    bridge_protocols: dict[str, set[str]] = field(default_factory=dict)
    _acc: dict[tuple[int, int, int, int, str], _Acc] = field(default_factory=dict)

    def packets(self, pk: PacketBatch, flows: FlowAttribution) -> None:
        fr = pk.frames
        eth = (fr.linktype == LINKTYPE_ETHERNET) & (pk.l2_off >= 0)
        ip = eth & ((pk.l3 == 4) | (pk.l3 == 6)) & (pk.err == 0)
        if ip.any():
            idx = np.flatnonzero(ip)
            macs = _macs(fr.data, pk.l2_off[idx] + 6)
            dst_macs = _macs(fr.data, pk.l2_off[idx])
            # The family rides in the source tag: an IPv6 host at ::ffff:a.b.c.d is not the IPv4 host a.b.c.d.
            for family, tag in ((4, ""), (6, "6")):
                sel = pk.l3[idx] == family
                if sel.any():
                    part = idx[sel]
                    self._add(macs[sel], pk.src_hi[part], pk.src_lo[part], pk.vlan_outer[part], fr.ts_ns[part],
                              "ip" + tag)
                    # Receivers too: a device that only ever receives (a syslog collector) is still a device.
                    self._add(dst_macs[sel], pk.dst_hi[part], pk.dst_lo[part], pk.vlan_outer[part],
                              fr.ts_ns[part], "dst" + tag)
        other = eth & ~ip
        if other.any():
            # Layer-2-only talkers (GOOSE, EtherCAT, PROFINET RT, LLC, and ARP whatever its body) are devices too.
            idx = np.flatnonzero(other)
            macs = _macs(fr.data, pk.l2_off[idx] + 6)
            zeros = np.zeros(idx.shape[0], np.uint64)
            self._add(macs, zeros, zeros, pk.vlan_outer[idx], fr.ts_ns[idx], "l2")
            dst = _macs(fr.data, pk.l2_off[idx])
            self._add(dst, zeros, zeros, pk.vlan_outer[idx], fr.ts_ns[idx], "l2")
            hint = np.zeros(idx.shape[0], np.int8)
            hint[(dst >> np.uint64(8)) == np.uint64(0x0180C20000)] = 1  # STP, LLDP (IEEE bridge group addresses)
            hint[dst == np.uint64(0x01000CCCCCCC)] = 2  # CDP/VTP
            hint[pk.ethertype[idx] == 0x88CC] = 1  # LLDP on any address
            for m, h in set(zip(macs[hint > 0].tolist(), hint[hint > 0].tolist(), strict=True)):
                self.bridge_protocols.setdefault(mac_text(m), set()).add({1: "STP/LLDP", 2: "CDP"}[h])
        arp = eth & (pk.l3 == 1)
        if arp.any():
            idx = np.flatnonzero(arp)
            base = pk.ip_off[idx]
            # Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4, with room for the sender pair.
            ok = ((fr.data[base + 1] == 1) & (fr.data[base + 2] == 8) & (fr.data[base + 3] == 0)
                  & (fr.data[base + 4] == 6) & (fr.data[base + 5] == 4)
                  & (base + 28 <= fr.offset[idx] + fr.caplen[idx]))
            idx, base = idx[ok], base[ok]
            if idx.shape[0]:
                macs = _macs(fr.data, base + 8)
                spa = np.zeros(idx.shape[0], np.uint64)
                for k in range(4):
                    spa = (spa << np.uint64(8)) | fr.data[base + 14 + k].astype(np.uint64)
                self._add(macs, np.zeros_like(spa), spa | np.uint64(V4_MAPPED), pk.vlan_outer[idx], fr.ts_ns[idx],
                          "arp")

    def _add(self, macs: npt.NDArray[np.uint64], hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64],
             vlan: npt.NDArray[np.int32], ts: npt.NDArray[np.int64], source: str) -> None:
        # Group by a 64-bit mix of the key (sorting uint64 is far cheaper than sorting records), then
        # confirm every group is one exact key; fall back to exact grouping in the unlikely collision.
        v = vlan.astype(np.int64).astype(np.uint64)
        with np.errstate(over="ignore"):
            key = (macs * np.uint64(0x9E3779B97F4A7C15)) ^ (lo * np.uint64(0xBF58476D1CE4E5B9))
            key ^= (hi * np.uint64(0x94D049BB133111EB)) ^ (v * np.uint64(0xD6E8FEB86659FD93))
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_key[1:] != sorted_key[:-1])))
        group = np.cumsum(np.concatenate(([False], sorted_key[1:] != sorted_key[:-1])))
        rep = order[starts][group]
        exact = (macs[order] == macs[rep]) & (lo[order] == lo[rep]) & (hi[order] == hi[rep]) & (v[order] == v[rep])
        if not exact.all():
            keys = np.empty(macs.shape[0], dtype=[(n, np.uint64) for n in ("m", "h", "l", "v")])
            keys["m"], keys["h"], keys["l"], keys["v"] = macs, hi, lo, v
            _, inverse = np.unique(keys, return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            sorted_inv = inverse[order]
            starts = np.flatnonzero(np.concatenate(([True], sorted_inv[1:] != sorted_inv[:-1])))
        ts_sorted = ts[order]
        first = np.minimum.reduceat(ts_sorted, starts)
        last = np.maximum.reduceat(ts_sorted, starts)
        counts = np.diff(np.append(starts, order.shape[0]))
        reps = order[starts]
        rows = zip(macs[reps].tolist(), hi[reps].tolist(), lo[reps].tolist(), vlan[reps].tolist(), first.tolist(),
                   last.tolist(), counts.tolist(), strict=True)
        for m, h, lo_, vl, f, la, c in rows:
            k = (m, h, lo_, vl, source)
            acc = self._acc.get(k)
            if acc is None:
                if len(self._acc) >= self.max_entries:
                    self.dropped += c
                    continue
                self._acc[k] = _Acc(f, la, c)
            else:
                acc.first = min(acc.first, f)
                acc.last = max(acc.last, la)
                acc.packets += c

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        return None

    def sightings(self) -> list[EndpointSighting]:
        out = []
        for (m, h, lo, v, source), acc in sorted(self._acc.items()):
            if m == 0 or (m >> 40) & 1:  # null and group (multicast/broadcast) MACs never identify a sender
                continue
            ip = None if source == "l2" else format_address(h, lo, 6 if source.endswith("6") else 4)
            source = source.rstrip("6")
            out.append(EndpointSighting(mac_text(m), ip, v if v >= 0 else None, acc.first / 1e9, acc.last / 1e9,
                                        acc.packets, source))
        return out

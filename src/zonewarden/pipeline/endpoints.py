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


def _uint_be(data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint64]:
    """``width``-byte (at most 8) big-endian integers at ``offsets``, vectorised: one gather from a view of
    ``data`` as overlapping 8-byte big-endian words; byte by byte only where a word would run off the end."""
    if offsets.shape[0] == 0:
        return np.zeros(0, np.uint64)
    data = np.ascontiguousarray(data)
    size = data.shape[0]
    shift = np.uint64(64 - 8 * width)
    words = np.ndarray((max(size - 7, 0),), ">u8", data, 0, (1,))
    if int(offsets.max()) <= size - 8:
        return (words[offsets] >> shift).astype(np.uint64, copy=False)
    fits = offsets <= size - 8
    out = np.zeros(offsets.shape[0], np.uint64)
    out[fits] = words[offsets[fits]] >> shift
    short = np.flatnonzero(~fits)
    for k in range(width):
        out[short] = (out[short] << np.uint64(8)) | data[offsets[short] + k].astype(np.uint64)
    return out


def _macs(data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """48-bit MAC addresses at ``offsets`` as integers (vectorised)."""
    return _uint_be(data, offsets, 6)


def mac_text(value: int) -> str:
    return value.to_bytes(6, "big").hex(":")


_SOURCE_RANK = {source: rank for rank, source in enumerate(sorted(("arp", "dst", "dst6", "ip", "ip6", "l2")))}


def _key_order(item: tuple[tuple[int, int, int, int, str], object]) -> int:
    """The order of the (MAC, address high, low, VLAN, source) keys as tuples compare, as one integer: integers
    compare far faster than tuples whose first fields are mostly equal (few MACs, IPv4's zero high half)."""
    m, h, lo, v, source = item[0]
    return (((((m << 64) | h) << 64 | lo) << 33 | (v + (1 << 31))) << 3) | _SOURCE_RANK[source]


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
                spa = _uint_be(fr.data, base + 14, 4)
                self._add(macs, np.zeros_like(spa), spa | np.uint64(V4_MAPPED), pk.vlan_outer[idx], fr.ts_ns[idx],
                          "arp")

    def _add(self, macs: npt.NDArray[np.uint64], hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64],
             vlan: npt.NDArray[np.int32], ts: npt.NDArray[np.int64], source: str) -> None:
        n = macs.shape[0]
        if n == 0:
            return
        # Group by a 64-bit mix of the key: its high bits over the row number in the low bits make one integer
        # per row that sorts into groups, rows in order within each (sorting integers is several times cheaper
        # than argsort). Then confirm each group is one exact key; in the unlikely collision, group exactly.
        v = vlan.astype(np.int64).astype(np.uint64)
        with np.errstate(over="ignore"):
            key = macs * np.uint64(0x9E3779B97F4A7C15)
            key ^= lo * np.uint64(0xBF58476D1CE4E5B9)
            key ^= hi * np.uint64(0x94D049BB133111EB)
            key ^= v * np.uint64(0xD6E8FEB86659FD93)
        bits = max(1, (n - 1).bit_length())
        row_bits = np.uint64((1 << bits) - 1)
        key &= ~row_bits
        key |= np.arange(n, dtype=np.uint64)
        key.sort()
        order = (key & row_bits).astype(np.intp)
        key >>= np.uint64(bits)
        change = np.empty(n, np.bool_)
        change[0] = True
        np.not_equal(key[1:], key[:-1], out=change[1:])
        m, h, lw, vv = macs[order], hi[order], lo[order], v[order]
        same = (m[1:] == m[:-1]) & (lw[1:] == lw[:-1]) & (h[1:] == h[:-1]) & (vv[1:] == vv[:-1])
        if (same | change[1:]).all():
            starts = np.flatnonzero(change)
        else:
            keys = np.empty(n, dtype=[(f, np.uint64) for f in ("m", "h", "l", "v")])
            keys["m"], keys["h"], keys["l"], keys["v"] = macs, hi, lo, v
            _, inverse = np.unique(keys, return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            sorted_inv = inverse[order]
            starts = np.flatnonzero(np.concatenate(([True], sorted_inv[1:] != sorted_inv[:-1])))
        ts_sorted = ts[order]
        first = np.minimum.reduceat(ts_sorted, starts)
        last = np.maximum.reduceat(ts_sorted, starts)
        counts = np.diff(np.append(starts, n))
        reps = order[starts]
        rows = zip(macs[reps].tolist(), hi[reps].tolist(), lo[reps].tolist(), vlan[reps].tolist(), first.tolist(),
                   last.tolist(), counts.tolist(), strict=True)
        accs = self._acc
        for m_, h_, lo_, vl, f, la, c in rows:
            k = (m_, h_, lo_, vl, source)
            acc = accs.get(k)
            if acc is None:
                if len(accs) >= self.max_entries:
                    self.dropped += c
                    continue
                accs[k] = _Acc(f, la, c)
            else:
                acc.first = f if f < acc.first else acc.first
                acc.last = la if la > acc.last else acc.last
                acc.packets += c

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        return None

    def sightings(self) -> list[EndpointSighting]:
        out = []
        macs: dict[int, str] = {}
        for (m, h, lo, v, source), acc in sorted(self._acc.items(), key=_key_order):
            if m == 0 or (m >> 40) & 1:  # null and group (multicast/broadcast) MACs never identify a sender
                continue
            mac = macs.get(m)
            if mac is None:
                mac = macs[m] = mac_text(m)
            ip = None if source == "l2" else format_address(h, lo, 6 if source.endswith("6") else 4)
            out.append(EndpointSighting(mac, ip, v if v >= 0 else None, acc.first / 1e9, acc.last / 1e9,
                                        acc.packets, source.rstrip("6")))
        return out

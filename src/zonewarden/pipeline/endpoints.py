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


# Sources as codes: their index here, which is also the order sightings() sorts them in (by name).
SOURCES = ("arp", "dst", "dst6", "ip", "ip6", "l2")
_CODE = {source: code for code, source in enumerate(SOURCES)}
_FAMILY = np.array([6 if source.endswith("6") else 4 for source in SOURCES], np.int64)
COMPACT_ROWS = 1 << 20  # key rows held beyond max_entries before they are merged
V4_TEXT_MASK = np.uint64(0xFFFFFFFF)

# EndpointSighting's fields, one list each.
SightingColumns = tuple[list[str], list[str | None], list[int | None], list[float], list[float], list[int], list[str]]

# Per key (MAC, address high and low halves, VLAN, source code): first and last packet time (ns), packets,
# and the key's arrival (the order in which the dict this replaced would have taken its keys in).
_Part = tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64],
              npt.NDArray[np.int8], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64],
              npt.NDArray[np.int64]]


@dataclass
class EndpointObserver:
    """A pipeline consumer accumulating (MAC, IP, VLAN) sightings; bounded by ``max_entries``: the first keys
    to arrive are followed, the packets of later ones counted in ``dropped``.

    Held in columns, never a Python object per key (a flood of forged MACs or IPs brings a million): each
    batch adds its keys grouped, and the parts are merged (by key; the earliest ``max_entries`` arrivals
    kept) when they hold COMPACT_ROWS rows beyond ``max_entries``, and at the end."""

    max_entries: int = 1_000_000
    dropped: int = 0
    # MACs that speak bridge/switch protocols (STP, LLDP, CDP): network devices.
    bridge_protocols: dict[str, set[str]] = field(default_factory=dict)
    _parts: list[_Part] = field(default_factory=list)
    _held: int = 0  # rows in _parts
    _arrived: int = 0  # key rows taken so far: the arrival of the next

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
        k = starts.shape[0]
        self._parts.append((macs[reps], hi[reps], lo[reps], vlan[reps].astype(np.int64),
                            np.full(k, _CODE[source], np.int8), first, last, counts.astype(np.int64),
                            np.arange(self._arrived, self._arrived + k)))
        self._arrived += k
        self._held += k
        if self._held > self.max_entries + COMPACT_ROWS:
            self._compact()

    def _compact(self) -> None:
        """Merge the parts into one, one row per key in key order, at most ``max_entries`` keys: those that
        arrived first (the rest were never followed: their packets are counted in ``dropped``)."""
        if not self._parts:
            return
        m, h, lo, v, src, first, last, packets, arrival = (np.concatenate(c) for c in zip(*self._parts, strict=True))
        order = np.lexsort((src, v, lo, h, m))
        m, h, lo, v, src = m[order], h[order], lo[order], v[order], src[order]
        change = np.empty(m.shape[0], np.bool_)
        change[0] = True
        change[1:] = ((m[1:] != m[:-1]) | (h[1:] != h[:-1]) | (lo[1:] != lo[:-1]) | (v[1:] != v[:-1])
                      | (src[1:] != src[:-1]))
        starts = np.flatnonzero(change)
        part = (m[starts], h[starts], lo[starts], v[starts], src[starts], np.minimum.reduceat(first[order], starts),
                np.maximum.reduceat(last[order], starts), np.add.reduceat(packets[order], starts),
                np.minimum.reduceat(arrival[order], starts))
        if starts.shape[0] > self.max_entries:
            kept = np.zeros(starts.shape[0], np.bool_)
            kept[np.argsort(part[8], kind="stable")[: self.max_entries]] = True
            self.dropped += int(part[7][~kept].sum())
            part = tuple(column[kept] for column in part)  # type: ignore[assignment]
        self._parts = [part]
        self._held = starts.shape[0] if starts.shape[0] <= self.max_entries else self.max_entries

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        return None

    def sightings(self) -> list[EndpointSighting]:
        """The sightings, in key order (MAC, address, VLAN, source), sender MACs only (null and group MACs
        never identify a sender)."""
        return list(map(EndpointSighting, *self.sighting_columns()))

    def sighting_columns(self) -> SightingColumns:
        """``sightings()`` as one list per EndpointSighting field: what analyze's forked reader sends back (a
        million tuples pickle ten times slower than seven lists of their values)."""
        self._compact()
        if not self._parts:
            return [], [], [], [], [], [], []
        m, h, lo, v, src, first, last, packets, _arrival = self._parts[0]
        station = (m != 0) & ((m >> np.uint64(40)) & np.uint64(1) == 0)
        m, h, lo, v, src, first, last, packets = (c[station] for c in (m, h, lo, v, src, first, last, packets))
        macs: dict[int, str] = {}
        mac_texts = [macs.get(value) or macs.setdefault(value, mac_text(value)) for value in m.tolist()]
        sources = [SOURCES[code].rstrip("6") for code in src.tolist()]
        ips: list[str | None] = [None] * m.shape[0]
        # IPv4 (stored IPv4-mapped) written from its octets; anything else as format_address writes it.
        family = _FAMILY[src]
        addressed = src != _CODE["l2"]
        v4 = addressed & (family == 4) & (h == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
        rows = np.flatnonzero(v4)
        quad = lo[rows] & V4_TEXT_MASK
        octets = [((quad >> np.uint64(s)) & np.uint64(255)).tolist() for s in (24, 16, 8, 0)]
        for i, a, b, c, d in zip(rows.tolist(), *octets, strict=True):
            ips[i] = f"{a}.{b}.{c}.{d}"
        other = np.flatnonzero(addressed & ~v4)
        for i, hi_, lo_, fam in zip(other.tolist(), h[other].tolist(), lo[other].tolist(), family[other].tolist(),
                                    strict=True):
            ips[i] = format_address(hi_, lo_, fam)
        vlans = [x if x >= 0 else None for x in v.tolist()]
        return mac_texts, ips, vlans, (first / 1e9).tolist(), (last / 1e9).tolist(), packets.tolist(), sources

"""IPv4 and IPv6 fragment reassembly (Python: fragments are rare, so this is off the hot path).

Policy: the first copy of a byte wins (a later fragment fills only the holes it covers; overlaps are
counted); a datagram completes when the last fragment has arrived and the holes are all filled;
incomplete datagrams expire after ``timeout`` seconds of packet time. Each fragment costs O(log n) in
the fragments already held (covered bytes are kept as sorted, merged intervals) plus the bytes it
copies, so many tiny fragments cannot make reassembly quadratic. Memory is bounded by datagram count,
fragments per datagram and total buffered bytes, and what a limit drops is counted.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np

from zonewarden.model.packets import PacketBatch

NS = 1_000_000_000
MAX_DATAGRAM = 65535
# 65536 / 8: the most fragments a datagram can be cut into without overlap; beyond it, only duplicates.
MAX_FRAGMENTS = 8192


@dataclass
class FragmentStats:
    fragments: int = 0
    reassembled: int = 0
    expired: int = 0
    overlaps: int = 0
    dropped_limit: int = 0
    dropped_truncated: int = 0
    dropped_malformed: int = 0


@dataclass
class _Datagram:
    header: bytes
    first_ts: int
    last_ts: int = 0
    wirelen: int = 0
    frames: int = 0
    total: int = -1  # payload length, known once the last fragment arrived
    have_first: bool = False  # the offset-0 fragment (whose header the datagram keeps) arrived
    data: bytearray = field(default_factory=bytearray)  # the payload so far; holes are zero
    starts: list[int] = field(default_factory=list)  # covered byte ranges [starts[k], ends[k]):
    ends: list[int] = field(default_factory=list)  # sorted, disjoint and not touching
    vlan: tuple[int, int] = (-1, -1)
    last_frame: int = 0

    def fill(self, offset: int, payload: bytes) -> bool:
        """Copy the bytes of ``payload`` nobody provided yet; True if it overlapped bytes already held."""
        end = offset + len(payload)
        if end == offset:
            return False
        if len(self.data) < end:
            self.data.extend(bytes(end - len(self.data)))
        lo = bisect_left(self.ends, offset)  # first range ending at or after the piece starts
        hi = bisect_right(self.starts, end)  # ranges from lo to hi - 1 overlap or touch the piece
        overlap = False
        pos = offset
        for k in range(lo, hi):
            s, e = self.starts[k], self.ends[k]
            if s < end and e > offset:
                overlap = True
            if s > pos:
                self.data[pos:s] = payload[pos - offset : s - offset]
            pos = max(pos, e)
        if pos < end:
            self.data[pos:end] = payload[pos - offset :]
        new_start = min(offset, self.starts[lo]) if lo < hi else offset
        new_end = max(end, self.ends[hi - 1]) if lo < hi else end
        self.starts[lo:hi] = [new_start]
        self.ends[lo:hi] = [new_end]
        return overlap

    def complete(self) -> bool:
        return self.total >= 0 and bool(self.starts) and self.starts[0] == 0 and self.ends[0] >= self.total


@dataclass(frozen=True, slots=True)
class Reassembled:
    packet: bytes  # a complete IP packet (header + payload)
    ts_ns: int
    wirelen: int  # sum of the fragments' wire lengths
    frames: int
    last_frame: int  # number of the fragment that completed the datagram
    vlan_outer: int
    vlan_inner: int


def _v6_fragment_header(data: bytes) -> tuple[int, int, int, int] | None:
    """Find the fragment header: (its offset, next header, fragment offset|M flag, ident)."""
    nh, p = data[6], 40
    for _ in range(16):
        if nh == 44:
            if p + 8 > len(data):
                return None
            frag_field, ident = struct.unpack_from("!HI", data, p + 2)
            return p, data[p], frag_field, ident
        if nh in (0, 43, 60, 135, 139, 140):
            if p + 2 > len(data):
                return None
            nh, p = data[p], p + (data[p + 1] + 1) * 8
        elif nh == 51:
            if p + 2 > len(data):
                return None
            nh, p = data[p], p + (data[p + 1] + 2) * 4
        else:
            return None
    return None


class FragmentReassembler:
    def __init__(self, max_datagrams: int = 8192, max_bytes: int = 64 << 20, timeout: float = 60.0,
                 max_fragments: int = MAX_FRAGMENTS) -> None:
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes  # payload buffers of all pending datagrams together
        self.max_fragments = max_fragments  # fragments taken per datagram, duplicates included
        self.timeout_ns = int(timeout * NS)
        self.stats = FragmentStats()
        self._pending: dict[tuple[object, ...], _Datagram] = {}
        self._bytes = 0
        self._last_expire = 0

    def add_batch(self, pk: PacketBatch) -> list[Reassembled]:
        out: list[Reassembled] = []
        for i in np.flatnonzero((pk.frag != 0) & (pk.err == 0)).tolist():
            done = self._add(pk, i)
            if done is not None:
                out.append(done)
        return out

    def _add(self, pk: PacketBatch, i: int) -> Reassembled | None:
        self.stats.fragments += 1
        fr = pk.frames
        ts = int(fr.ts_ns[i])
        ip = int(pk.ip_off[i])
        end = int(fr.offset[i] + fr.caplen[i])
        raw = fr.data[ip:end].tobytes()
        if pk.l3[i] == 4:
            ihl = (raw[0] & 0x0F) * 4
            total, ident, flags = struct.unpack_from("!HHH", raw, 2)
            if len(raw) < total:
                self.stats.dropped_truncated += 1
                return None
            offset, more = (flags & 0x1FFF) * 8, bool(flags & 0x2000)
            payload = raw[ihl:total]
            header = raw[:ihl]
            key: tuple[object, ...] = (4, raw[12:20], raw[9], ident, int(pk.vlan_outer[i]), int(pk.vlan_inner[i]))
        else:
            found = _v6_fragment_header(raw)
            if found is None:
                self.stats.dropped_malformed += 1
                return None
            fpos, nh, frag_field, ident = found
            plen = struct.unpack_from("!H", raw, 4)[0]
            if len(raw) < 40 + plen:
                self.stats.dropped_truncated += 1
                return None
            offset, more = frag_field & 0xFFF8, bool(frag_field & 1)
            payload = raw[fpos + 8 : 40 + plen]
            header = raw[:6] + bytes([nh]) + raw[7:40]  # fixed header only, pointing past the fragment
            key = (6, raw[8:40], ident, int(pk.vlan_outer[i]), int(pk.vlan_inner[i]))
        if offset + len(payload) > MAX_DATAGRAM or (more and len(payload) % 8):
            self.stats.dropped_malformed += 1
            return None
        self._expire(ts)
        end = offset + len(payload)
        dg = self._pending.get(key)
        if dg is None:
            if len(self._pending) >= self.max_datagrams or self._bytes + end > self.max_bytes:
                self.stats.dropped_limit += 1
                return None
            dg = _Datagram(header=header, first_ts=ts, vlan=(int(pk.vlan_outer[i]), int(pk.vlan_inner[i])))
            self._pending[key] = dg
        grow = max(0, end - len(dg.data))
        if dg.frames >= self.max_fragments or self._bytes + grow > self.max_bytes:
            self.stats.dropped_limit += 1
            return None
        self._bytes += grow
        if offset == 0 and not dg.have_first:
            dg.header = header
            dg.have_first = True
        dg.last_ts = max(dg.last_ts, ts)
        dg.wirelen += int(fr.wirelen[i])
        dg.frames += 1
        dg.last_frame = fr.first_frame + i if fr.numbers is None else int(fr.numbers[i])
        if not more and dg.total < 0:
            dg.total = end
        if dg.fill(offset, payload):
            self.stats.overlaps += 1
        if not dg.complete():
            return None
        del self._pending[key]
        self._bytes -= len(dg.data)
        self.stats.reassembled += 1
        return self._packet(dg)

    @staticmethod
    def _packet(dg: _Datagram) -> Reassembled:
        header = bytearray(dg.header)
        if header[0] >> 4 == 4:
            ihl = len(header)
            struct.pack_into("!H", header, 2, ihl + dg.total)
            struct.pack_into("!H", header, 6, 0)  # no fragment bits: a whole datagram now
            struct.pack_into("!H", header, 10, 0)
        else:
            struct.pack_into("!H", header, 4, dg.total)
        packet = bytes(header) + bytes(dg.data[: dg.total])
        return Reassembled(packet, dg.last_ts, dg.wirelen, dg.frames, dg.last_frame, *dg.vlan)

    def _expire(self, now: int) -> None:
        if not self._pending or now - self._last_expire < NS:
            return
        self._last_expire = now
        stale = [k for k, d in self._pending.items() if now - d.first_ts > self.timeout_ns]
        for k in stale:
            self._bytes -= len(self._pending.pop(k).data)
            self.stats.expired += 1

    def finish(self) -> None:
        """End of input: whatever is still incomplete is counted as expired."""
        self.stats.expired += len(self._pending)
        self._pending.clear()
        self._bytes = 0

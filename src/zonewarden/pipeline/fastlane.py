"""The fast lane for ``analyze``: the common ICS messages counted by a compiled kernel, not parsed in Python.

What the inventory needs from a Modbus read, an S7 read/write job, a DNP3 poll or a CIP message on a
connection is small: per (sender, receiver, protocol, request/response) a message count, counts per
operation class, first and last time, and which flow carried them. ``FastLane`` runs the kernel
(fastlane_kernel.py) over each batch before the Python path, hands those aggregates to ``on_counts``
(``MessageCounts``, one per kind of message; InventoryBuilder.on_message_counts turns each into what
that many ``on_event`` calls would have done) and tells the Python path, through a ``LaneChunk``, which
packets it consumed, which PDUs it hands to the flows' analyzers as bytes (identity, connection
set-up, anything unusual) and where a flow becomes the Python path's again.

The tables the kernel uses are built here from the analyzers' and the inventory's own tables and
functions, so there is one source for each rule. ``ZONEWARDEN_FASTLANE=0`` turns the lane off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from zonewarden import kernels
from zonewarden.flow.table import FlowAttribution, flow_id_text
from zonewarden.inventory.operations import CLASSIFIERS, S7_ASKED_BY_SERVER
from zonewarden.model.packets import PacketBatch, format_address
from zonewarden.pipeline import fastlane_layout as L
from zonewarden.protocols.base import Analyzer, AnalyzerSpec, Resume
from zonewarden.protocols.dnp3 import codes as dnp3_codes
from zonewarden.protocols.dnp3 import wire_objects
from zonewarden.protocols.dnp3.wire_link import crc16

ENV_SWITCH = "ZONEWARDEN_FASTLANE"
MIN_ROWS = 1024
MIN_SLOTS = 64  # arena slots: DNP3 fragments in several frames the kernel holds at once
RUNS_CAPACITY = 1 << 14
BYTES_CAPACITY = 1 << 20
NO_FUNCTION = 256


def enabled() -> bool:
    """The lane is on unless ZONEWARDEN_FASTLANE=0 (tests and debugging compare both paths)."""
    return os.environ.get(ENV_SWITCH, "1") != "0"


@dataclass
class MessageCounts:
    """``count`` messages of one protocol from ``src`` to ``dst``, all requests or all responses."""

    proto: str
    src: str
    dst: str
    is_response: bool
    count: int
    first: float
    last: float
    operations: dict[str, int] = field(default_factory=dict)
    # Events standing for the distinct answers among them (Modbus unit ids, exception codes), for the marks
    # the inventory reads from answers (roles.sender_marks).
    samples: list[dict[str, Any]] = field(default_factory=list)
    # Flows whose first message is among these: (flow id, client port), for InventoryBuilder's flow orientation.
    flows: list[tuple[str, int]] = field(default_factory=list)


CountsSink = Callable[[MessageCounts], None]


# ---- tables from their sources
def _op_index(name: str | None) -> int:
    if name is None:
        return L.OP_NONE
    if name not in L.OPERATIONS:
        raise ValueError(f"operation class {name!r} unknown to the fast lane (fastlane_layout.OPERATIONS)")
    return L.OPERATIONS.index(name)


def operation_tables() -> npt.NDArray[np.int8]:
    """Rows: Modbus by function code, S7 job by function (256: none), DNP3 by function code, CIP by service
    (any class but 0x37), CIP by service on class 0x37: the operation class inventory.operations gives."""
    c = CLASSIFIERS
    ops = np.full((5, NO_FUNCTION + 1), L.OP_NONE, np.int8)
    for code in range(256):
        request = {"kind": "message", "is_response": False}
        ops[0, code] = _op_index(c["modbus"]({**request, "function_code": code & 0x7F}))
        ops[1, code] = _op_index(c["s7comm"]({**request, "rosctr": 1, "function": code}))
        ops[2, code] = _op_index(c["dnp3"]({**request, "function_code": code}))
        ops[3, code] = _op_index(c["enip"]({**request, "cip_service": code & 0x7F, "cip_class": 2}))
        ops[4, code] = _op_index(c["enip"]({**request, "cip_service": code & 0x7F, "cip_class": 0x37}))
    ops[1, NO_FUNCTION] = _op_index(c["s7comm"]({"rosctr": 1, "function": None}))
    for code in S7_ASKED_BY_SERVER:  # the inventory reverses who asks: on_behalf_of_peer
        ops[1, code] = L.OP_HANDOFF
    return ops


def dnp3_tables() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int16], npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Function code bits, object kinds and sizes by group * 256 + variation, "names points only" objects,
    and the CRC-16/DNP table."""
    fc = np.zeros(256, np.uint8)
    for code in dnp3_codes.RESPONSE_FUNCTIONS:
        fc[code] |= L.DNP_RESPONSE
    for code in dnp3_codes.DATA_REQUESTS:
        fc[code] |= L.DNP_DATA
    for code in dnp3_codes.FREEZE_AT_TIME:
        fc[code] |= L.DNP_FREEZE
    kind = np.full((256, 256), L.OBJ_UNKNOWN, np.int16)
    for (group, variation), size in wire_objects.SIZES.items():
        kind[group, variation] = size
    for table, code in ((wire_objects.PACKED_1BIT, L.OBJ_PACKED1), (wire_objects.PACKED_2BIT, L.OBJ_PACKED2)):
        for group, variation in table:
            kind[group, variation] = code
    kind[sorted(wire_objects.OCTET_GROUPS), :] = L.OBJ_OCTETS
    # Identity, authentication, files: the analyzer's.
    kind[[wire_objects.DEVICE_ATTRIBUTES_GROUP, wire_objects.SA_GROUP, wire_objects.FILE_GROUP], :] = L.OBJ_PYTHON
    # is_empty depends on the group and on whether the variation is 0 ("any variation"); a test holds it to that.
    empty = np.zeros((256, 256), np.uint8)
    for group in range(256):
        empty[group, 0] = wire_objects.is_empty(group, 0)
        empty[group, 1:] = wire_objects.is_empty(group, 1)
    crc = np.array([~crc16(bytes([b])) & 0xFFFF for b in range(256)], np.int64)
    return fc, kind.ravel(), empty.ravel(), crc


def port_map(tcp_ports: Mapping[int, AnalyzerSpec]) -> npt.NDArray[np.int8]:
    """Per TCP port: the fast-lane protocol of the analyzer the dispatcher picks there, PORT_OTHER for another
    analyzer's port, 0 for none."""
    out = np.zeros(65536, np.int8)
    for port, spec in tcp_ports.items():
        out[port] = L.PROTO_CODES.get(spec.name, L.PORT_OTHER)
    return out


@cache
def _tables() -> tuple[npt.NDArray[Any], ...]:
    """Built on first use (``events`` imports this module but never runs the lane)."""
    return (operation_tables(), *dnp3_tables())


PROTO_NAMES = {code: name for name, code in L.PROTO_CODES.items()}


# ---- what the Python path needs to know about one batch
# A hand-off: flow direction, the bytes, the priming word (fastlane_layout.PRIME_*).
Handed = tuple[int, bytes, int]


@dataclass
class LaneChunk:
    """The kernel's verdict on one batch: per packet ``status`` (fastlane_layout.LANE_*) and ``row``, what
    each packet hands off, and the flow state rows (for seeding and priming)."""

    status: npt.NDArray[np.uint8]
    row: npt.NDArray[np.int64]
    handed: dict[int, list[Handed]]
    table: npt.NDArray[np.int64]

    def runs_of(self, i: int) -> list[Handed]:
        """What packet ``i`` hands off, in stream order (frames kept from earlier packets first)."""
        return self.handed.get(i, [])

    def seeds(self, i: int) -> list[tuple[bool, int, bool, int | None]]:
        """Per flow direction, where the stream stands before packet ``i``: (started, next sequence number,
        ended, pending ACK or None)."""
        r = self.table[int(self.row[i])]
        out = []
        for d in range(2):
            t = L.C_TCP + d * L.TCP_COLS
            pending = int(r[t + L.T_PEND]) if r[t + L.T_PEND_VALID] else None
            out.append((bool(r[t + L.T_STARTED]), int(r[t + L.T_EXPECTED]), bool(r[t + L.T_ENDED]), pending))
        return out

    def prime_word(self, i: int) -> int:
        """The priming word (fastlane_layout.PRIME_*) of the flow of packet ``i`` as the kernel left it."""
        r = self.table[int(self.row[i])]
        word = min(int(r[L.C_MSGS]), 0x7FFFFFFF) | min(int(r[L.C_SKIPPED]), 0x7FFF) << L.PRIME_SKIPPED_SHIFT
        for d in range(2):
            t = L.C_TCP + d * L.TCP_COLS
            word |= int(r[t + L.T_SYNC]) << (L.PRIME_SYNC_SHIFT + d) | int(r[t + L.T_DATA]) << (L.PRIME_DATA_SHIFT + d)
        return word | (L.PRIME_S7 if int(r[L.C_FLAGS]) & L.F_S7 else 0)


def _collect(handed: dict[int, list[Handed]], runs: npt.NDArray[np.int64], spilled: npt.NDArray[np.uint8],
             data: npt.NDArray[np.uint8]) -> None:
    for pkt, off, length, word, d in runs.tolist():
        source = data[off : off + length] if off >= 0 else spilled[-1 - off : -1 - off + length]
        handed.setdefault(pkt, []).append((d, source.tobytes(), word))


def prime(analyzer: Analyzer, word: int, swap: int) -> None:
    """Bring an analyzer taking over a flow (or one PDU of it) to the state the PDUs the kernel consumed
    would have left it in: it has seen messages (so a bad one is an anomaly, not "not this protocol"),
    its directions with data are in sync, an S7 connection is known to speak S7comm.

    ``swap`` is 1 when the analyzer's directions are the kernel's reversed."""
    sync = [bool(word >> (L.PRIME_SYNC_SHIFT + d) & 1) for d in range(2)]
    data = [bool(word >> (L.PRIME_DATA_SHIFT + d) & 1) for d in range(2)]
    analyzer.resume(Resume(messages=word & 0x7FFFFFFF, skipped=word >> L.PRIME_SKIPPED_SHIFT & 0x7FFF,
                           in_sync=(sync[swap], sync[1 - swap]), had_data=(data[swap], data[1 - swap]),
                           app="s7comm" if word & L.PRIME_S7 else None))


class FastLane:
    """Runs the kernel per batch and hands the counted messages to ``on_counts`` before the Python path runs."""

    def __init__(self, on_counts: CountsSink, tcp_ports: Mapping[int, AnalyzerSpec]) -> None:
        self.on_counts = on_counts
        self.ports = port_map(tcp_ports)
        self.table = np.full((MIN_ROWS, L.N_COLS), L.EMPTY, np.int64)
        self.syns = np.full((MIN_ROWS, L.N_SCOLS), L.EMPTY, np.int64)  # flows that only opened (fastlane_layout)
        self.addrs = np.zeros((MIN_ROWS, L.N_ACOLS), np.uint64)
        self.params = np.zeros(L.N_PARAMS, np.int64)
        self.arena = np.zeros((MIN_SLOTS, L.ARENA_BYTES), np.uint8)
        self.free = np.arange(MIN_SLOTS, dtype=np.int64)
        self.params[L.P_FREE] = MIN_SLOTS
        self.out_runs = np.zeros((RUNS_CAPACITY, L.N_RCOLS), np.int64)
        self.out_bytes = np.zeros(BYTES_CAPACITY, np.uint8)
        self.consumed = 0  # packets consumed (counted or handed off), for the summary and tests
        self.slow = 0  # flows handed to the Python path

    def run(self, pk: PacketBatch, flows: FlowAttribution) -> LaneChunk:
        n = len(pk)
        fr = pk.frames
        status = np.zeros(n, np.uint8)
        row = np.zeros(n, np.int64)
        dirty = np.zeros(n, np.int64)
        handed: dict[int, list[Handed]] = {}
        start = n_dirty = n_runs = n_bytes = 0
        ops, dnp_fc, dnp_kind, dnp_empty, crc = _tables()
        while True:
            start, n_dirty, n_runs, n_bytes, st = kernels.fastlane_walk(
                fr.data, pk.l4_off, pk.l4_len, pk.proto, pk.err, pk.tcp_flags, pk.seq, pk.ack, pk.sport, pk.dport,
                fr.ts_ns, flows.uid, flows.direction, pk.l3, pk.src_hi, pk.src_lo, pk.dst_hi, pk.dst_lo, flows.fid,
                start, self.ports, ops, dnp_fc, dnp_kind, dnp_empty, crc, self.table, self.syns, self.addrs,
                self.params, self.arena, self.free, status, row, dirty, n_dirty, self.out_runs, n_runs, self.out_bytes,
                n_bytes)
            if n_runs and st != L.ST_NEED_ROOM:
                _collect(handed, self.out_runs[:n_runs], self.out_bytes, fr.data)
                n_runs = n_bytes = 0
            if st == L.ST_NEED_ROOM:
                moved = self._grow()
                dirty[:n_dirty] = moved[dirty[:n_dirty]]
                touched = np.flatnonzero(status[:start] >= L.LANE_HANDOFF)
                row[touched] = moved[row[touched]]
            elif st == L.ST_DONE:
                break
        self.consumed += int(np.count_nonzero((status == L.LANE_CONSUMED) | (status == L.LANE_HANDOFF)))
        self.slow += int(np.count_nonzero(status == L.LANE_SLOW))
        if n_dirty:
            self._flush(dirty[:n_dirty])
        return LaneChunk(status, row, handed, self.table)

    @staticmethod
    def hands_over(protocol: str) -> bool:
        """Whether the lane may give a flow of ``protocol`` to the Python path midway (LANE_SLOW, LANE_HANDOFF):
        those of its own protocols, whose openings it takes."""
        return protocol in L.PROTO_CODES

    def abandon(self, row: int) -> None:
        """The Python analyzer gave the flow up after a hand-off: stop counting it."""
        self.table[row, L.C_MODE] = L.MODE_SLOW

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        kernels.fastlane_forget(self.table, self.syns, self.params, self.free,
                                np.ascontiguousarray(records["uid"], np.int64))

    def _grow(self) -> npt.NDArray[np.int64]:
        """More rows (or fewer tombstones), and more arena slots when few are free; returns where rows moved.
        The table of opening SYNs likewise (nothing outside it keeps its rows' places)."""
        p = self.params
        size = _rebuilt_size(p[L.P_SYN_USED], p[L.P_SYN_TOMBS], self.syns.shape[0])
        if size:
            syns = np.full((size, L.N_SCOLS), L.EMPTY, np.int64)
            old = self.syns.shape[0]  # (no address columns to carry: zero-width arrays)
            kernels.fastlane_rehash(self.syns, np.zeros((old, 0), np.uint64), syns, np.zeros((size, 0), np.uint64),
                                    np.empty(old, np.int64))
            self.syns = syns
            p[L.P_SYN_TOMBS] = 0
        slots = self.arena.shape[0]
        if p[L.P_FREE] * 4 < slots:
            self.arena = np.concatenate((self.arena, np.zeros_like(self.arena)))
            self.free = np.concatenate((self.free[: p[L.P_FREE]], np.arange(slots, 2 * slots),
                                        np.zeros(slots - p[L.P_FREE], np.int64)))
            p[L.P_FREE] += slots
        size = _rebuilt_size(p[L.P_USED], p[L.P_TOMBS], self.table.shape[0])
        if not size:
            return np.arange(self.table.shape[0], dtype=np.int64)
        table = np.full((size, L.N_COLS), L.EMPTY, np.int64)
        addrs = np.zeros((size, L.N_ACOLS), np.uint64)
        moved = np.empty(self.table.shape[0], np.int64)
        kernels.fastlane_rehash(self.table, self.addrs, table, addrs, moved)
        self.table, self.addrs = table, addrs
        p[L.P_TOMBS] = 0
        return moved

    # ---- counted messages to the inventory
    def _flush(self, rows: npt.NDArray[np.int64]) -> None:
        """The counts of the flows counted in this batch, one MessageCounts per (sender, receiver, protocol,
        request or response), to ``on_counts``; then the rows' counters start again."""
        t, a = self.table[rows], self.addrs[rows]
        cnt = t[:, L.C_CNT : L.C_CNT + L.N_COMBOS * L.N_OPS].reshape(len(rows), L.N_COMBOS, L.N_OPS)
        row, combo = np.nonzero(cnt.sum(axis=2))  # one entry per flow and kind of message it carried
        side, resp = combo >> 1, combo & 1
        client, server = a[row][:, [L.A_CLI_HI, L.A_CLI_LO]], a[row][:, [L.A_SRV_HI, L.A_SRV_LO]]
        sender = np.where(side[:, None] == 0, client, server)
        receiver = np.where(side[:, None] == 0, server, client)
        key = np.stack([sender[:, 0], sender[:, 1], receiver[:, 0], receiver[:, 1],
                        t[row, L.C_L3].astype(np.uint64), t[row, L.C_PROTO].astype(np.uint64), resp.astype(np.uint64)])
        order = np.lexsort(key[::-1])
        key = key[:, order]
        row, combo, side, resp = row[order], combo[order], side[order], resp[order]
        starts = np.flatnonzero(np.concatenate(([True], (key[:, 1:] != key[:, :-1]).any(axis=0))))
        ops = np.add.reduceat(cnt[row, combo], starts, axis=0)
        first = np.minimum.reduceat(t[row, L.C_TS_FIRST + combo], starts)
        last = np.maximum.reduceat(t[row, L.C_TS_LAST + combo], starts)
        group = np.cumsum(np.isin(np.arange(len(row)), starts)) - 1
        out = [self._counts(key[:, s], ops[g], int(first[g]), int(last[g])) for g, s in enumerate(starts.tolist())]
        # Samples come from Modbus answers (the server's, for the marks); flows register with their first message.
        for e in np.flatnonzero((t[row, L.C_PROTO] == L.P_MODBUS) & (resp == 1)).tolist():
            out[group[e]].samples.extend(_modbus_samples(t[row[e]]))
        registering = np.flatnonzero(t[row, L.C_FIRST] == combo)
        ports = np.where((side == 0) ^ (resp == 1), t[row, L.C_CLI_PORT], t[row, L.C_SRV_PORT])
        for g, fid, port in zip(group[registering].tolist(), a[row[registering], L.A_FID].tolist(),
                                ports[registering].tolist(), strict=True):
            out[g].flows.append((flow_id_text(fid), port))
        for counts in out:
            self.on_counts(counts)
        self._reset(rows, registered=rows[np.unique(row[registering])])

    @staticmethod
    def _counts(key: npt.NDArray[np.uint64], ops: npt.NDArray[np.int64], first: int, last: int) -> MessageCounts:
        s_hi, s_lo, r_hi, r_lo, l3, proto, resp = key.tolist()
        named = {L.OPERATIONS[k]: n for k, n in enumerate(ops[: L.OP_NONE].tolist()) if n}
        return MessageCounts(PROTO_NAMES[proto], format_address(s_hi, s_lo, l3), format_address(r_hi, r_lo, l3),
                             bool(resp), int(ops.sum()), first / 1e9, last / 1e9, named)

    def _reset(self, rows: npt.NDArray[np.int64], registered: npt.NDArray[np.int64]) -> None:
        t = self.table
        t[rows, L.C_CNT : L.C_TS_FIRST] = 0
        t[rows, L.C_TS_FIRST : L.C_TS_LAST] = np.iinfo(np.int64).max
        t[rows, L.C_TS_LAST : L.C_UNITS] = np.iinfo(np.int64).min
        t[rows, L.C_UNITS : L.N_COLS] = 0
        t[rows, L.C_FLAGS] &= ~L.F_DIRTY
        t[registered, L.C_FIRST] = -1
        t[registered, L.C_FLAGS] |= L.F_FIRST_DONE


def _rebuilt_size(used: int, tombs: int, size: int) -> int:
    """The size to rebuild an open-addressing table at (twice as big when over a quarter full, else the same, to
    clear tombstones), or 0 while it has room: the kernel asks for room past half full, tombstones counted."""
    if (used + tombs + 1) * 2 <= size:
        return 0
    return size * 2 if used * 4 > size else size


def _bits(words: npt.NDArray[np.int64]) -> list[int]:
    """The members of a 256-bit set held in four int64 words, bit k of word k // 64 for member k."""
    return np.flatnonzero(np.unpackbits(words.astype("<i8").view(np.uint8), bitorder="little")).tolist()


def _modbus_samples(r: npt.NDArray[np.int64]) -> list[dict[str, Any]]:
    """Modbus answers standing for those of a flow: one per unit id answered, one per exception code."""
    base = {"proto": "modbus", "kind": "message", "is_response": True, "function_code": 3}
    samples = [{**base, "unit_id": unit, "exception_code": None} for unit in _bits(r[L.C_UNITS : L.C_UNITS + 4])]
    return samples + [{**base, "unit_id": None, "exception_code": code}
                      for code in _bits(r[L.C_EXCEPTIONS : L.C_EXCEPTIONS + 4])]

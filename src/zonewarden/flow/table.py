"""The flow table as Python sees it: growth, sweeping by packet time, eviction under pressure."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from zonewarden import kernels
from zonewarden.errors import ConfigError
from zonewarden.flow.layout import (
    END_ACTIVE,
    END_EVICTED,
    END_IDLE,
    FLOW_DTYPE,
    N_PARAMS,
    P_ACTIVE,
    P_OTHER_IDLE,
    P_TCP_CLOSED,
    P_TCP_IDLE,
    P_UDP_IDLE,
    ST_NEED_ROOM,
    ST_OUT_FULL,
)
from zonewarden.model.packets import PacketBatch

NS = 1_000_000_000
MAX_SECONDS = (2**63 - 1) // NS  # timeouts are held in int64 nanoseconds
MIN_SLOTS = 1 << 14
LOAD = 0.6  # linear probing stays short below this
FINISHED_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """Timeouts are in seconds of packet time (never wall time), so results reproduce exactly.

    Values outside their range (a timeout not above 0, fewer than one flow) raise ConfigError.
    """

    tcp_idle: float = 300.0  # as Zeek's tcp_inactivity_timeout
    udp_idle: float = 60.0
    other_idle: float = 60.0
    tcp_closed: float = 5.0  # linger after FIN/FIN or RST to keep trailing ACKs in the flow
    active: float = 3600.0  # a record at least every hour for long-lived connections
    max_flows: int = 600_000  # live flows held at once; beyond it the least recently seen are evicted
    sweep_every: float = 30.0

    def __post_init__(self) -> None:
        flows = self.max_flows
        if isinstance(flows, bool) or not isinstance(flows, numbers.Integral) or flows < 1:
            raise ConfigError(f"max_flows must be a whole number of at least 1, not {flows!r}")
        for name in ("tcp_idle", "udp_idle", "other_idle", "tcp_closed", "active", "sweep_every"):
            value = getattr(self, name)
            # (NaN fails the range test too)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= MAX_SECONDS:
                raise ConfigError(f"{name} must be a number of seconds above 0 and at most {MAX_SECONDS}, "
                                  f"not {value!r}")


@dataclass(frozen=True, slots=True)
class FlowAttribution:
    """Per packet of a batch: flow uid (-1 when the packet belongs to no flow: non-IP, fragment,
    decode error), direction (0 from the originator, 1 from the responder) and the flow id hash
    (``flow_id_text`` turns it into the id printed everywhere)."""

    uid: npt.NDArray[np.int64]
    direction: npt.NDArray[np.uint8]
    fid: npt.NDArray[np.uint64]


def flow_id_text(fid: int) -> str:
    return f"C{fid:016x}"


@dataclass
class FlowTableStats:
    flows_created: int = 0
    flows_evicted: int = 0
    table_growths: int = 0
    peak_flows: int = 0


@dataclass
class FlowTable:
    settings: FlowSettings = field(default_factory=FlowSettings)

    def __post_init__(self) -> None:
        s = self.settings
        self.params = np.zeros(N_PARAMS, np.int64)
        self.params[P_TCP_IDLE] = int(s.tcp_idle * NS)
        self.params[P_UDP_IDLE] = int(s.udp_idle * NS)
        self.params[P_OTHER_IDLE] = int(s.other_idle * NS)
        self.params[P_TCP_CLOSED] = int(s.tcp_closed * NS)
        self.params[P_ACTIVE] = int(s.active * NS)
        self.max_slots = MIN_SLOTS
        while self.max_slots * LOAD < s.max_flows:
            self.max_slots *= 2
        self.slots = np.zeros(min(MIN_SLOTS, self.max_slots), FLOW_DTYPE)
        self.used = 0
        self.tombs = 0
        self.now = -1
        self._last_sweep = -1
        self._finished: list[npt.NDArray[np.void]] = []
        self._scratch: npt.NDArray[np.void] | None = None
        self.stats = FlowTableStats()

    @property
    def _limit(self) -> int:
        return min(int(self.slots.shape[0] * LOAD), self.settings.max_flows)

    def update(self, pk: PacketBatch) -> FlowAttribution:
        """Attribute every packet to a flow: its uid (-1: none), direction and flow id hash."""
        n = len(pk)
        uid = np.empty(n, np.int64)
        direction = np.empty(n, np.uint8)
        fid = np.empty(n, np.uint64)
        fr = pk.frames
        start = 0
        before = int(self.params[5])
        # A packet finishes at most one flow, but few do: a small buffer, refilled when the kernel
        # reports it full, avoids zeroing megabytes per batch.
        finished = self._finished_buffer
        while True:
            start, self.used, n_fin, status = kernels.update_flows(
                self.slots, self.params, start, self.used, self._limit,
                pk.l3, pk.err, pk.frag, pk.vlan_outer, pk.vlan_inner, pk.src_hi, pk.src_lo, pk.dst_hi,
                pk.dst_lo, pk.proto, pk.sport, pk.dport, pk.tcp_flags, pk.seq, pk.l4_wire_len,
                fr.wirelen, fr.ts_ns, uid, direction, fid, finished, 0,
            )
            if n_fin:
                self._finished.append(finished[:n_fin].copy())
            if status == ST_NEED_ROOM:
                self._make_room(int(fr.ts_ns[start]))
            elif status != ST_OUT_FULL:
                break
        self.stats.flows_created += int(self.params[5]) - before
        self.stats.peak_flows = max(self.stats.peak_flows, self.used)
        if n:
            self.now = max(self.now, int(fr.ts_ns.max()))
            if self._last_sweep < 0:
                self._last_sweep = self.now
            elif self.now - self._last_sweep >= self.settings.sweep_every * NS:
                self._expire(self.now, -1, END_IDLE)
                self._last_sweep = self.now
        return FlowAttribution(uid, direction, fid)

    @property
    def _finished_buffer(self) -> npt.NDArray[np.void]:
        if self._scratch is None:
            self._scratch = np.empty(FINISHED_CHUNK, FLOW_DTYPE)
        return self._scratch

    def _make_room(self, now: int) -> None:
        if self.slots.shape[0] < self.max_slots:
            self._resize(self.slots.shape[0] * 2)
            self.stats.table_growths += 1
            return
        self._expire(max(now, self.now), -1, END_IDLE)
        if self.used >= self._limit:
            # Still full of live flows: finish the least recently seen eighth of them early.
            live = self.slots["ts_last"][self.slots["used"] == 1]
            cut = np.partition(live, live.shape[0] // 8)[live.shape[0] // 8]
            before = self.used
            self._expire(0, int(cut), END_EVICTED)
            self.stats.flows_evicted += before - self.used
        self._resize(self.slots.shape[0])  # drop tombstones

    def _resize(self, size: int) -> None:
        new = np.zeros(size, FLOW_DTYPE)
        kernels.rehash(self.slots, new)
        self.slots = new
        self.tombs = 0

    def _expire(self, now: int, older_than: int, reason: int) -> None:
        resume = 0
        while resume >= 0:
            finished = np.zeros(max(1024, self.used), FLOW_DTYPE)
            sub = self.slots[resume:]
            n_fin, freed, stop = kernels.expire_flows(sub, self.params, now, older_than, finished, 0, reason)
            self.used -= freed
            self.tombs += freed
            if n_fin:
                self._finished.append(finished[:n_fin].copy())
            resume = -1 if stop < 0 else resume + stop
        if self.tombs > self.slots.shape[0] // 4:
            self._resize(self.slots.shape[0])

    def finish_all(self) -> None:
        """End of input: flows already past a timeout at the last packet time are finished as a sweep
        would (idle or active_timeout), so reasons do not depend on where batches were cut; every
        flow still open is finished as active."""
        if self.now >= 0:
            self._expire(self.now, -1, END_IDLE)
        self._expire(-1, -1, END_ACTIVE)
        self.slots = np.zeros(MIN_SLOTS, FLOW_DTYPE)
        self.used = 0
        self.tombs = 0

    def take_finished(self) -> list[npt.NDArray[np.void]]:
        done, self._finished = self._finished, []
        return done

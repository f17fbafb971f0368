"""Flow records -> conversations: who the client is, and one conversation seen on several VLANs counted once.

A flow's originator is the sender of its first packet (the flow table only corrects a TCP SYN-ACK seen
first). Where the capture missed the start (a routed conversation captured on two VLANs, the request on the
client's and the reply on the server's; a capture begun mid-flow), the originator is the server. As Zeek
does (history ``^``), the client is then taken from the strongest evidence (``Evidence``): the analyzer's
messages on the flow, a TCP handshake, the ports (from a likely server port to one that is not), and only
failing all of these the first sender.

Flows are keyed by VLAN and 5-tuple, so a routed conversation is two or more flow records. Records with the
same transport, addresses and ports on different VLANs within ``PAIR_WINDOW_S`` of each other are one
conversation: the best-evidenced record orients it (ties: the earliest start), it counts as one flow, and
per direction its packets and bytes are the most any one VLAN saw (a routed packet seen on two VLANs is one
packet; a VLAN that saw only the requests and another only the replies add up).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from zonewarden.flow.names import history_string, proto_name
from zonewarden.flow.records import FLOW_FIELDS, RECORD_SLICE, FlowRecord
from zonewarden.flow.table import flow_id_text
from zonewarden.model.packets import format_address

PAIR_WINDOW_S = 5.0  # a reply on the server's VLAN follows its request on the client's within this
MAX_PENDING = 1 << 16  # conversations held for a partner (~0.6 kB each); past this the oldest are settled
MAX_PER_KEY = 8  # of one 5-tuple (a fixed-port poll repeats it): the oldest is settled

# Ports a server listens on from 1024 up (every port from 1 to 1023 is one), as Zeek's likely_server_ports:
# the ports of zonewarden's analyzers (a test keeps them in) and common IT services.
SERVICE_PORTS = frozenset({
    # industrial: MQTT, EtherNet/IP I/O, IEC 104, OPC UA, MELSEC, PI, FINS, GE SRTP, DNP3, ProConOS,
    # PROFINET RT/CM, EtherNet/IP, BACnet
    1883, 8883, 2222, 2404, 4840, 4843, 5007, 5450, 5457, 9600, 18245, 20000, 20547, 34962, 34963, 34964,
    44818, 47808,
    # IT: SQL Server, Oracle, RADIUS, NFS, proxy, global catalog, MySQL, RDP, STUN, IPsec NAT-T, SIP,
    # PostgreSQL, AMQP, CoAP, VNC, WinRM, Redis, syslog over TLS, HTTP alternates, WSUS, Elasticsearch
    1433, 1434, 1521, 1812, 1813, 2049, 3128, 3268, 3269, 3306, 3389, 3478, 4500, 5060, 5061, 5432, 5671,
    5672, 5683, 5900, 5985, 5986, 6379, 6514, 8000, 8080, 8443, 8530, 8531, 9200,
})

Endpoint = tuple[str, int]  # address and port (-1 where the transport has none)
PORTED = frozenset({"tcp", "udp", "sctp"})
Vlans = tuple[int | None, int | None]  # outer and inner VLAN id
NO_VLAN: Vlans = (None, None)

# One flow record as the merger takes it (conversation_row; conversation_rows makes them from the flow table's
# columns): flow id, transport, source and destination endpoints, start and end (s), VLANs, packets and bytes
# the source sent, then the destination, whether the TCP handshake was seen (its SYN sender originated the
# flow), and whether the source and the destination each sent something a blind spoofer cannot (``proofs``).
FlowRow = tuple[str, str, Endpoint, Endpoint, float, float, Vlans, int, int, int, int, bool, bool, bool]


class Evidence(IntEnum):
    """How a flow's client is known, weakest first."""

    FIRST_SENDER = 0
    PORTS = 1
    HANDSHAKE = 2
    MESSAGES = 3


def likely_server_port(port: int) -> bool:
    return 0 < port < 1024 or port in SERVICE_PORTS  # 0 is no port anyone listens on


def flow_record(f: FlowRecord | Mapping[str, Any]) -> FlowRecord:
    """A flow record as ``flow_records`` gives it; from a dict with the Flow JSONL fields (missing ones None)."""
    return f if isinstance(f, FlowRecord) else FlowRecord._make(f.get(name) for name in FLOW_FIELDS)


def orient(f: FlowRecord | Mapping[str, Any], app_client: Endpoint | None) -> tuple[bool, Evidence]:
    """Whether the flow's ``src`` is the client, and what says so. ``app_client`` is the client endpoint the
    analyzer's messages on this flow name (the sender of a request, the receiver of a response)."""
    row = conversation_row(f)
    return _orient(row[1], row[2], row[3], row[11], app_client)


def _orient(transport: str, src: Endpoint, dst: Endpoint, handshake: bool,
            app_client: Endpoint | None) -> tuple[bool, Evidence]:
    if app_client is not None and app_client in (src, dst):
        return app_client == src, Evidence.MESSAGES
    if handshake:
        return True, Evidence.HANDSHAKE  # the flow table made the SYN sender the originator
    if transport == "tcp" or transport == "udp":
        from_server, to_server = likely_server_port(src[1]), likely_server_port(dst[1])
        if from_server != to_server:
            return to_server, Evidence.PORTS
    return True, Evidence.FIRST_SENDER


def conversation_row(f: FlowRecord | Mapping[str, Any]) -> FlowRow:
    """What the merger reads of a flow record (FlowRow), from a FlowRecord or a dict with the Flow JSONL fields."""
    f = flow_record(f)
    src, dst = _endpoints(f)
    history = f.history or ""
    proof_src, proof_dst = proofs(f)
    return (f.flow_id, str(f.proto), src, dst, f.ts_start, f.ts_end, (f.vlan, f.vlan_inner), f.packets_orig,
            f.bytes_orig, f.packets_resp, f.bytes_resp, f.proto == "tcp" and ("S" in history or "h" in history),
            proof_src, proof_dst)


def conversation_rows(records: npt.NDArray[np.void]) -> Iterator[FlowRow]:
    """``conversation_row`` of each record ``flow_records`` would make of ``records``, from the columns a slice
    at a time: no FlowRecord is made, and the fields the inventory does not read are never formatted."""
    for start in range(0, len(records), RECORD_SLICE):
        yield from _rows(records[start:start + RECORD_SLICE])


def _rows(r: npt.NDArray[np.void]) -> Iterator[FlowRow]:
    orig_a = r["orig_is_a"] != 0
    proto = r["proto"]
    tcp = proto == 6
    ported = tcp | (proto == 17) | (proto == 132)  # PORTED: ICMP's type and code are no ports
    a_port, b_port = r["a_port"].astype(np.int64), r["b_port"].astype(np.int64)
    ver = r["ipver"].tolist()
    src = list(map(format_address, np.where(orig_a, r["a_hi"], r["b_hi"]).tolist(),
                   np.where(orig_a, r["a_lo"], r["b_lo"]).tolist(), ver))
    dst = list(map(format_address, np.where(orig_a, r["b_hi"], r["a_hi"]).tolist(),
                   np.where(orig_a, r["b_lo"], r["a_lo"]).tolist(), ver))
    sport = np.where(ported, np.where(orig_a, a_port, b_port), -1).tolist()
    dport = np.where(ported, np.where(orig_a, b_port, a_port), -1).tolist()
    outer, inner = r["vlan_outer"], r["vlan_inner"]
    if (outer < 0).all() and (inner < 0).all():
        vlans: list[Vlans] = [NO_VLAN] * len(r)
    else:
        vlans = [(o if o >= 0 else None, i if i >= 0 else None) for o, i in zip(outer.tolist(), inner.tolist(),
                                                                                 strict=True)]
    # The history letters that matter, per distinct history (a handful in a capture).
    histories, which = np.unique(r["history"], return_inverse=True)
    letters = [history_string(h) for h in histories.tolist()]
    handshake = tcp & np.array([("S" in h or "h" in h) for h in letters], np.bool_)[which]
    acked = np.array([("A" in h or "D" in h) for h in letters], np.bool_)[which]
    proof_src = np.where(tcp, (r["payload_o"] != 0) | acked, r["pkts_o"] > 0)
    return zip(list(map(flow_id_text, r["fid"].tolist())), list(map(proto_name, proto.tolist())),
               zip(src, sport, strict=True), zip(dst, dport, strict=True), (r["ts_first"] / 1e9).tolist(),
               (r["ts_last"] / 1e9).tolist(), vlans, r["pkts_o"].tolist(), r["bytes_o"].tolist(),
               r["pkts_r"].tolist(), r["bytes_r"].tolist(), handshake.tolist(), proof_src.tolist(),
               (r["pkts_r"] > 0).tolist(), strict=True)


@dataclass(slots=True)
class Conversation:
    """One conversation between endpoints ``a`` < ``b``, from one flow record per VLAN it was seen on."""

    transport: str
    a: Endpoint
    b: Endpoint
    first: float
    last: float
    client_is_a: bool
    evidence: Evidence
    oriented_at: float  # start of the record whose evidence oriented it
    app: str | None
    packets_a: int = 0  # per direction: the most one record saw
    bytes_a: int = 0
    packets_b: int = 0
    bytes_b: int = 0
    vlans: tuple[tuple[int | None, int | None], ...] = ()
    # Per side: it sent something a blind spoofer cannot (``proofs``), not only attempts to open a connection.
    proven_a: bool = False
    proven_b: bool = False

    def accepts(self, vlans: Vlans, start: float, end: float, window: float) -> bool:
        """A record on ``vlans`` from ``start`` to ``end`` is this conversation seen on another VLAN."""
        return vlans not in self.vlans and start <= self.last + window and self.first <= end + window

    def add(self, row: FlowRow, src_is_a: bool, app: str | None, src_is_client: bool, evidence: Evidence) -> None:
        _fid, _transport, _src, _dst, start, end, vlans, po, bo, pr, br, _hs, proof_src, proof_dst = row
        pa, ba, pb, bb = (po, bo, pr, br) if src_is_a else (pr, br, po, bo)
        self.packets_a, self.bytes_a = max(self.packets_a, pa), max(self.bytes_a, ba)
        self.packets_b, self.bytes_b = max(self.packets_b, pb), max(self.bytes_b, bb)
        self.proven_a = self.proven_a or (proof_src if src_is_a else proof_dst)
        self.proven_b = self.proven_b or (proof_dst if src_is_a else proof_src)
        self.first, self.last = min(self.first, start), max(self.last, end)
        self.vlans += (vlans,)
        self.app = self.app or app
        if (evidence, -start) > (self.evidence, -self.oriented_at):
            self.client_is_a, self.evidence, self.oriented_at = src_is_client == src_is_a, evidence, start


class ConversationMerger:
    """Pairs flow records into conversations. A conversation is settled (handed back) at the end of the
    input, or earlier to bound memory: the oldest of a 5-tuple past ``MAX_PER_KEY`` (a partner record
    finishes close to its pair), the oldest of all past ``max_pending``; it is then counted as far as its
    records go."""

    def __init__(self, window_s: float = PAIR_WINDOW_S, max_pending: int = MAX_PENDING) -> None:
        self.window_s = window_s
        self.max_pending = max_pending
        # In arrival order, oldest settled first: an OrderedDict pops its first key in O(1) where a dict's
        # ``next(iter(...))`` walks past every key already popped (quadratic in a flood of one-packet flows).
        self._pending: OrderedDict[tuple[str, Endpoint, Endpoint], list[Conversation]] = OrderedDict()
        self._count = 0

    def add(self, f: FlowRecord | Mapping[str, Any], app: str | None,
            app_client: Endpoint | None) -> list[Conversation]:
        """Take one flow record; return the conversations this settles."""
        return self.add_row(conversation_row(f), app, app_client)

    def add_row(self, row: FlowRow, app: str | None, app_client: Endpoint | None) -> list[Conversation]:
        """``add`` for a record's FlowRow (the packet pass's path: conversation_rows)."""
        _fid, transport, src, dst, start, end, vlans, po, bo, pr, br, handshake, proof_src, proof_dst = row
        src_is_client, evidence = _orient(transport, src, dst, handshake, app_client)
        src_is_a = not dst < src
        a, b = (src, dst) if src_is_a else (dst, src)
        key = (transport, a, b)
        waiting = self._pending.get(key)
        if waiting is None:
            waiting = self._pending[key] = []
        for conv in waiting:
            if conv.accepts(vlans, start, end, self.window_s):
                conv.add(row, src_is_a, app, src_is_client, evidence)
                break
        else:
            # A new conversation: what ``add`` would make of its first record.
            if src_is_a:
                pa, ba, pb, bb, proven_a, proven_b = po, bo, pr, br, proof_src, proof_dst
            else:
                pa, ba, pb, bb, proven_a, proven_b = pr, br, po, bo, proof_dst, proof_src
            waiting.append(Conversation(transport, a, b, start, end, src_is_client == src_is_a, evidence, start,
                                        app, pa, ba, pb, bb, (vlans,), proven_a, proven_b))
            self._count += 1
        if len(waiting) <= MAX_PER_KEY and self._count <= self.max_pending:
            return []
        settled = []
        if len(waiting) > MAX_PER_KEY:
            settled.append(waiting.pop(0))
            self._count -= 1
        while self._count > self.max_pending:
            oldest = self._pending.popitem(last=False)[1]
            self._count -= len(oldest)
            settled.extend(oldest)
        return settled

    def drain(self) -> list[Conversation]:
        """Settle every conversation still waiting (the end of the input)."""
        pending, self._pending, self._count = self._pending, OrderedDict(), 0
        return [c for waiting in pending.values() for c in waiting]


def proofs(f: FlowRecord) -> tuple[bool, bool]:
    """Whether the record's source and its destination each sent something a blind spoofer cannot.

    A TCP originator that only ever sent SYNs (or a RST or FIN) without payload, and never a pure ACK, may be
    any address an attacker wrote into a flood: it never showed it received the answer. Anything else a side
    sent counts (a responder answers from where it is; UDP and other protocols carry no such proof).
    """
    if f.proto != "tcp":
        return f.packets_orig > 0, f.packets_resp > 0
    history = f.history
    if history is None:  # a record without the TCP history (older Flow JSONL): nothing says it was spoofed
        return f.packets_orig > 0, f.packets_resp > 0
    return bool(f.payload_orig) or "A" in history or "D" in history, f.packets_resp > 0


def _endpoints(f: FlowRecord) -> tuple[Endpoint, Endpoint]:
    """The record's source and destination; ICMP's type and code (in its port fields) are not ports."""
    if f.proto in PORTED and f.sport is not None and f.dport is not None:
        return (str(f.src), int(f.sport)), (str(f.dst), int(f.dport))
    return (str(f.src), -1), (str(f.dst), -1)

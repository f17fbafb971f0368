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
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from zonewarden.flow.records import FLOW_FIELDS, FlowRecord

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
    f = flow_record(f)
    return _orient(f, *_endpoints(f), app_client)


def _orient(f: FlowRecord, src: Endpoint, dst: Endpoint, app_client: Endpoint | None) -> tuple[bool, Evidence]:
    if app_client is not None and app_client in (src, dst):
        return app_client == src, Evidence.MESSAGES
    proto = f.proto
    if proto == "tcp" and ("S" in (history := f.history or "") or "h" in history):
        return True, Evidence.HANDSHAKE  # the flow table made the SYN sender the originator
    if proto == "tcp" or proto == "udp":
        from_server, to_server = likely_server_port(src[1]), likely_server_port(dst[1])
        if from_server != to_server:
            return to_server, Evidence.PORTS
    return True, Evidence.FIRST_SENDER


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

    def accepts(self, f: FlowRecord, window: float) -> bool:
        """The record is this conversation seen on another VLAN."""
        return ((f.vlan, f.vlan_inner) not in self.vlans
                and f.ts_start <= self.last + window and self.first <= f.ts_end + window)

    def add(self, f: FlowRecord, src_is_a: bool, app: str | None, src_is_client: bool, evidence: Evidence) -> None:
        if src_is_a:
            pa, ba, pb, bb = f.packets_orig, f.bytes_orig, f.packets_resp, f.bytes_resp
        else:
            pa, ba, pb, bb = f.packets_resp, f.bytes_resp, f.packets_orig, f.bytes_orig
        self.packets_a, self.bytes_a = max(self.packets_a, pa), max(self.bytes_a, ba)
        self.packets_b, self.bytes_b = max(self.packets_b, pb), max(self.bytes_b, bb)
        proof_src, proof_dst = proofs(f)
        self.proven_a = self.proven_a or (proof_src if src_is_a else proof_dst)
        self.proven_b = self.proven_b or (proof_dst if src_is_a else proof_src)
        self.first, self.last = min(self.first, f.ts_start), max(self.last, f.ts_end)
        self.vlans += ((f.vlan, f.vlan_inner),)
        self.app = self.app or app
        if (evidence, -f.ts_start) > (self.evidence, -self.oriented_at):
            self.client_is_a, self.evidence, self.oriented_at = src_is_client == src_is_a, evidence, f.ts_start


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
        return self.add_record(flow_record(f), app, app_client)

    def add_record(self, f: FlowRecord, app: str | None, app_client: Endpoint | None) -> list[Conversation]:
        """``add`` for a FlowRecord (the packet pass's path)."""
        src, dst = _endpoints(f)
        src_is_client, evidence = _orient(f, src, dst, app_client)
        a, b = (dst, src) if dst < src else (src, dst)
        proto = str(f.proto)
        key = (proto, a, b)
        waiting = self._pending.get(key)
        if waiting is None:
            waiting = self._pending[key] = []
        for conv in waiting:
            if conv.accepts(f, self.window_s):
                conv.add(f, src == a, app, src_is_client, evidence)
                break
        else:
            # A new conversation: what ``add`` would make of its first record.
            sent = (f.packets_orig, f.bytes_orig, f.packets_resp, f.bytes_resp)
            pa, ba, pb, bb = sent if src == a else (sent[2], sent[3], sent[0], sent[1])
            proof_src, proof_dst = proofs(f)
            proven_a, proven_b = (proof_src, proof_dst) if src == a else (proof_dst, proof_src)
            waiting.append(Conversation(proto, a, b, f.ts_start, f.ts_end, src_is_client == (src == a), evidence,
                                        f.ts_start, app, pa, ba, pb, bb, ((f.vlan, f.vlan_inner),), proven_a,
                                        proven_b))
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

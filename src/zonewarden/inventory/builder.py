"""Build the inventory from one run: address sightings, flows and protocol events -> assets and edges.

An asset is a device, not an address. Where the segment is local (Ethernet, MAC seen), an asset is
keyed by its MAC and owns every IP it sends from; a MAC sending for many IPs it never claimed by ARP
is a router, so those IPs become assets of their own; with no MAC (raw IP captures, remote hosts)
an asset is keyed by its IP. Assets describing themselves with the same vendor and serial number
are one device seen on two interfaces and are merged.
"""

from __future__ import annotations

import hashlib
import math
import socket
from collections import defaultdict
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from zonewarden.flow.records import FlowRecord
from zonewarden.inventory.conversations import (
    Conversation,
    ConversationMerger,
    Endpoint,
    FlowRow,
    conversation_row,
    conversation_rows,
)
from zonewarden.inventory.facts import MAX_ADDRESSES, Addresses, EdgeAcc
from zonewarden.inventory.identity import EXTRACTORS, SUBJECTS
from zonewarden.inventory.levels import parse_address, propose_levels
from zonewarden.inventory.operations import on_behalf_of_peer, operation
from zonewarden.inventory.oui import mac_vendor
from zonewarden.inventory.resolution import resolve, resolve_attribute
from zonewarden.inventory.roles import MAX_MARKS, Behaviour, RoleDecision, infer_role, sender_marks
from zonewarden.model.assets import Asset, Edge, EndpointSighting, Evidence
from zonewarden.model.events import field_of as _g

ROUTER_MIN_IPS = 4  # a MAC sending for this many IPs it never claimed by ARP forwards for others
MAX_APP_FLOWS = 1_000_000  # flow id -> application protocol and client, for attributing flow volumes to edges
LEVEL_DISCOUNT = 0.1  # a Purdue level proposed from a role is a step less sure than the role
SCANNER_MIN_ATTEMPTS = 3  # unanswered connection attempts that make a source with no MAC of its own an asset
MAX_GROUP_REQUESTS = 4096  # layer-2 requests to a group address, for counting their answers' operations


_UNICAST: dict[str, bool] = {}
MAX_UNICAST_CACHED = 1 << 16


def is_unicast(ip: str) -> bool:
    """Whether ``ip`` can be one device's address. Remembered in a plain dict that starts again when full: the
    inventory asks about the same few addresses over and over, and a flood of distinct forged sources would
    make an LRU cache pay its bookkeeping on every miss (twice the cost of the answer)."""
    known = _UNICAST.get(ip)
    if known is None:
        if len(_UNICAST) >= MAX_UNICAST_CACHED:
            _UNICAST.clear()
        known = _UNICAST[ip] = _is_unicast(ip)
    return known


def _is_unicast(ip: str) -> bool:
    try:  # IPv4 text in C
        first = socket.inet_pton(socket.AF_INET, ip)[0]
    except OSError:
        addr = parse_address(ip)
        return addr is not None and not (addr.is_multicast or addr.is_unspecified or addr.version == 4)
    return not (224 <= first <= 239 or ip == "0.0.0.0" or ip.endswith(".255"))


def _is_group_mac(mac: str) -> bool:
    """Broadcast or multicast (the group bit of the first octet); anything not a MAC address is no station."""
    try:
        return bool(int(mac[:2], 16) & 1)
    except ValueError:
        return True


def asset_id(key: str) -> str:
    """Stable id from the asset's primary key ("mac:..." or "ip:..."), so runs and stores agree."""
    return "A" + hashlib.blake2b(key.encode(), digest_size=6).hexdigest()


class InventoryBuilder:
    def __init__(self) -> None:
        self.ips = Addresses(MAX_ADDRESSES)
        self.macs = Addresses(MAX_ADDRESSES)
        self.sightings: list[EndpointSighting] = []
        self.edges: dict[tuple[str, str, str], EdgeAcc] = defaultdict(EdgeAcc)
        self._app_flows: dict[str, tuple[str, Endpoint]] = {}
        self._conversations = ConversationMerger()
        self._group_requests: dict[tuple[str, str, Any], str | None] = {}
        self.bridge_protocols: dict[str, set[str]] = {}
        self.probed_only: list[str] = []
        self.refused_macs = 0  # MAC addresses past the limit at build time (sightings)
        self.unproven_only: list[str] = []  # addresses that only tried to open a connection or two (build)
        self._roles: dict[str, RoleDecision] = {}  # asset id -> role decision, read when placing levels

    @property
    def refused(self) -> int:
        """Lookups of addresses past MAX_ADDRESSES (IP or MAC) and MACs left out at build: 0 unless flooded."""
        return self.ips.refused + self.macs.refused + self.refused_macs

    # ---- inputs
    def on_event(self, e: Any) -> None:
        """One protocol event (an Event object or its dict form)."""
        if _g(e, "kind") != "message":
            return
        proto, src, dst, ts = str(_g(e, "proto")), str(_g(e, "src")), str(_g(e, "dst")), float(_g(e, "ts"))
        layer2 = _g(e, "sport") is None and ":" in src and src.count(":") == 5
        facts = self.macs if layer2 else self.ips
        if not layer2 and not (is_unicast(src)):
            return
        sender = facts[src]
        sender.seen(ts)
        sender.sent = sender.proven = True
        extract = EXTRACTORS.get(proto)
        if extract is not None and (found := extract(e)):
            about = SUBJECTS.get(proto)
            address = about(e) if about is not None else None  # another device the message speaks for (an IP)
            if address is None or is_unicast(address):
                subject = sender if address is None else self.ips[address]
                if address is not None:
                    subject.seen(ts)
                    subject.sent = subject.proven = True  # its own message, relayed: a device, even if never seen
                for attribute, value, confidence in found:
                    subject.add(Evidence(attribute, value, proto, ts, _g(e, "flow_id"), confidence))
        if len(sender.marks) < MAX_MARKS:
            sender.marks.update(sender_marks(e))
        if layer2:
            (sender.served if _g(e, "is_response") else sender.used).add(proto)
            address = _g(e, "ip_address")
            if proto == "profinet_dcp" and _g(e, "is_response") and address and is_unicast(str(address)):
                # A DCP answer states the station's own IP: as good as an ARP claim for grouping.
                self.sightings.append(EndpointSighting(src, str(address), None, ts, ts, 1, "arp"))
            self._layer2_edge(e, proto, src, str(_g(e, "dst")), ts)
            return
        op = operation(e)
        response = bool(_g(e, "is_response")) != on_behalf_of_peer(e)
        flow = _g(e, "flow_id")
        port = _g(e, "dport" if response else "sport")
        self._messages(proto, src, dst, response, 1, ts, ts, {op: 1} if op is not None else {},
                       [(str(flow), -1 if port is None else int(port))] if flow else [])

    def on_message_counts(self, proto: str, src: str, dst: str, is_response: bool, count: int, first: float,
                          last: float, operations: dict[str, int], samples: Iterable[dict[str, Any]] = (),
                          flows: Iterable[tuple[str, int]] = ()) -> None:
        """``count`` messages counted by the fast lane (pipeline/fastlane.py) between ``first`` and ``last``:
        the effect of that many ``on_event`` calls for IP messages without identity. ``samples`` are events
        standing for the distinct answers among them (for the marks), ``flows`` (flow id, client port) the
        flows whose first message is among them."""
        if not is_unicast(src):
            return
        sender = self.ips[src]
        sender.seen(first)
        sender.seen(last)
        sender.sent = sender.proven = True
        for sample in samples:
            if len(sender.marks) < MAX_MARKS:
                sender.marks.update(sender_marks(sample))
        self._messages(proto, src, dst, is_response, count, first, last, operations, flows)

    def _messages(self, proto: str, src: str, dst: str, is_response: bool, count: int, first: float, last: float,
                  operations: dict[str, int], flows: Iterable[tuple[str, int]]) -> None:
        """What ``count`` IP messages from a unicast ``src`` say: who serves and uses the protocol, the edge's
        counts and operations, which flows they oriented (flow id, client port)."""
        client, server = (dst, src) if is_response else (src, dst)
        if not is_unicast(dst):
            if not is_response:
                self.ips[src].used.add(proto)
            return
        self.ips[dst].seen(first)
        self.ips[dst].seen(last)
        self.ips[dst].sent = self.ips[dst].proven = True  # addressed by an application message: a device
        self.ips[server].served.add(proto)
        self.ips[client].used.add(proto)
        if client not in self.ips or server not in self.ips:
            return  # one is past the address limit
        self.ips[client].servers.add(server)
        self.ips[client].polled.setdefault(proto, set()).add(server)
        edge = self.edges[(client, server, proto)]
        edge.messages += count
        edge.seen(first)
        edge.seen(last)
        edge_ops, client_ops = edge.operations, self.ips[client].client_ops
        for op, n in operations.items():
            edge_ops[op] = edge_ops.get(op, 0) + n
            client_ops[op] = client_ops.get(op, 0) + n
        for flow, port in flows:
            if len(self._app_flows) < MAX_APP_FLOWS:
                self._app_flows.setdefault(flow, (proto, (client, port)))

    def on_flow(self, f: FlowRecord | Mapping[str, Any]) -> None:
        """One finished flow record: oriented by the evidence, paired with its records on other VLANs."""
        self._on_rows((conversation_row(f),))

    def on_finished_flows(self, records: npt.NDArray[np.void]) -> None:
        """``on_flow`` for each record of a batch of finished flows as the flow table gives them (the packet
        pass's path: the rows come from the columns, conversations.conversation_rows)."""
        self._on_rows(conversation_rows(records))

    def _on_rows(self, rows: Iterable[FlowRow]) -> None:
        app_flow, add, on_conversation = self._app_flows.pop, self._conversations.add_row, self._on_conversation
        for row in rows:
            proto, client = app_flow(row[0], (None, None))
            for conv in add(row, proto, client):
                on_conversation(conv)

    def _on_conversation(self, c: Conversation) -> None:
        ips, first, last = self.ips, c.first, c.last
        (ip_a, port_a), (ip_b, port_b) = c.a, c.b
        # An address the builder follows is unicast (only those are taken in): the check is for new ones.
        if (facts_a := ips.get(ip_a)) is None and is_unicast(ip_a):
            facts_a = ips.known(ip_a)
        if (facts_b := ips.get(ip_b)) is None and is_unicast(ip_b):
            facts_b = ips.known(ip_b)
        for facts, packets, proven in ((facts_a, c.packets_a, c.proven_a), (facts_b, c.packets_b, c.proven_b)):
            if facts is not None:
                facts.span(first, last)
                if packets:
                    facts.sent = True
                    facts.proven = facts.proven or proven
                    facts.attempts += not proven
        if facts_a is None or facts_b is None:  # not unicast, or past the address limit
            return
        client, server, port, server_sent = ((facts_a, facts_b, port_b, c.packets_b) if c.client_is_a
                                             else (facts_b, facts_a, port_a, c.packets_a))
        ported = (c.transport == "tcp" or c.transport == "udp") and port >= 0
        if ported and server_sent:
            server.ports_served.add(port)
            client.ports_used.add(port)
        client_ip, server_ip = (ip_a, ip_b) if c.client_is_a else (ip_b, ip_a)
        edge = self.edges[(client_ip, server_ip, c.app or (f"{c.transport}/{port}" if ported else c.transport))]
        edge.flows += 1
        edge.packets += c.packets_a + c.packets_b
        edge.bytes += c.bytes_a + c.bytes_b
        edge.span(first, last)
        client.servers.add(server_ip)

    def _layer2_edge(self, e: Any, proto: str, src: str, dst: str, ts: float) -> None:
        """The requester is the client, each responder a server; a request to a group address names no
        server, so its operation is counted on the edges of the answers it gets."""
        response = bool(_g(e, "is_response"))
        if not response and _is_group_mac(dst):
            if len(self._group_requests) >= MAX_GROUP_REQUESTS:
                del self._group_requests[next(iter(self._group_requests))]
            self._group_requests[(proto, src, _g(e, "xid"))] = operation(e)
            return
        client, server = (dst, src) if response else (src, dst)
        if _is_group_mac(client) or _is_group_mac(server):
            return
        op = self._group_requests.get((proto, client, _g(e, "xid"))) if response else operation(e)
        self.macs[dst].seen(ts)  # addressed by an application message: a device, as for IP
        if client not in self.macs or server not in self.macs:
            return  # one is past the address limit
        edge = self.edges[(client, server, proto)]
        edge.messages += 1
        edge.seen(ts)
        if op is not None:
            edge.operations[op] = edge.operations.get(op, 0) + 1

    def on_sightings(self, sightings: Iterable[EndpointSighting],
                     bridge_protocols: dict[str, set[str]] | None = None) -> None:
        self.sightings.extend(sightings)
        for mac, protos in (bridge_protocols or {}).items():
            self.bridge_protocols.setdefault(mac, set()).update(protos)

    # ---- grouping addresses into assets
    def build(self) -> tuple[list[Asset], list[Edge]]:
        for conv in self._conversations.drain():
            self._on_conversation(conv)
        sent_from: dict[str, set[str]] = defaultdict(set)
        received: dict[str, set[str]] = defaultdict(set)
        claimed: dict[str, set[str]] = defaultdict(set)
        tables = {"arp": claimed, "ip": sent_from, "dst": received}
        owner: dict[str, str] = {}
        first_seen: dict[str, float] = {}
        last_seen: dict[str, float] = {}
        layer2_only: set[str] = set()
        # Each address is classified once here: a flood names hundreds of thousands, more than is_unicast's
        # cache holds, and the loops below ask about each several times.
        addresses = {s.ip for s in self.sightings if s.ip is not None}
        addresses.update(self.ips)
        unicast = set(filter(_is_unicast, addresses))
        known_ip = self.ips.get
        # (A flood brings hundreds of thousands of sightings: this loop is written for speed.)
        for mac, ip, _vlan, first, last, _packets, source in sorted(self.sightings, key=attrgetter("first_seen")):
            first_seen.setdefault(mac, first)  # in order of first_seen: the first is the earliest
            if last > last_seen.get(mac, -math.inf):
                last_seen[mac] = last
            if ip is None:
                layer2_only.add(mac)
                continue
            tables[source][mac].add(ip)
            if ip in unicast:
                if source == "arp":
                    owner.setdefault(ip, mac)  # the first ARP claim wins; later rival claims are spoofing hints
                facts = known_ip(ip) or self.ips.known(ip)
                if facts is not None:
                    facts.span(first, last)
                    facts.sent = facts.sent or source != "dst"
        behind = {mac: ((sent_from[mac] | received[mac]) & unicast) - claimed[mac]
                  for mac in set(sent_from) | set(received)}
        routers = {mac: len(ips) for mac, ips in behind.items() if len(ips) >= ROUTER_MIN_IPS}
        # Sending from an address binds it more firmly than receiving on it (a host's own address).
        for table in (sent_from, received):
            for mac in sorted(table):
                if mac not in routers:
                    ips = table[mac]
                    for ip in (ips if len(ips) == 1 else sorted(ips)):  # (a flood of MACs: a million sorts)
                        if ip in unicast:
                            owner.setdefault(ip, mac)
        owned: dict[str, list[str]] = defaultdict(list)
        for ip, mac in owner.items():
            owned[mac].append(ip)
        groups: dict[str, tuple[list[str], list[str]]] = {}
        macs = set(sent_from) | set(received) | set(claimed) | set(self.macs) | layer2_only
        if len(macs) > MAX_ADDRESSES:  # a MAC flood: the earliest seen are kept (the site before the flood)
            kept = set(sorted(macs, key=lambda m: (first_seen.get(m, float("inf")), m))[:MAX_ADDRESSES])
            self.refused_macs = len(macs) - len(kept)
            macs = kept
        for mac in sorted(macs):
            groups[f"mac:{mac}"] = (sorted(owned.get(mac, ())), [mac])
        # An address with no MAC of its own that never sent a packet (a scan target behind a router, a
        # host that was down) is not evidence of a device, nor is one that only tried to open a connection
        # or two and never showed it got the answer (the random sources of a spoofed SYN flood): both are
        # counted, not made assets. A scanner trying many is kept.
        probed: list[str] = []
        unproven: list[str] = []
        talkers: list[str] = []
        for ip, facts in self.ips.items():
            if ip not in owner and ip in unicast:
                if not facts.sent:
                    probed.append(ip)
                elif not facts.proven and 0 < facts.attempts < SCANNER_MIN_ATTEMPTS:
                    unproven.append(ip)
                else:
                    talkers.append(ip)
        self.probed_only = sorted(probed)
        self.unproven_only = sorted(unproven)
        for ip in sorted(talkers):
            groups[f"ip:{ip}"] = ([ip], [])
        built = [self._asset(key, ips, macs, routers.get(macs[0], 0) if macs else 0, first_seen, last_seen)
                 for key, (ips, macs) in groups.items()]
        assets = _merge_same_device([a for a in built if a is not None])
        self._place(assets)
        by_address = {address: a.asset_id for a in assets for address in [*a.ips, *a.macs]}
        edges = []
        for (client, server, proto), acc in sorted(self.edges.items()):
            if client in by_address and server in by_address:
                edges.append(Edge(by_address[client], by_address[server], proto, dict(sorted(acc.operations.items())),
                                  acc.messages, acc.flows, acc.packets, acc.bytes, acc.first, acc.last))
        return assets, _merge_edges(edges)

    def _asset(self, key: str, ips: list[str], macs: list[str], forwards_for: int, first_seen: dict[str, float],
               last_seen: dict[str, float]) -> Asset | None:
        facts = [self.ips[ip] for ip in ips if ip in self.ips] + [self.macs[m] for m in macs if m in self.macs]
        times = [t for f in facts for t in (f.first, f.last) if t is not None]
        times += [first_seen[m] for m in macs if m in first_seen] + [last_seen[m] for m in macs if m in last_seen]
        if not times:
            return None
        first, last = min(times), max(times)
        asset = Asset(asset_id(key), ips=ips, macs=macs, mac_vendor=mac_vendor(macs[0]) if macs else None,
                      first_seen=first, last_seen=last)
        served = set().union(*(f.served for f in facts))
        used = set().union(*(f.used for f in facts))
        asset.protocols = {"served": sorted(served), "used": sorted(used)}
        if len(facts) == 1:  # one address: its evidence is already one piece per (attribute, value, protocol)
            evidence = list(facts[0].evidence.values())
        else:
            # One asset may own several addresses that each saw the same message: keep each piece once.
            unique: dict[tuple[str, str, str, float, str | None], Evidence] = {}
            for f in facts:
                for ev in f.evidence.values():
                    unique.setdefault((ev.attribute, repr(ev.value), ev.proto, ev.ts, ev.flow_id), ev)
            evidence = list(unique.values())
        behaviour = Behaviour(served, used, products=[str(ev.value) for ev in evidence
                                                      if ev.attribute in ("product_name", "product_code")],
                              forwards_for=forwards_for,
                              bridging=sorted({p for m in macs for p in self.bridge_protocols.get(m, ())}))
        servers: set[str] = set()
        for f in facts:
            if f.client_ops:
                behaviour.client_ops.update(f.client_ops)
            behaviour.ports_served |= f.ports_served
            behaviour.ports_used |= f.ports_used
            behaviour.marks |= f.marks
            servers |= f.servers
            for proto, polled in f.polled.items():
                behaviour.polled.setdefault(proto, set()).update(polled)
        behaviour.servers = len(servers)
        decision = infer_role(behaviour)
        if decision is not None:
            self._roles[asset.asset_id] = decision
            evidence.append(Evidence("role", decision.role, "behaviour", first, None, decision.confidence))
            evidence.append(Evidence("role_reason", decision.reason, "behaviour", first, None, decision.confidence))
        asset.evidence = sorted(evidence, key=_evidence_order)
        resolve(asset)
        return asset

    def _place(self, assets: list[Asset]) -> None:
        """Purdue level of each asset from its role and its subnet's place in the traffic (levels.py)."""
        unproven = set(self.unproven_only)  # their attempts place no subnet
        placed = propose_levels(assets, self._roles, [key for key in self.edges
                                                      if key[0] not in unproven and key[1] not in unproven])
        for a in assets:
            level = placed.get(a.asset_id)
            if level is None or a.first_seen is None:
                continue
            # As sure as the role it follows from, a step below it.
            confidence = round(self._roles[a.asset_id].confidence - LEVEL_DISCOUNT, 2)
            if level.purdue_level is not None:
                a.evidence.append(Evidence("purdue_level", level.purdue_level, "behaviour", a.first_seen, None,
                                           confidence))
            a.evidence.append(Evidence("purdue_level_reason", level.reason, "behaviour", a.first_seen, None,
                                       confidence))
            a.evidence.sort(key=_evidence_order)
            resolve_attribute(a, "purdue_level")


def _evidence_order(ev: Evidence) -> tuple[str, float, float]:
    return ev.attribute, -ev.confidence, ev.ts


def _merge_same_device(assets: list[Asset]) -> list[Asset]:
    by_identity: dict[tuple[str, str], Asset] = {}
    out: list[Asset] = []
    for a in assets:
        if a.serial and (a.vendor or a.vendor_id is not None):
            key = (str(a.vendor or a.vendor_id), str(a.serial))
            kept = by_identity.get(key)
            if kept is not None:
                kept.ips = sorted(set(kept.ips) | set(a.ips))
                kept.macs = sorted(set(kept.macs) | set(a.macs))
                kept.evidence = sorted([*kept.evidence, *a.evidence], key=lambda ev: (ev.attribute, -ev.confidence))
                kept.first_seen = min(x for x in (kept.first_seen, a.first_seen) if x is not None)
                kept.last_seen = max(x for x in (kept.last_seen, a.last_seen) if x is not None)
                for side in ("served", "used"):
                    kept.protocols[side] = sorted(set(kept.protocols[side]) | set(a.protocols[side]))
                resolve(kept)
                continue
            by_identity[key] = a
        out.append(a)
    return out


def _merge_edges(edges: list[Edge]) -> list[Edge]:
    merged: dict[tuple[str, str, str], Edge] = {}
    for e in edges:
        key = (e.client, e.server, e.proto)
        kept = merged.get(key)
        if kept is None:
            merged[key] = e
            continue
        for op, n in e.operations.items():
            kept.operations[op] = kept.operations.get(op, 0) + n
        kept.messages += e.messages
        kept.flows += e.flows
        kept.packets += e.packets
        kept.bytes += e.bytes
        kept.first_seen = min(x for x in (kept.first_seen, e.first_seen) if x is not None)
        kept.last_seen = max(x for x in (kept.last_seen, e.last_seen) if x is not None)
    return list(merged.values())

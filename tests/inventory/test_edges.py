"""Communication edges: who is the client of a flow whose start was not seen, one conversation seen on two
VLANs counted once, and layer-2 (PROFINET DCP) request/answer edges."""

from __future__ import annotations

from typing import Any

import pytest

from zonewarden.flow.records import FLOW_FIELDS
from zonewarden.inventory.builder import InventoryBuilder
from zonewarden.inventory.conversations import (
    MAX_PER_KEY,
    SERVICE_PORTS,
    ConversationMerger,
    Evidence,
    orient,
)
from zonewarden.model.assets import Asset, Edge
from zonewarden.protocols.registry import ANALYZERS

T0 = 1_767_592_800.0
HMI, DC = "10.21.1.10", "10.30.0.5"
PG, PLC, IO = "00:1b:1b:f0:01:32", "00:1b:1b:4e:81:0b", "00:1b:1b:d8:21:1f"
DCP_MULTICAST = "01:0e:cf:00:00:00"


def flow(src: str, sport: int | None, dst: str, dport: int | None, *, proto: str = "udp", vlan: int | None = None,
         t: float = T0, pkts: tuple[int, int] = (1, 0), size: int = 100, history: str = "D",
         fid: str | None = None) -> dict[str, Any]:
    """A finished flow record as ``flow_dicts`` gives it: ``src`` sent the first packet."""
    f = dict.fromkeys(FLOW_FIELDS)
    f.update(flow_id=fid or f"C{src}{sport}{dst}{dport}{vlan}{t}", ts_start=t, ts_end=t + 0.001, proto=proto,
             src=src, sport=sport, dst=dst, dport=dport, vlan=vlan, packets_orig=pkts[0], packets_resp=pkts[1],
             bytes_orig=pkts[0] * size, bytes_resp=pkts[1] * size, history=history)
    return f


def edges_by_ip(assets: list[Asset], edges: list[Edge]) -> dict[tuple[str, str, str], Edge]:
    name = {a.asset_id: (a.ips or a.macs)[0] for a in assets}
    return {(name[e.client], name[e.server], e.proto): e for e in edges}


def build(*records: dict[str, Any], events: tuple[dict[str, Any], ...] = ()) -> dict[tuple[str, str, str], Edge]:
    b = InventoryBuilder()
    for e in events:
        b.on_event(e)
    for f in records:
        b.on_flow(f)
    return edges_by_ip(*b.build())


# ---- orientation of one record


@pytest.mark.parametrize(("record", "src_is_client", "evidence"), [
    pytest.param(flow(DC, 53, HMI, 50088), False, Evidence.PORTS, id="dns-answer-first"),
    pytest.param(flow(HMI, 50088, DC, 53), True, Evidence.PORTS, id="dns-query-first"),
    pytest.param(flow("10.0.0.1", 44818, "10.0.0.2", 49703), False, Evidence.PORTS, id="registered-port-answer"),
    pytest.param(flow(DC, 123, HMI, 123), True, Evidence.FIRST_SENDER, id="ntp-symmetric-ports"),
    pytest.param(flow(DC, 67, HMI, 68), True, Evidence.FIRST_SENDER, id="both-well-known"),
    pytest.param(flow(DC, 50000, HMI, 50001), True, Evidence.FIRST_SENDER, id="both-ephemeral"),
    pytest.param(flow(DC, 0, HMI, 4059), True, Evidence.FIRST_SENDER, id="port-zero-is-no-service"),
    pytest.param(flow(HMI, 50000, DC, 445, proto="tcp", pkts=(0, 3), history="hd"), True, Evidence.HANDSHAKE,
                 id="tcp-synack-first-already-oriented"),
    pytest.param(flow(DC, 443, HMI, 56493, proto="tcp", history="DA"), False, Evidence.PORTS,
                 id="tcp-midstream-from-the-server-port"),
    pytest.param(flow(DC, 8, HMI, 0, proto="icmp"), True, Evidence.FIRST_SENDER, id="icmp-no-ports"),
])
def test_orientation_follows_the_evidence(record: dict[str, Any], src_is_client: bool, evidence: Evidence) -> None:
    assert orient(record, None) == (src_is_client, evidence)


def test_the_analyzers_messages_outrank_the_ports() -> None:
    """A reply-only record whose analyzer saw a response: its receiver is the client, whatever the ports."""
    record = flow("10.0.0.2", 50000, "10.0.0.1", 50001)
    assert orient(record, ("10.0.0.1", 50001)) == (False, Evidence.MESSAGES)


def test_every_analyzer_port_is_a_likely_server_port() -> None:
    missing = {(s.name, p) for s in ANALYZERS for p in s.ports if p >= 1024 and p not in SERVICE_PORTS}
    assert not missing


# ---- edges from flow records


def test_a_routed_query_and_its_answer_on_two_vlans_are_one_conversation() -> None:
    """The query on the client's VLAN, the answer on the server's: one edge client -> server udp/53, one
    flow, the packets of both directions."""
    for records in ([flow(HMI, 50088, DC, 53, vlan=101, pkts=(2, 0)), flow(DC, 53, HMI, 50088, vlan=300,
                                                                              t=T0 + 0.002, pkts=(2, 0), size=120)],
                    [flow(DC, 53, HMI, 50088, vlan=300, t=T0 + 0.002, pkts=(2, 0), size=120),
                     flow(HMI, 50088, DC, 53, vlan=101, pkts=(2, 0))]):
        edges = build(*records)
        assert list(edges) == [(HMI, DC, "udp/53")]
        e = edges[(HMI, DC, "udp/53")]
        assert (e.flows, e.packets, e.bytes) == (1, 4, 2 * 100 + 2 * 120)


def test_symmetric_ports_take_the_client_from_the_earlier_record_on_the_other_vlan() -> None:
    """NTP from 123 to 123: no port says who asked; the request was seen first, on the client's VLAN,
    whichever record finishes first."""
    request = flow(HMI, 123, DC, 123, vlan=101)
    answer = flow(DC, 123, HMI, 123, vlan=300, t=T0 + 0.0007)
    for records in ([request, answer], [answer, request]):
        assert list(build(*records)) == [(HMI, DC, "udp/123")]


def test_a_routed_echo_and_its_reply_pair_though_icmp_has_no_ports() -> None:
    request = flow(HMI, 8, DC, 0, proto="icmp", vlan=101)
    reply = flow(DC, 0, HMI, 0, proto="icmp", vlan=300, t=T0 + 0.001)
    edges = build(reply, request)
    assert list(edges) == [(HMI, DC, "icmp")] and edges[(HMI, DC, "icmp")].flows == 1


def test_a_reply_only_record_is_oriented_by_the_analyzers_response() -> None:
    """A ListIdentity answer from 44818 seen alone (its request went over another path)."""
    answer = {"ts": T0, "proto": "enip", "kind": "message", "src": "10.21.2.12", "dst": "10.20.0.20",
              "sport": 44818, "dport": 49703, "is_response": True, "flow_id": "Canswer", "command": 0x63}
    edges = build(flow("10.21.2.12", 44818, "10.20.0.20", 49703, fid="Canswer"), events=(answer,))
    assert list(edges) == [("10.20.0.20", "10.21.2.12", "enip")]
    assert edges[("10.20.0.20", "10.21.2.12", "enip")].messages == 1


def test_a_packet_seen_on_both_vlans_is_counted_once() -> None:
    """A SPAN of both VLANs, each carrying both directions: the same packets twice, one conversation."""
    edges = build(flow(HMI, 50000, DC, 389, proto="tcp", vlan=101, pkts=(6, 4), history="ShADadFf"),
                  flow(HMI, 50000, DC, 389, proto="tcp", vlan=300, t=T0 + 0.0003, pkts=(6, 4), history="ShADadFf"))
    e = edges[(HMI, DC, "tcp/389")]
    assert (e.flows, e.packets, e.bytes) == (1, 10, 1000)


def test_records_of_one_vlan_are_separate_flows() -> None:
    """The same 5-tuple again on the same VLAN (a later poll, a split flow) is another flow, not a partner."""
    edges = build(flow(HMI, 123, DC, 123, vlan=101, pkts=(1, 1)),
                  flow(HMI, 123, DC, 123, vlan=101, t=T0 + 1, pkts=(1, 1)))
    assert edges[(HMI, DC, "udp/123")].flows == 2


def test_records_far_apart_in_time_are_not_partners() -> None:
    edges = build(flow(HMI, 123, DC, 123, vlan=101), flow(DC, 123, HMI, 123, vlan=300, t=T0 + 64))
    assert set(edges) == {(HMI, DC, "udp/123"), (DC, HMI, "udp/123")}


def test_waiting_conversations_are_bounded() -> None:
    merger = ConversationMerger(max_pending=4)
    settled = [c for i in range(10) for c in merger.add(flow(HMI, 50000 + i, DC, 53), None, None)]
    assert len(settled) == 6 and len(merger.drain()) == 4
    merger = ConversationMerger()
    same_key = [c for i in range(MAX_PER_KEY + 3) for c in
                merger.add(flow(HMI, 123, DC, 123, t=T0 + 100 * i), None, None)]
    assert len(same_key) == 3


# ---- layer 2: PROFINET DCP


def dcp(src: str, dst: str, response: bool, service_id: int = 5, xid: int = 7) -> dict[str, Any]:
    return {"ts": T0, "proto": "profinet_dcp", "kind": "message", "src": src, "dst": dst, "sport": None,
            "dport": None, "is_response": response, "flow_id": None, "service_id": service_id, "xid": xid}


def test_an_identify_to_the_multicast_address_makes_an_edge_to_each_responder() -> None:
    edges = build(events=(dcp(PG, DCP_MULTICAST, False), dcp(PLC, PG, True), dcp(IO, PG, True)))
    assert set(edges) == {(PG, PLC, "profinet_dcp"), (PG, IO, "profinet_dcp")}
    for e in edges.values():
        assert (e.messages, e.operations, e.flows) == (1, {"diagnostics": 1}, 0)


def test_a_unicast_set_counts_its_operation_once() -> None:
    edges = build(events=(dcp(PG, PLC, False, service_id=4, xid=9), dcp(PLC, PG, True, service_id=4, xid=9)))
    e = edges[(PG, PLC, "profinet_dcp")]
    assert (e.messages, e.operations) == (2, {"write": 1})


def test_an_answer_whose_request_was_not_seen_still_makes_the_edge() -> None:
    edges = build(events=(dcp(PLC, PG, True),))
    e = edges[(PG, PLC, "profinet_dcp")]
    assert (e.messages, e.operations) == (1, {})

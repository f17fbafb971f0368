"""The flow table: bidirectional keys, who the originator is, timeouts by packet time, port reuse, TCP state
and history, growth and eviction, flow ids. Frames are built with the simulator and decoded for real."""

from __future__ import annotations

import struct
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import (
    NS,
    T0_NS,
    FlowPacket,
    eth,
    flow_packet_frames,
    flow_packets,
    frame_batch,
    v4,
    v6,
)
from zonewarden.decode.packets import decode
from zonewarden.errors import ConfigError
from zonewarden.flow.records import flow_dicts
from zonewarden.flow.table import MIN_SLOTS, FlowAttribution, FlowSettings, FlowTable
from zonewarden.simulate import frames as f

Frames = list[tuple[int, bytes]]
CLIENT, SERVER = v4(1), v4(2)


def run_table(frames: Frames, flow_settings: FlowSettings | None = None, splits: tuple[int, ...] = ()
              ) -> tuple[list[dict[str, Any]], FlowTable, list[FlowAttribution]]:
    """Feed the frames in batches cut at ``splits``; return the finished records in time order."""
    table = FlowTable(flow_settings or FlowSettings())
    attributions = []
    for a, b in pairwise((0, *splits, len(frames))):
        if b > a:
            attributions.append(table.update(decode(frame_batch(frames[a:b]))))
    table.finish_all()
    records = [row for batch in table.take_finished() for row in flow_dicts(batch)]
    records.sort(key=lambda r: (r["ts_start"], r["flow_id"]))
    return records, table, attributions


def timed(packets: list[bytes], step_ns: int = 1000, start: int = T0_NS) -> Frames:
    return [(start + i * step_ns, eth(p)) for i, p in enumerate(packets)]


def conv(cport: int = 40000, sport: int = 502) -> f.TcpConversation:
    return f.TcpConversation(CLIENT, SERVER, cport, sport, isn_c=1000, isn_s=5000)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"x") -> bytes:
    return f.ipv4(src, dst, f.IPPROTO_UDP, f.udp(src, dst, sport, dport, payload))


def summary(r: dict[str, Any]) -> tuple[Any, ...]:
    return r["src"], r["sport"], r["dst"], r["dport"], r["packets_orig"], r["packets_resp"]


# --- keys and originators ---


def test_both_directions_are_one_flow_with_per_direction_counts() -> None:
    c = conv()
    packets = c.handshake() + c.send(True, b"request!") + c.send(False, b"response bytes") + c.close()
    frames = timed(packets)
    records, _, (att,) = run_table(frames)
    (r,) = records
    assert summary(r) == (CLIENT, 40000, SERVER, 502, 5, 3)
    assert (r["payload_orig"], r["payload_resp"]) == (8, 14)
    directions = att.direction.tolist()
    assert directions == [0, 1, 0, 0, 1, 0, 1, 0]
    assert r["bytes_orig"] == sum(len(fr) for (_, fr), d in zip(frames, directions, strict=True) if d == 0)
    assert r["bytes_resp"] == sum(len(fr) for (_, fr), d in zip(frames, directions, strict=True) if d == 1)
    assert (r["ts_start"], r["ts_end"]) == (frames[0][0] / 1e9, frames[-1][0] / 1e9)


def test_syn_sender_is_originator_even_when_the_syn_ack_is_captured_first() -> None:
    c = conv()
    syn, synack, ack = c.handshake()
    records, _, (att,) = run_table(timed([synack, syn, ack]))
    (r,) = records
    assert summary(r) == (CLIENT, 40000, SERVER, 502, 2, 1)
    assert att.direction.tolist() == [1, 0, 0]
    assert r["state"] == "S1"


def test_only_a_syn_ack_makes_its_receiver_the_originator() -> None:
    c = conv()
    _, synack, _ = c.handshake()
    data = c.send(False, b"banner")
    records, _, _ = run_table(timed([synack, *data]))
    (r,) = records
    assert summary(r) == (CLIENT, 40000, SERVER, 502, 0, 2)
    assert (r["state"], r["history"]) == ("OTH", "hd")


def test_ipv6_syn_sender_is_originator_when_the_server_address_sorts_first() -> None:
    # The server's address is numerically lower: the canonical key's side A is the responder.
    c = f.TcpConversation(v6(9), v6(1), 50000, 443, 1, 2)
    records, _, _ = run_table(timed(c.handshake()))
    assert [summary(r) for r in records] == [(v6(9), 50000, v6(1), 443, 2, 1)]


def test_udp_first_sender_is_originator() -> None:
    packets = [udp(SERVER, CLIENT, 161, 1025), udp(CLIENT, SERVER, 1025, 161), udp(SERVER, CLIENT, 161, 1025)]
    (r,), _, _ = run_table(timed(packets))
    assert summary(r) == (SERVER, 161, CLIENT, 1025, 2, 1)
    assert r["state"] == "SF"


def test_tcp_without_syn_first_sender_is_originator() -> None:
    c = conv()
    c.handshake()
    packets = c.send(False, b"reply") + c.send(True, b"more")
    (r,), _, _ = run_table(timed(packets))
    assert summary(r) == (SERVER, 502, CLIENT, 40000, 1, 1)
    assert r["state"] == "OTH"


def test_vlan_and_inner_vlan_separate_flows() -> None:
    packet = udp(CLIENT, SERVER, 1000, 2000)
    tags = [[], [(f.ETH_P_8021Q, 10)], [(f.ETH_P_8021Q, 20)], [(f.ETH_P_8021AD, 10), (f.ETH_P_8021Q, 1)],
            [(f.ETH_P_8021AD, 10), (f.ETH_P_8021Q, 2)]]
    frames = [(T0_NS + i, eth(packet, t)) for i, t in enumerate(tags * 2)]
    records, _, _ = run_table(frames)
    assert sorted((r["vlan"] or 0, r["vlan_inner"] or 0, r["packets_orig"]) for r in records) == [
        (0, 0, 2), (10, 0, 2), (10, 1, 2), (10, 2, 2), (20, 0, 2)]
    assert len({r["flow_id"] for r in records}) == 5


def test_different_ports_and_protocols_are_different_flows() -> None:
    packets = [udp(CLIENT, SERVER, 1000, 2000), udp(CLIENT, SERVER, 1001, 2000), udp(CLIENT, SERVER, 1000, 2001),
               f.ipv4(CLIENT, SERVER, f.IPPROTO_TCP, f.tcp(CLIENT, SERVER, 1000, 2000, 0, 0, "S"))]
    records, _, _ = run_table(timed(packets))
    assert len(records) == 4


def test_icmp_echo_request_and_reply_are_one_flow() -> None:
    request = f.ipv4(CLIENT, SERVER, f.IPPROTO_ICMP, f.icmp_echo(1, 1))
    reply = f.ipv4(SERVER, CLIENT, f.IPPROTO_ICMP, f.icmp_echo(1, 1, reply=True))
    (r,), _, _ = run_table(timed([request, reply, request, reply]))
    assert (r["proto"], r["src"], r["sport"], r["dport"], r["packets_orig"], r["packets_resp"]) == (
        "icmp", CLIENT, 8, 0, 2, 2)


def test_non_ip_fragment_and_damaged_packets_belong_to_no_flow() -> None:
    arp = f.ethernet(f.BROADCAST_MAC, "02:00:00:00:00:01", f.ETH_P_ARP,
                     f.arp(1, "02:00:00:00:00:01", CLIENT, f.ZERO_MAC, SERVER))
    fragment = eth(f.ipv4_fragments(CLIENT, SERVER, f.IPPROTO_UDP, bytes(100), 32, 1)[1])
    damaged = eth(udp(CLIENT, SERVER, 1, 2))[:30]
    good = eth(udp(CLIENT, SERVER, 1, 2))
    frames = [(T0_NS + i, fr) for i, fr in enumerate([arp, fragment, damaged, good])]
    records, _, (att,) = run_table(frames)
    assert att.uid.tolist()[:3] == [-1, -1, -1]
    assert att.uid[3] >= 0
    assert [r["packets_orig"] for r in records] == [1]
    assert att.fid[3] == int(records[0]["flow_id"][1:], 16)


# --- timeouts, by packet time ---


def test_udp_idle_timeout_splits_a_flow() -> None:
    packet = udp(CLIENT, SERVER, 1000, 2000)
    frames = [(T0_NS + s * NS, eth(packet)) for s in (0, 30, 89, 150, 151)]  # gap 61 s > 60 s
    records, _, _ = run_table(frames)
    assert [(r["packets_orig"], r["end_reason"]) for r in records] == [(3, "idle"), (2, "active")]
    assert records[1]["ts_start"] == (T0_NS + 150 * NS) / 1e9
    assert records[0]["flow_id"] != records[1]["flow_id"]


def test_idle_timeout_is_configurable_and_exclusive() -> None:
    packet = udp(CLIENT, SERVER, 1000, 2000)
    frames = [(T0_NS, eth(packet)), (T0_NS + 10 * NS, eth(packet)), (T0_NS + 20 * NS + 1, eth(packet))]
    records, _, _ = run_table(frames, FlowSettings(udp_idle=10))
    assert [r["packets_orig"] for r in records] == [2, 1]  # exactly 10 s is not idle, 10 s + 1 ns is


def test_tcp_idle_timeout_is_longer_than_udp() -> None:
    c = conv()
    frames = [*timed(c.handshake(), NS), (T0_NS + 250 * NS, eth(c.send(True, b"x")[0])),
              (T0_NS + 600 * NS, eth(c.send(True, b"y")[0]))]
    records, _, _ = run_table(frames)
    assert [(r["packets_orig"], r["packets_resp"], r["end_reason"]) for r in records] == [
        (3, 1, "idle"), (1, 0, "active")]


def test_closed_tcp_flow_lingers_for_trailing_acks_then_times_out() -> None:
    c = conv()
    packets = c.handshake() + c.close()
    frames = timed(packets, NS)
    late_ack = c.ack(False)
    frames += [(frames[-1][0] + 2 * NS, eth(late_ack)), (frames[-1][0] + 30 * NS, eth(late_ack))]
    records, _, _ = run_table(frames)
    assert [(r["packets_orig"], r["packets_resp"], r["state"], r["end_reason"]) for r in records] == [
        (4, 3, "SF", "idle"), (1, 0, "OTH", "active")]
    assert records[1]["src"] == SERVER


def test_active_timeout_splits_a_long_flow() -> None:
    packet = udp(CLIENT, SERVER, 1000, 2000)
    frames = [(T0_NS + s * 30 * NS, eth(packet)) for s in range(8)]  # 0, 30, ..., 210 s
    records, _, _ = run_table(frames, FlowSettings(active=100))
    assert [(r["packets_orig"], r["end_reason"]) for r in records] == [
        (4, "active_timeout"), (4, "active")]  # 0..90 s, then 120..210 s


def test_timeouts_use_packet_time_across_batches() -> None:
    packet = udp(CLIENT, SERVER, 1000, 2000)
    other = udp(CLIENT, v4(3), 1000, 2000)
    frames = [(T0_NS, eth(packet)), (T0_NS + 200 * NS, eth(other)), (T0_NS + 201 * NS, eth(packet))]
    records, _, _ = run_table(frames, splits=(1, 2))
    assert [(r["dst"], r["packets_orig"], r["end_reason"]) for r in records] == [
        (SERVER, 1, "idle"), (v4(3), 1, "active"), (SERVER, 1, "active")]


def test_active_timeout_found_by_the_periodic_sweep_is_reported_as_active_timeout() -> None:
    packet = udp(CLIENT, SERVER, 1000, 2000)
    frames = [(T0_NS + s * 30 * NS, eth(packet)) for s in range(4)]  # 0..90 s, never idle for 60 s
    frames.append((T0_NS + 125 * NS, eth(udp(CLIENT, v4(3), 1000, 2000))))  # next batch: sweep at 125 s
    records, _, _ = run_table(frames, FlowSettings(active=100), splits=(4,))
    assert [(r["dst"], r["packets_orig"], r["end_reason"]) for r in records] == [
        (SERVER, 4, "active_timeout"), (v4(3), 1, "active")]


def test_end_reason_does_not_depend_on_batch_boundaries() -> None:
    frames = [(T0_NS, eth(udp(CLIENT, SERVER, 1000, 2000))), (T0_NS + 1000 * NS, eth(udp(CLIENT, v4(3), 1, 2)))]
    one_batch, _, _ = run_table(frames)
    two_batches, _, _ = run_table(frames, splits=(1,))
    assert [r["end_reason"] for r in two_batches] == ["idle", "active"]
    assert one_batch == two_batches


# --- TCP port reuse, states and history ---


def test_new_syn_after_fin_fin_starts_a_new_flow() -> None:
    first = conv()
    packets = first.handshake() + first.close()
    second = f.TcpConversation(CLIENT, SERVER, 40000, 502, isn_c=900_000, isn_s=7)
    packets += second.handshake()
    records, _, _ = run_table(timed(packets))
    assert [(r["packets_orig"], r["packets_resp"], r["state"], r["end_reason"]) for r in records] == [
        (4, 2, "SF", "port_reuse"), (2, 1, "S1", "active")]


def test_new_syn_after_rst_starts_a_new_flow() -> None:
    first = conv()
    packets = [*first.handshake(), first.segment(False, "R")]
    second = f.TcpConversation(CLIENT, SERVER, 40000, 502, isn_c=900_000, isn_s=7)
    packets += second.handshake()
    records, _, _ = run_table(timed(packets))
    assert [(r["state"], r["end_reason"]) for r in records] == [("RSTR", "port_reuse"), ("S1", "active")]


def test_syn_retransmission_on_an_open_flow_is_not_port_reuse() -> None:
    c = conv()
    syn = c.handshake()[0]
    records, _, _ = run_table(timed([syn, syn, syn]))
    assert [(r["packets_orig"], r["state"], r["history"]) for r in records] == [(3, "S0", "S")]


def session(kind: str) -> list[bytes]:
    c = conv()
    syn, synack, ack = c.handshake()
    if kind == "S0":
        return [syn]
    if kind == "REJ":
        return [syn, c.segment(False, "RA")]
    if kind == "S1":
        return [syn, synack, ack]
    if kind == "SF":
        return [syn, synack, ack, *c.send(True, b"read"), *c.send(False, b"registers"), *c.close()]
    if kind == "SF-server-closes":
        return [syn, synack, ack, *c.close(from_client=False)]
    if kind == "S2":
        return [syn, synack, ack, c.segment(True, "FA")]
    if kind == "S3":
        return [syn, synack, ack, c.segment(False, "FA")]
    if kind == "RSTO":
        return [syn, synack, ack, c.segment(True, "RA")]
    if kind == "RSTR":
        return [syn, synack, ack, c.segment(False, "R")]
    if kind == "RSTOS0":
        return [syn, c.segment(True, "R")]
    if kind == "RSTRH":
        return [synack, c.segment(False, "R")]
    if kind == "SH":
        return [syn, c.segment(True, "F")]
    if kind == "SHR":
        return [synack, c.segment(False, "FA")]
    if kind == "OTH":
        return [*c.send(True, b"mid"), *c.send(False, b"stream")]
    if kind == "retransmission":
        data = c.send(True, b"write single register")
        return [syn, synack, ack, *data, *data, c.ack(False)]
    if kind == "keep-alive":
        # A keep-alive: one byte below the next sequence number, re-sending the last byte seen.
        data = c.send(True, b"abc")
        keep = f.ipv4(CLIENT, SERVER, f.IPPROTO_TCP, f.tcp(CLIENT, SERVER, 40000, 502, 1000 + 1 + 2, 5001, "A", b"c"))
        return [syn, synack, ack, *data, keep]
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "state", "history"), [
    ("S0", "S0", "S"),
    ("REJ", "REJ", "Sr"),
    ("S1", "S1", "ShA"),
    ("SF", "SF", "ShADdFf"),
    ("SF-server-closes", "SF", "ShAfFa"),
    ("S2", "S2", "ShAF"),
    ("S3", "S3", "ShAf"),
    ("RSTO", "RSTO", "ShAR"),
    ("RSTR", "RSTR", "ShAr"),
    ("RSTOS0", "RSTOS0", "SR"),
    ("RSTRH", "RSTRH", "hr"),
    ("SH", "SH", "SF"),
    ("SHR", "SHR", "hf"),
    ("OTH", "OTH", "Dd"),
    ("retransmission", "S1", "ShADTa"),
    ("keep-alive", "S1", "ShADT"),
])
def test_tcp_state_and_history_of_crafted_sessions(kind: str, state: str, history: str) -> None:
    records, _, _ = run_table(timed(session(kind)))
    assert [(r["state"], r["history"]) for r in records] == [(state, history)]


def test_history_and_state_reads_the_same_when_a_sequence_number_wraps() -> None:
    c = f.TcpConversation(CLIENT, SERVER, 40000, 502, isn_c=2**32 - 3, isn_s=2**32 - 1)
    packets = c.handshake() + c.send(True, b"0123456789") + c.send(False, b"ok") + c.close()
    (r,), _, _ = run_table(timed(packets))
    assert (r["state"], r["history"], r["payload_orig"]) == ("SF", "ShADdFf", 10)


# --- growth, eviction, ids ---


def many_udp_flows(n: int, start: int = T0_NS, step_ns: int = 1000, first: int = 0) -> Frames:
    """UDP flows ``first .. first + n - 1`` (source address and port vary), one packet each; built by patching
    a template (checksums are not checked by the decoder)."""
    template = bytearray(eth(udp(v4(1), SERVER, 1, 53, b"q")))
    out = []
    for i in range(first, first + n):
        struct.pack_into("!I", template, 14 + 12, 0x0A010000 + i // 1000)  # source address
        struct.pack_into("!H", template, 14 + 20, 1024 + i % 1000)  # source port
        out.append((start + (i - first) * step_ns, bytes(template)))
    return out


def test_table_grows_past_its_initial_slots_and_counts_every_packet() -> None:
    n = 50_000
    frames = many_udp_flows(n)
    # A reply to every tenth flow after all of them were created.
    replies = []
    for i, (_, fr) in enumerate(frames[::10]):
        b = bytearray(fr)
        b[14 + 12 : 14 + 16], b[14 + 16 : 14 + 20] = fr[14 + 16 : 14 + 20], fr[14 + 12 : 14 + 16]
        b[14 + 20 : 14 + 22], b[14 + 22 : 14 + 24] = fr[14 + 22 : 14 + 24], fr[14 + 20 : 14 + 22]
        replies.append((T0_NS + n * 1000 + i, bytes(b)))
    records, table, _ = run_table(frames + replies)
    assert n > MIN_SLOTS * 0.6
    assert table.stats.table_growths >= 3
    assert table.stats.flows_created == len(records) == n
    assert table.stats.flows_evicted == 0
    assert sum(r["packets_orig"] for r in records) == n
    assert sum(r["packets_resp"] for r in records) == len(replies)
    assert sum(r["bytes_orig"] + r["bytes_resp"] for r in records) == sum(len(fr) for _, fr in frames + replies)
    assert len({r["flow_id"] for r in records}) == n


def test_eviction_beyond_max_flows_keeps_totals() -> None:
    frames = many_udp_flows(5000)
    frames += [(T0_NS + 10 * NS + i, fr) for i, (_, fr) in enumerate(frames[:3000:3])]  # some flows come back
    records, table, _ = run_table(frames, FlowSettings(max_flows=1000))
    evicted = [r for r in records if r["end_reason"] == "evicted"]
    assert table.stats.flows_evicted == len(evicted) > 0
    assert table.stats.peak_flows <= 1000
    assert sum(r["packets_orig"] + r["packets_resp"] for r in records) == len(frames)
    assert sum(r["bytes_orig"] + r["bytes_resp"] for r in records) == sum(len(fr) for _, fr in frames)
    # The returning flows were evicted long before: each comes back as a new record.
    assert len(records) == 5000 + 1000


def test_eviction_removes_the_least_recently_seen_flows() -> None:
    frames = many_udp_flows(1000, step_ns=NS)  # flow i last seen at i s
    frames += [(T0_NS + 2000 * NS, frames[0][1])]  # flow 0 seen again: now the most recent
    frames += [(T0_NS + 2001 * NS + i, fr) for i, (_, fr) in enumerate(many_udp_flows(100, first=5000))]
    records, table, _ = run_table(frames, FlowSettings(max_flows=1000, udp_idle=10_000))
    evicted = {r["sport"] - 1024 for r in records if r["end_reason"] == "evicted"}
    assert table.stats.flows_evicted == len(evicted) > 0
    # Exactly the oldest flows went, and flow 0, seen again, stayed.
    assert evicted == set(range(1, 1 + len(evicted)))
    (flow0,) = [r for r in records if r["sport"] == 1024 and r["src"] == "10.1.0.0"]
    assert (flow0["packets_orig"], flow0["end_reason"]) == (2, "active")
    assert sum(r["packets_orig"] for r in records) == len(frames)


def test_max_flows_zero_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        table = FlowTable(FlowSettings(max_flows=0))
        table.update(decode(frame_batch(many_udp_flows(1))))


@pytest.mark.parametrize("bad", [dict(max_flows=-5), dict(max_flows=2.5), dict(max_flows=True), dict(tcp_idle=0),
                                 dict(udp_idle=-1.0), dict(other_idle=float("nan")), dict(tcp_closed=float("inf")),
                                 dict(active=1e12), dict(sweep_every=0)],
                         ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
def test_flow_settings_out_of_range_are_config_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        FlowSettings(**bad)


def test_smallest_flow_settings_work() -> None:
    table = FlowTable(FlowSettings(max_flows=1, tcp_idle=1e-9, udp_idle=1e-9, other_idle=1e-9, tcp_closed=1e-9,
                                   active=1e-9, sweep_every=1e-9))
    table.update(decode(frame_batch(many_udp_flows(3))))
    table.finish_all()
    assert sum(r.shape[0] for r in table.take_finished()) == 3


def test_flow_ids_are_stable_across_runs_and_distinct() -> None:
    c = conv()
    frames = timed(c.handshake() + c.close() + [udp(CLIENT, SERVER, 1, 2), udp(SERVER, CLIENT, 2, 1)])
    frames += [(T0_NS + 500 * NS, eth(udp(CLIENT, SERVER, 1, 2)))]  # same key, new flow after idle
    frames += [(T0_NS + 501 * NS, eth(udp(CLIENT, SERVER, 1, 2), [(f.ETH_P_8021Q, 7)]))]
    first, _, att1 = run_table(frames)
    second, _, att2 = run_table(frames, splits=(3, 9))
    assert [r["flow_id"] for r in first] == [r["flow_id"] for r in second]
    assert len({r["flow_id"] for r in first}) == len(first) == 4
    assert all(r["flow_id"].startswith("C") and len(r["flow_id"]) == 17 for r in first)
    assert np.concatenate([a.fid for a in att2]).tolist() == att1[0].fid.tolist()


def test_attribution_uids_match_record_uids() -> None:
    c = conv()
    frames = timed([*c.handshake(), udp(CLIENT, SERVER, 5, 6), *c.close()])
    table = FlowTable()
    att = table.update(decode(frame_batch(frames)))
    table.finish_all()
    (records,) = table.take_finished()
    by_uid = {int(u): int(n) for u, n in zip(records["uid"], records["pkts_o"] + records["pkts_r"], strict=True)}
    counted = np.bincount(att.uid[att.uid >= 0])
    assert {u: int(counted[u]) for u in by_uid} == by_uid


# --- properties ---


@settings(max_examples=150, deadline=None)
@given(packets=st.lists(flow_packets, min_size=1, max_size=40), cut=st.lists(st.integers(1, 39), max_size=3),
       max_flows=st.sampled_from((600_000, 2)))
def test_random_sequences_count_every_attributed_packet_once(packets: list[FlowPacket], cut: list[int],
                                                             max_flows: int) -> None:
    frames = flow_packet_frames(packets)
    splits = tuple(sorted({c for c in cut if c < len(frames)}))
    table = FlowTable(FlowSettings(max_flows=max_flows))
    attributions = []
    for a, b in pairwise((0, *splits, len(frames))):
        attributions.append(table.update(decode(frame_batch(frames[a:b]))))
    table.finish_all()
    records = np.concatenate(table.take_finished())
    uid = np.concatenate([a.uid for a in attributions])
    attributed = uid >= 0
    assert attributed.all()  # every generated packet is a clean TCP/UDP/ICMP packet
    wire = np.array([len(fr) for _, fr in frames])
    assert int((records["pkts_o"] + records["pkts_r"]).sum()) == int(attributed.sum())
    assert int((records["bytes_o"] + records["bytes_r"]).sum()) == int(wire[attributed].sum())
    # Each uid is one record; its packets are those attributed to it.
    assert sorted(records["uid"].tolist()) == sorted(set(uid[attributed].tolist()))
    per_uid = dict(zip(records["uid"].tolist(), (records["pkts_o"] + records["pkts_r"]).tolist(), strict=True))
    values, counts = np.unique(uid[attributed], return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist(), strict=True)) == per_uid
    assert table.used == 0


@settings(max_examples=100, deadline=None)
@given(packets=st.lists(flow_packets, min_size=1, max_size=40), cut=st.lists(st.integers(1, 39), max_size=3))
def test_batch_boundaries_do_not_change_flows(packets: list[FlowPacket], cut: list[int]) -> None:
    frames = flow_packet_frames(packets)
    splits = tuple(sorted({c for c in cut if c < len(frames)}))
    whole, _, _ = run_table(frames)
    split, _, _ = run_table(frames, splits=splits)
    # Every field, end_reason included.
    assert whole == split

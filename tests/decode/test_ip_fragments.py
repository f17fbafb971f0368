"""IPv4 and IPv6 fragment reassembly as the packet pipeline runs it: fragments in, one whole datagram out,
attributed to one flow; duplicates, overlaps and incomplete datagrams counted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import NS, T0_NS, eth, frame_batch, v4, v6
from zonewarden.decode.ip_fragments import FragmentReassembler
from zonewarden.decode.packets import decode
from zonewarden.flow.records import flow_dicts
from zonewarden.flow.table import FlowAttribution
from zonewarden.model.packets import PacketBatch
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import write_pcap

PAYLOAD = bytes(range(256)) * 4  # 1024 bytes of UDP payload: 1032-byte datagram
UDP4 = f.udp(v4(1), v4(2), 5000, 47808, PAYLOAD)
UDP6 = f.udp(v6(1), v6(2), 5000, 47808, PAYLOAD)


class PayloadRecorder:
    """A pipeline consumer keeping the L4 payload of every packet attributed to a flow."""

    def __init__(self) -> None:
        self.payloads: list[tuple[int, bytes]] = []

    def packets(self, pk: PacketBatch, flows: FlowAttribution) -> None:
        data = pk.frames.data
        for i in np.flatnonzero(flows.uid >= 0).tolist():
            off, length = int(pk.l4_off[i]), int(pk.l4_len[i])
            self.payloads.append((int(flows.uid[i]), data[off : off + length].tobytes()))

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        pass


def run_pipeline(path: Path, frames: list[bytes], gap_ns: int = 1000) -> tuple[list[dict[str, Any]], PacketPipeline,
                                                                              PayloadRecorder]:
    write_pcap(path, [(T0_NS + i * gap_ns, fr) for i, fr in enumerate(frames)], nanosecond=True)
    recorder = PayloadRecorder()
    pipeline = PacketPipeline([str(path)], consumers=[recorder])
    records = [row for batch in pipeline.flow_batches() for row in flow_dicts(batch)]
    return records, pipeline, recorder


def v4_fragments(ident: int = 77, size: int = 256) -> list[bytes]:
    return f.ipv4_fragments(v4(1), v4(2), f.IPPROTO_UDP, UDP4, size, ident)


def test_ipv4_out_of_order_fragments_make_one_flow_with_the_whole_datagram(tmp_path: Path) -> None:
    frags = v4_fragments()
    assert len(frags) == 5
    order = [3, 0, 4, 2, 1]
    frames = [eth(frags[i]) for i in order]
    records, pipeline, recorder = run_pipeline(tmp_path / "v4.pcap", frames)
    (flow,) = records
    assert (flow["proto"], flow["src"], flow["sport"], flow["dst"], flow["dport"]) == ("udp", v4(1), 5000, v4(2),
                                                                                       47808)
    assert flow["packets_orig"] == 1
    assert flow["payload_orig"] == len(PAYLOAD)
    assert flow["bytes_orig"] == sum(len(fr) for fr in frames)
    assert [p for _, p in recorder.payloads] == [PAYLOAD]
    stats = pipeline.summary.fragments
    assert (stats["fragments"], stats["reassembled"], stats["overlaps"], stats["expired"]) == (5, 1, 0, 0)
    assert pipeline.summary.decode_errors == {}


def test_ipv6_out_of_order_fragments_behind_hop_by_hop_make_one_flow(tmp_path: Path) -> None:
    frags = f.ipv6_fragments(v6(1), v6(2), f.IPPROTO_UDP, UDP6, 400, 0xDEADBEEF,
                             ext_headers=[(f.IPPROTO_HOPOPTS, bytes([5, 2, 0, 0]))])
    assert len(frags) == 3
    frames = [eth(frags[i], [(f.ETH_P_8021Q, 30)]) for i in (2, 1, 0)]
    records, pipeline, recorder = run_pipeline(tmp_path / "v6.pcap", frames)
    (flow,) = records
    assert (flow["proto"], flow["src"], flow["dst"], flow["dport"], flow["vlan"]) == ("udp", v6(1), v6(2), 47808, 30)
    assert (flow["packets_orig"], flow["payload_orig"]) == (1, len(PAYLOAD))
    assert [p for _, p in recorder.payloads] == [PAYLOAD]
    assert pipeline.summary.fragments["reassembled"] == 1


def test_duplicate_fragment_is_counted_as_overlap_and_ignored(tmp_path: Path) -> None:
    frags = v4_fragments()
    frames = [eth(fr) for fr in (frags[0], frags[1], frags[1], frags[2], frags[3], frags[4])]
    records, pipeline, recorder = run_pipeline(tmp_path / "dup.pcap", frames)
    (flow,) = records
    assert flow["payload_orig"] == len(PAYLOAD)
    assert [p for _, p in recorder.payloads] == [PAYLOAD]
    assert pipeline.summary.fragments["overlaps"] == 1
    assert pipeline.summary.fragments["reassembled"] == 1


def test_incomplete_datagram_expires_and_is_counted(tmp_path: Path) -> None:
    frags = v4_fragments()
    records, pipeline, _ = run_pipeline(tmp_path / "lost.pcap", [eth(fr) for fr in frags[:-1]])
    assert records == []
    assert pipeline.summary.fragments["expired"] == 1
    assert pipeline.summary.fragments["reassembled"] == 0


def test_stale_fragments_expire_after_timeout_and_do_not_join_a_later_datagram(tmp_path: Path) -> None:
    old = v4_fragments(ident=5)
    new = v4_fragments(ident=5)
    # First datagram loses its last fragment; 2 minutes later (past the 60 s timeout) the same ident is reused
    # and arrives complete but without its first fragment, which must not be taken from the stale one.
    frames = [(T0_NS + i, eth(fr)) for i, fr in enumerate(old[:-1])]
    frames += [(T0_NS + 120 * NS + i, eth(fr)) for i, fr in enumerate(new[1:])]
    path = tmp_path / "stale.pcap"
    write_pcap(path, frames, nanosecond=True)
    pipeline = PacketPipeline([str(path)])
    records = [row for batch in pipeline.flow_batches() for row in flow_dicts(batch)]
    assert records == []
    assert pipeline.summary.fragments["reassembled"] == 0
    assert pipeline.summary.fragments["expired"] == 2


def test_same_ident_on_different_vlans_are_different_datagrams(tmp_path: Path) -> None:
    frags = v4_fragments(ident=9)
    frames = [eth(fr, [(f.ETH_P_8021Q, vlan)]) for fr in frags for vlan in (10, 20)]
    records, pipeline, recorder = run_pipeline(tmp_path / "vlans.pcap", frames)
    assert sorted(r["vlan"] for r in records) == [10, 20]
    assert all(r["payload_orig"] == len(PAYLOAD) for r in records)
    assert [p for _, p in recorder.payloads] == [PAYLOAD, PAYLOAD]
    assert pipeline.summary.fragments["overlaps"] == 0


def test_fragmented_tcp_segment_joins_its_connection(tmp_path: Path) -> None:
    conv = f.TcpConversation(v4(1), v4(2), 40000, 502, 1000, 9000)
    handshake = conv.handshake()
    big = conv.segment(True, "PA", PAYLOAD)  # one IPv4 packet; re-fragment its TCP segment below
    header_len = (big[0] & 0x0F) * 4
    frags = f.ipv4_fragments(v4(1), v4(2), f.IPPROTO_TCP, big[header_len:], 512, 3)
    closing = conv.close()
    frames = [eth(p) for p in handshake + frags + closing]
    records, pipeline, _ = run_pipeline(tmp_path / "tcp.pcap", frames)
    (flow,) = records
    # S, A, the fragmented data segment, FA, A
    assert (flow["packets_orig"], flow["payload_orig"], flow["state"]) == (5, len(PAYLOAD), "SF")
    assert pipeline.summary.fragments["reassembled"] == 1


def test_tcp_with_tiny_first_fragment_is_reassembled(tmp_path: Path) -> None:
    segment = f.tcp(v4(1), v4(2), 40000, 502, 1, 0, "S", PAYLOAD[:40])
    frags = f.ipv4_fragments(v4(1), v4(2), f.IPPROTO_TCP, segment, 16, 4)  # 16 bytes: half a TCP header
    records, pipeline, _ = run_pipeline(tmp_path / "tiny.pcap", [eth(fr) for fr in frags])
    assert pipeline.summary.decode_errors == {}
    assert [(r["sport"], r["dport"], r["payload_orig"]) for r in records] == [(40000, 502, 40)]


def test_overlapping_fragment_first_copy_wins(tmp_path: Path) -> None:
    udp = f.udp(v4(1), v4(2), 1, 2, b"a" * 32)  # 40-byte datagram
    first = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, udp[0:16], ident=9, mf=True)
    overlapping = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, b"B" * 24, ident=9, mf=True, frag_offset=8)  # rewrites 8..16
    last = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, udp[32:40], ident=9, frag_offset=32)
    _, pipeline, recorder = run_pipeline(tmp_path / "overlap.pcap", [eth(first), eth(overlapping), eth(last)])
    assert pipeline.summary.fragments["overlaps"] == 1
    assert [p for _, p in recorder.payloads] == [b"a" * 8 + b"B" * 16 + b"a" * 8]


def test_later_fragment_at_same_offset_fills_the_rest(tmp_path: Path) -> None:
    udp = f.udp(v4(1), v4(2), 1, 2, b"z" * 40)  # 48-byte datagram
    short = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, udp[0:16], ident=11, mf=True)
    longer = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, udp[0:40], ident=11, mf=True)
    last = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, udp[40:48], ident=11, frag_offset=40)
    _, pipeline, recorder = run_pipeline(tmp_path / "resent.pcap", [eth(short), eth(longer), eth(last)])
    assert pipeline.summary.fragments["reassembled"] == 1
    assert [p for _, p in recorder.payloads] == [b"z" * 40]


def test_many_tiny_fragments_reassemble_in_linear_time() -> None:
    n = 3000
    last = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, b"L" * 8, ident=1, frag_offset=n * 8)
    frags = [last] + [f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, b"x" * 8, ident=1, mf=True, frag_offset=k * 8)
                      for k in range(n - 1, -1, -1)]
    batches = [decode(frame_batch([(T0_NS + i + j, eth(fr)) for j, fr in enumerate(frags[i : i + 100])]))
               for i in range(0, len(frags), 100)]
    reassembler = FragmentReassembler()
    done = []
    start = time.perf_counter()
    for pk in batches:
        done += reassembler.add_batch(pk)
        # Linear work is a few milliseconds for all of them; stop early instead of waiting minutes.
        assert time.perf_counter() - start < 1.0, f"{reassembler.stats.fragments} fragments took over a second"
    assert len(done) == 1
    assert len(done[0].packet) == 20 + (n + 1) * 8


def test_fragments_past_the_per_datagram_cap_are_dropped_and_counted() -> None:
    first = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, UDP4[:16], ident=3, mf=True)
    reassembler = FragmentReassembler(max_fragments=10)
    assert reassembler.add_batch(decode(frame_batch([(T0_NS + i, eth(first)) for i in range(15)]))) == []
    assert (reassembler.stats.fragments, reassembler.stats.overlaps, reassembler.stats.dropped_limit) == (15, 9, 5)


def test_a_far_fragment_counts_its_whole_buffer_against_the_memory_cap() -> None:
    # 8 bytes at offset 60000 need a 60008-byte buffer: more than the cap allows, so it is dropped and counted.
    far = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, b"x" * 8, ident=4, mf=True, frag_offset=60000)
    near = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, b"x" * 8, ident=5, mf=True)
    reassembler = FragmentReassembler(max_bytes=1000)
    reassembler.add_batch(decode(frame_batch([(T0_NS, eth(far)), (T0_NS + 1, eth(near))])))
    assert (reassembler.stats.fragments, reassembler.stats.dropped_limit) == (2, 1)


def test_first_last_fragment_fixes_the_datagram_length() -> None:
    # A second "last" fragment claiming a different end is an overlap like any other: the first copy wins.
    udp = f.udp(v4(1), v4(2), 1, 2, b"q" * 16)  # 24-byte datagram
    first = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, udp[:16], ident=6, mf=True)
    last = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, udp[16:], ident=6, frag_offset=16)
    longer_last = f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, b"Z" * 16, ident=6, frag_offset=16)
    reassembler = FragmentReassembler()
    (done,) = reassembler.add_batch(decode(frame_batch([(T0_NS, eth(last)), (T0_NS + 1, eth(longer_last)),
                                                        (T0_NS + 2, eth(first))])))
    assert done.packet[20:] == udp
    assert reassembler.stats.overlaps == 1


# (offset in 8-byte units, length in 8-byte units, more fragments follow); a last fragment may be ragged.
# Offset 0 without "more fragments" is a whole datagram, not a fragment.
fragment_spec = st.tuples(st.integers(0, 12), st.integers(0, 6), st.booleans()).filter(lambda s: s[0] or s[2])
fragment_specs = st.lists(fragment_spec, min_size=1, max_size=14)


@settings(max_examples=300, deadline=None)
@given(specs=fragment_specs, ragged=st.integers(0, 7))
def test_reassembly_matches_a_first_copy_wins_byte_map(specs: list[tuple[int, int, bool]], ragged: int) -> None:
    # Fragment k carries bytes equal to k, so the datagram shows which copy of each byte won.
    frags, model, total, expected = [], {}, -1, None
    for k, (unit, units, more) in enumerate(specs):
        size = units * 8 + (0 if more else ragged)
        offset = unit * 8
        frags.append(f.ipv4(v4(1), v4(2), 253, bytes([k]) * size, ident=2, mf=more, frag_offset=offset))
        for b in range(offset, offset + size):
            model.setdefault(b, k)
        if not more and total < 0:
            total = offset + size
        if total >= 0 and all(b in model for b in range(total)):
            expected = bytes(model[b] for b in range(total))
            break
    reassembler = FragmentReassembler()
    done = reassembler.add_batch(decode(frame_batch([(T0_NS + i, eth(fr)) for i, fr in enumerate(frags)])))
    assert [d.packet[20:] for d in done] == ([] if expected is None else [expected])
    if done:
        assert (done[0].frames, len(done[0].packet)) == (len(frags), 20 + total)

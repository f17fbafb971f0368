"""The packet pipeline end to end: capture -> decode -> flows, its run summary, its consumers (including TCP
stream reassembly), and runs over several files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.strategies import MAC_CLIENT, NS, T0_NS, eth, v4, v6
from zonewarden.flow.records import flow_dicts
from zonewarden.flow.table import FlowAttribution, FlowSettings
from zonewarden.flow.tcp_reassembly import Chunk
from zonewarden.model.frames import LINKTYPE_RAW
from zonewarden.model.packets import PacketBatch
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.pipeline.streams import TcpStreams
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import EnhancedPacket, Interface, Section, write_pcap, write_pcapng

CLIENT, SERVER = v4(1), v4(2)


def records_of(pipeline: PacketPipeline) -> list[dict[str, Any]]:
    rows = [row for batch in pipeline.flow_batches() for row in flow_dicts(batch)]
    return sorted(rows, key=lambda r: (r["ts_start"], r["flow_id"]))


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"x") -> bytes:
    return f.ip(src, dst, f.IPPROTO_UDP, f.udp(src, dst, sport, dport, payload))


def test_summary_counts_link_types_network_layers_and_decode_errors(tmp_path: Path) -> None:
    arp = f.ethernet(f.BROADCAST_MAC, MAC_CLIENT, f.ETH_P_ARP, f.arp(1, MAC_CLIENT, CLIENT, f.ZERO_MAC, SERVER))
    llc = f.ethernet("01:80:c2:00:00:00", MAC_CLIENT, 38, bytes.fromhex("424203") + bytes(35))
    damaged = eth(udp(CLIENT, SERVER, 1, 2))[:20]
    frames = [arp, llc, eth(udp(CLIENT, SERVER, 1, 2)), eth(udp(v6(1), v6(2), 1, 2)), damaged]
    interfaces = (Interface(tsresol=9), Interface(linktype=LINKTYPE_RAW, tsresol=9), Interface(linktype=147))
    blocks = [EnhancedPacket(T0_NS + i, fr) for i, fr in enumerate(frames)]
    blocks += [EnhancedPacket(T0_NS + 10, udp(CLIENT, SERVER, 3, 4), interface=1),
               EnhancedPacket(T0_NS + 11, b"\x00" * 30, interface=2)]
    path = tmp_path / "mixed.pcapng"
    write_pcapng(path, [Section(interfaces=interfaces, blocks=tuple(blocks))])
    pipeline = PacketPipeline([str(path)])
    records = records_of(pipeline)
    s = pipeline.summary
    assert (s.files, s.frames, s.flows, len(records)) == (1, 7, 3, 3)
    assert s.wire_bytes == sum(len(b.data) for b in blocks)
    assert dict(s.link_types) == {"ethernet": 5, "raw": 1, "unknown-147": 1}
    assert dict(s.network) == {"arp": 1, "other": 1, "ipv4": 2, "ipv6": 1, "undecoded": 2}
    assert dict(s.decode_errors) == {"ipv4.truncated_header": 1, "link.unknown_linktype": 1}
    assert s.problems == []
    assert s.as_dict()["link_types"] == {"ethernet": 5, "raw": 1, "unknown-147": 1}


def test_flows_continue_across_rotated_files(tmp_path: Path) -> None:
    c = f.TcpConversation(CLIENT, SERVER, 40000, 502, 1, 1)
    packets = c.handshake() + c.send(True, b"poll") + c.send(False, b"answer") + c.close()
    first, second = tmp_path / "rot-1.pcap", tmp_path / "rot-0.pcap"  # name order is the wrong order
    write_pcap(first, [(T0_NS + i * NS, eth(p)) for i, p in enumerate(packets[:4])], nanosecond=True)
    write_pcap(second, [(T0_NS + (4 + i) * NS, eth(p)) for i, p in enumerate(packets[4:])], nanosecond=True)
    pipeline = PacketPipeline([str(tmp_path)])
    (r,) = records_of(pipeline)
    assert (r["packets_orig"], r["packets_resp"], r["state"], r["history"]) == (5, 3, "SF", "ShADdFf")
    assert pipeline.summary.files == 2


def test_truncated_input_is_a_summary_problem_and_earlier_flows_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    write_pcap(path, [(T0_NS + i, eth(udp(CLIENT, SERVER, 1000 + i, 53))) for i in range(3)])
    path.write_bytes(path.read_bytes()[:-5])
    pipeline = PacketPipeline([str(path)])
    assert len(records_of(pipeline)) == 2
    (problem,) = pipeline.summary.problems
    assert problem.startswith(str(path)) and "byte offset" in problem


class Recorder:
    """A consumer that checks what the pipeline promises about calls."""

    def __init__(self) -> None:
        self.packets_seen = 0
        self.finished_uids: list[int] = []

    def packets(self, pk: PacketBatch, flows: FlowAttribution) -> None:
        assert flows.uid.shape == flows.direction.shape == flows.fid.shape == (len(pk),)
        self.packets_seen += len(pk)

    def flows_finished(self, records: npt.NDArray[np.void]) -> None:
        self.finished_uids += records["uid"].tolist()


def test_consumers_see_every_packet_and_every_record_before_it_is_yielded(tmp_path: Path) -> None:
    frames = [(T0_NS + i * 100 * NS, eth(udp(CLIENT, SERVER, 1000, 53))) for i in range(3)]  # idle splits
    path = tmp_path / "c.pcap"
    write_pcap(path, frames)
    recorder = Recorder()
    pipeline = PacketPipeline([str(path)], consumers=[recorder])
    yielded: list[int] = []
    for batch in pipeline.flow_batches():
        assert set(batch["uid"].tolist()) <= set(recorder.finished_uids)
        yielded += batch["uid"].tolist()
    assert recorder.packets_seen == 3
    assert sorted(yielded) == sorted(recorder.finished_uids) == [0, 1, 2]


def test_progress_reports_growing_byte_counts(tmp_path: Path) -> None:
    path = tmp_path / "p.pcap"
    write_pcap(path, [(T0_NS + i, eth(udp(CLIENT, SERVER, 1, 2, bytes(1000)))) for i in range(200)])
    pipeline = PacketPipeline([str(path)])
    seen: list[int] = []
    for _ in pipeline.flow_batches(seen.append):
        pass
    assert seen and seen == sorted(seen)
    total = pipeline.capture.total_bytes
    assert total == path.stat().st_size
    assert seen[-1] <= total


def test_flow_settings_reach_the_table(tmp_path: Path) -> None:
    path = tmp_path / "s.pcap"
    write_pcap(path, [(T0_NS + i * 5 * NS, eth(udp(CLIENT, SERVER, 1, 2))) for i in range(3)])
    records = records_of(PacketPipeline([str(path)], FlowSettings(udp_idle=4)))
    assert [r["packets_orig"] for r in records] == [1, 1, 1]


# --- TCP streams as a pipeline consumer ---


class Streams:
    def __init__(self) -> None:
        self.chunks: dict[tuple[int, int], list[Chunk]] = {}

    def sink(self, uid: int, direction: int, chunks: list[Chunk]) -> None:
        self.chunks.setdefault((uid, direction), []).extend(chunks)

    def text(self, uid: int, direction: int) -> bytes:
        return b"".join(c.data if not c.gap else b"<gap %d>" % c.gap for c in self.chunks.get((uid, direction), []))


def test_tcp_streams_reassemble_both_directions_in_order(tmp_path: Path) -> None:
    c = f.TcpConversation(CLIENT, SERVER, 40000, 502, 2**32 - 2, 77, mss=4)
    handshake = c.handshake()
    request = c.send(True, b"0123456789")  # 3 segments, the first two captured swapped
    response = c.send(False, b"abcdefgh")  # 2 segments
    packets = [*handshake, request[1], request[0], request[2], *response, *c.close()]
    path = tmp_path / "s.pcap"
    write_pcap(path, [(T0_NS + i * 1000, eth(p)) for i, p in enumerate(packets)])
    streams = Streams()
    pipeline = PacketPipeline([str(path)], consumers=[TcpStreams(streams.sink)])
    (r,) = records_of(pipeline)
    assert streams.text(0, 0) == b"0123456789"
    assert streams.text(0, 1) == b"abcdefgh"
    assert [ch.offset for ch in streams.chunks[(0, 1)]] == [0, 4]
    assert r["payload_orig"] == 10


def test_tcp_streams_selector_decides_per_connection(tmp_path: Path) -> None:
    modbus = f.TcpConversation(CLIENT, SERVER, 40000, 502, 1, 1)
    http = f.TcpConversation(CLIENT, SERVER, 40001, 80, 1, 1)
    packets = (modbus.handshake() + http.handshake() + modbus.send(True, b"mb") + http.send(True, b"GET /")
               + modbus.close() + http.close())
    path = tmp_path / "sel.pcap"
    write_pcap(path, [(T0_NS + i * 1000, eth(p)) for i, p in enumerate(packets)])
    streams = Streams()

    def only_modbus(pk: PacketBatch, i: int, direction: int, payload: bytes) -> bool:
        ports = {int(pk.sport[i]), int(pk.dport[i])}
        return 502 in ports

    consumer = TcpStreams(streams.sink, select=only_modbus)
    records = records_of(PacketPipeline([str(path)], consumers=[consumer]))
    modbus_uid = next(i for i, r in enumerate(records) if r["dport"] == 502)
    assert set(streams.chunks) == {(modbus_uid, 0)}
    assert streams.text(modbus_uid, 0) == b"mb"


def test_tcp_streams_declare_a_gap_for_data_acked_but_not_captured(tmp_path: Path) -> None:
    c = f.TcpConversation(CLIENT, SERVER, 40000, 502, 1000, 5000)
    packets = c.handshake()
    lost = c.send(True, b"lost!")  # not written to the capture
    assert len(lost) == 1
    packets += c.send(False, b"reply") + c.send(True, b"next") + c.close()
    path = tmp_path / "gap.pcap"
    write_pcap(path, [(T0_NS + i * 1000, eth(p)) for i, p in enumerate(packets)])
    streams = Streams()
    records_of(PacketPipeline([str(path)], consumers=[TcpStreams(streams.sink)]))
    assert streams.text(0, 0) == b"<gap 5>next"
    assert streams.text(0, 1) == b"reply"


def test_without_flows_consumers_see_the_same_packets_and_no_records(corpus_dir: Path) -> None:
    from zonewarden.pipeline.endpoints import EndpointObserver

    # Ethernet with VLANs and ARP, IPv6 fragments, layer-2-only traffic, a capture with malformed packets.
    inputs = [str(corpus_dir / rel) for rel in (
        "encapsulation/zeek/vlan-qinqinq.pcap", "encapsulation/zeek/ipv6-fragmented-dns.pcap",
        "bsap/malcolm-pcap/malcolm-BSAP-merged.pcap", "robustness/ndpi/badpackets.pcap",
        "modbus/controlthings-ct-samples/Plant1_ModbusTCP.pcap")]
    runs = []
    for track_flows in (True, False):
        observer = EndpointObserver()
        pipeline = PacketPipeline(inputs, consumers=[observer], track_flows=track_flows)
        records = sum(r.shape[0] for r in pipeline.flow_batches())
        runs.append((records, observer.sightings(), observer.bridge_protocols, pipeline.summary.frames,
                     pipeline.summary.flows))
    (records, sightings, bridges, frames, flows), (no_records, *same) = runs
    assert records == flows > 0 and no_records == 0
    assert same == [sightings, bridges, frames, 0] and len(sightings) > 10


def test_rare_collections_raise_the_threshold_or_pause_and_restore_it() -> None:
    import gc

    from zonewarden.pipeline.packets import rare_collections

    before = gc.get_threshold()
    with rare_collections(250_000):
        assert gc.get_threshold()[0] == max(before[0], 250_000) and gc.isenabled()
    assert gc.get_threshold() == before and gc.isenabled()
    walks: list[int] = []

    def heard(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            walks.append(info["generation"])

    gc.callbacks.append(heard)
    try:
        with rare_collections(None):
            assert not gc.isenabled()
            kept = [[i] for i in range(20_000)]  # young objects the body keeps
        in_oldest = any(o is kept for o in gc.get_objects(generation=2))
    finally:
        gc.callbacks.remove(heard)
    # They went to the oldest generation without a walk.
    assert in_oldest and walks == [] and gc.isenabled() and gc.get_threshold() == before
    gc.freeze()  # a process that froze objects of its own keeps them frozen
    try:
        frozen = gc.get_freeze_count()
        with rare_collections(None):
            kept += [[i] for i in range(1_000)]
        assert gc.get_freeze_count() == frozen and gc.isenabled()
    finally:
        gc.unfreeze()
    gc.disable()  # and a disabled collector stays disabled
    try:
        with rare_collections(None):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

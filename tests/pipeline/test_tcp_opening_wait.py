"""Held openings (streams.TcpStreams ``wait``, AppLayer._opening_waits): a flow that opens on an analyzer's port
gets its analyzer and reassemblers at its first data, with the SYNs replayed first, and changes nothing.

The proof is the Python path's output with and without holding: the same events, flows per protocol, flows
handed back and reassembly counters over every corpus capture and over openings built to tell the two apart
(data out of order after the SYN, retransmitted SYNs past the hold's limit, a connection reset before any
data). And the point of it: a SYN flood on a PLC's port builds no analyzer per forged connection.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from tests.strategies import NS, T0_NS, eth, v4
from zonewarden.flow.tcp_reassembly import ReassemblyStats
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.pipeline.streams import MAX_WAITING
from zonewarden.protocols.base import AnalyzerSpec, FlowContext
from zonewarden.protocols.registry import ANALYZERS
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import write_pcap

CLIENT, SERVER = v4(1), v4(2)
READ = bytes.fromhex("0001 0000 0006 01 03 0000 000a")  # Modbus read holding registers, transaction 1
READ2 = bytes.fromhex("0002 0000 0006 01 03 0010 0002")


@dataclasses.dataclass
class Run:
    events: list[Any]
    flows_by_protocol: Counter[str]
    handed_back: Counter[str]
    stats: ReassemblyStats
    built: Counter[str]  # analyzers built, by protocol


def python_path(path: Path, wait: bool) -> Run:
    """The Python analyzers over ``path`` (no lane), holding openings or not; counts the analyzers built."""
    built: Counter[str] = Counter()

    def counting(spec: AnalyzerSpec) -> AnalyzerSpec:
        def factory(ctx: FlowContext, emit: Any) -> Any:
            built[spec.name] += 1
            return spec.factory(ctx, emit)
        return dataclasses.replace(spec, factory=factory) if spec.transport == "tcp" else spec

    events: list[Any] = []
    app = AppLayer(events.append, [counting(s) for s in ANALYZERS])
    if not wait:
        app.streams.wait = None
    for _records in PacketPipeline([str(path)], consumers=[app]).flow_batches():
        pass
    return Run(events, app.flows_by_protocol, app.handed_back, app.streams.stats, built)


def assert_same(path: Path) -> tuple[Run, Run]:
    held, fed = python_path(path, True), python_path(path, False)
    assert held.events == fed.events
    assert held.flows_by_protocol == fed.flows_by_protocol
    assert held.handed_back == fed.handed_back
    assert held.stats == fed.stats
    return held, fed


def capture(tmp_path: Path, packets: list[bytes], name: str = "c.pcap") -> Path:
    path = tmp_path / name
    write_pcap(path, [(T0_NS + k * NS // 1000, eth(p)) for k, p in enumerate(packets)])
    return path


def test_fresh_stream_analyzers_end_silently() -> None:
    """What holding relies on: a flow that only opened would have had an analyzer that saw nothing but its
    end, and every TCP analyzer says nothing then."""
    for spec in ANALYZERS:
        if spec.transport != "tcp":
            continue
        said: list[Any] = []
        analyzer = spec.factory(FlowContext("C0000000000000001", CLIENT, SERVER, 40000, min(spec.ports)),
                                said.append)
        analyzer.end()
        assert said == [], spec.name


def test_holding_openings_changes_nothing(corpus_capture: str, shared_dir: Path) -> None:
    assert_same(shared_dir / "corpus" / corpus_capture)


def test_first_data_out_of_order_is_placed_by_the_replayed_syn(tmp_path: Path) -> None:
    """The second request arrives before the first: only the held SYN tells the reassembler where the stream
    starts, so both requests are parsed, in order."""
    c = f.TcpConversation(CLIENT, SERVER, 40000, 502, 1000, 5000)
    packets = c.handshake()
    first, second = c.send(True, READ), c.send(True, READ2)
    packets += second + first + c.send(False, READ[:4] + bytes.fromhex("0007 01 03 04 0001 0002")) + c.close()
    held, _fed = assert_same(capture(tmp_path, packets))
    requests = [e for e in held.events if getattr(e, "proto", None) == "modbus" and not e.is_response]
    assert [e.transaction_id for e in requests] == [1, 2]
    assert held.built["modbus"] == 1


def test_retransmitted_syns_past_the_hold_limit(tmp_path: Path) -> None:
    c = f.TcpConversation(CLIENT, SERVER, 40001, 502, 7000, 9000)
    syn = c.segment(True, "S")
    packets = [syn] * (MAX_WAITING + 3)
    c2 = f.TcpConversation(CLIENT, SERVER, 40001, 502, 7000, 9000)
    c2.segment(True, "S")
    packets += [c2.segment(False, "SA"), c2.segment(True, "A"), *c2.send(True, READ), *c2.close()]
    held, _fed = assert_same(capture(tmp_path, packets))
    assert any(getattr(e, "proto", None) == "modbus" for e in held.events)


def test_reset_before_any_data_and_a_server_speaking_first(tmp_path: Path) -> None:
    c = f.TcpConversation(CLIENT, SERVER, 40002, 502, 100, 200)
    reset = [c.segment(True, "S"), c.segment(False, "SA"), c.segment(True, "R")]
    d = f.TcpConversation(CLIENT, SERVER, 40003, 502, 300, 400)
    server_first = d.handshake() + d.send(False, READ) + d.send(True, READ2) + d.close()
    assert_same(capture(tmp_path, reset + server_first))


def test_a_syn_flood_builds_no_analyzer_per_forged_connection(tmp_path: Path) -> None:
    forged = [f.ip(v4(1000 + k), SERVER, f.IPPROTO_TCP, f.tcp(v4(1000 + k), SERVER, 1024 + k, 502, k, 0, "S"))
              for k in range(2000)]
    c = f.TcpConversation(CLIENT, SERVER, 40000, 502, 1000, 5000)
    real = c.handshake() + c.send(True, READ) + c.close()
    held, fed = assert_same(capture(tmp_path, forged + real))
    assert held.flows_by_protocol["modbus"] == 2001  # every flow on the port, as before
    assert held.built["modbus"] == 1  # only the connection that carried data
    assert fed.built["modbus"] == 2001

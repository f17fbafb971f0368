"""The event lane's proof: ``zonewarden events`` writes the same bytes with and without it.

For every corpus capture (those carrying Modbus/TCP, S7comm, DNP3 or EtherNet/IP are the point; the
others check that the lane leaves everything else alone) the JSON lines written with the lane (compiled
encoders for the flows they take, the Python analyzers for the rest) must equal those of the Python
analyzers alone, byte for byte, and the flow counts per protocol must be the same. The captures the
benchmark capture is made of must be (almost) all the lane's, or it is not worth having.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from zonewarden.capture.batching import FRAMES_PER_BATCH
from zonewarden.cli.events import EventsRun, Selection, run_single
from zonewarden.pipeline import eventlane
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.eventlane import ENV_SWITCH, EventLane, attach
from zonewarden.pipeline.eventlane_layout import DRY_OUT
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.protocols.registry import ANALYZERS

from .test_fastlane_parity import BENCH_PARTS

ALL = Selection(True, frozenset())


def events_bytes(path: Path, lane: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, EventsRun]:
    out: list[bytes] = []
    with monkeypatch.context() as m:
        m.setenv(ENV_SWITCH, "1" if lane else "0")
        run = run_single([str(path)], ANALYZERS, ALL, out.append, False, lines=True)
    return b"".join(out), run


def assert_same_events(path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    python, python_run = events_bytes(path, False, monkeypatch)
    lane, lane_run = events_bytes(path, True, monkeypatch)
    if lane != python:
        a, b = python.splitlines(), lane.splitlines()
        first = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        raise AssertionError(f"{len(a)} Python lines, {len(b)} with the lane; first difference at line {first}:\n"
                             f"python: {a[first] if first < len(a) else None!r}\n"
                             f"lane:   {b[first] if first < len(b) else None!r}")
    assert lane_run.flows_by_protocol == python_run.flows_by_protocol
    assert lane_run.handed_back == python_run.handed_back
    return lane


def lane_share(path: Path) -> tuple[int, int]:
    """(events the lane wrote, events in all) for one capture."""
    python: list[object] = []
    app = AppLayer(python.append, ANALYZERS)
    lane = attach(app, [str(path)])
    assert lane is not None
    written = 0
    for _records in PacketPipeline([str(path)], consumers=[app]).flow_batches():
        written += lane.take()[2].count(b"\n")
    written += lane.take()[2].count(b"\n")
    return written, written + len(python)


def test_the_lane_writes_the_same_events(corpus_capture: str, shared_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert_same_events(shared_dir / "corpus" / corpus_capture, monkeypatch)


# The protocols whose encoders are written so far (the others refuse every flow).
LANE_PARTS = BENCH_PARTS


@pytest.mark.parametrize("capture", LANE_PARTS)
def test_the_lane_writes_the_benchmark_flows(capture: str, shared_dir: Path) -> None:
    written, total = lane_share(shared_dir / "corpus" / capture)
    assert total > 1000
    assert written >= 0.95 * total, f"the lane wrote {written} of {total} events"


def test_small_buffers_and_tables_change_nothing(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Output spilled every few payloads, the flow table regrown often: the same bytes."""
    path = shared_dir / "corpus" / BENCH_PARTS[0]
    expected = assert_same_events(path, monkeypatch)
    monkeypatch.setattr(eventlane, "MIN_ROWS", 4)
    monkeypatch.setattr(eventlane, "OUT_BYTES", DRY_OUT + 4096)  # grown, then spilled past MAX_OUT
    monkeypatch.setattr(eventlane, "MAX_OUT", 2 * DRY_OUT + 8192)
    lane, _run = events_bytes(path, True, monkeypatch)
    assert lane == expected


def test_the_switch_and_stdin_turn_the_lane_off(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(shared_dir / "corpus" / BENCH_PARTS[0])
    app = AppLayer(lambda e: None, ANALYZERS)
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert attach(app, [path]) is None
    monkeypatch.delenv(ENV_SWITCH)
    assert attach(app, ["-"]) is None
    only_mqtt = AppLayer(lambda e: None, [s for s in ANALYZERS if s.name == "mqtt"])
    assert attach(only_mqtt, [path]) is None
    assert isinstance(attach(app, [path]), EventLane)


def test_a_survey_refusal_is_kept_by_uid(shared_dir: Path) -> None:
    """The survey's verdict covers every flow uid it saw; refused flows are not the lane's in the run."""
    path = str(shared_dir / "corpus" / BENCH_PARTS[0])
    app = AppLayer(lambda e: None, ANALYZERS)
    refused = eventlane.survey([path], app.tcp_ports)
    assert refused.dtype == np.uint8
    lane = EventLane(app.tcp_ports, np.ones_like(refused))  # every flow refused: the lane writes nothing
    app.lane = lane  # type: ignore[assignment]
    for _records in PacketPipeline([path], consumers=[app]).flow_batches():
        assert lane.take()[0].shape[0] == 0
    assert lane.flows_taken() == Counter()


def _pcap(packets: list[tuple[int, bytes]]) -> bytes:
    """A pcap of Ethernet frames (time in microseconds, frame)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for us, frame in packets:
        out.append(struct.pack("<IIII", us // 10**6, us % 10**6, len(frame), len(frame)) + frame)
    return b"".join(out)


def _tcp(src: int, dst: int, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0, 64, 6, 0, bytes([10, 0, 0, src]),
                     bytes([10, 0, 0, dst]))
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


def _s7_flow(sport: int, cr_cc: list[bytes], data: list[bytes]) -> list[list[bytes]]:
    """Two parts of one S7comm connection: the handshake with the COTP connection, then the data units."""
    seq = [1000, 5000]
    parts: list[list[bytes]] = [[], []]

    def send(part: int, side: int, payload: bytes, flags: int = 0x18) -> None:
        a, b = (1, 2) if side == 0 else (2, 1)
        ports = (sport, 102) if side == 0 else (102, sport)
        parts[part].append(_tcp(a, b, *ports, seq[side], seq[1 - side], flags, payload))
        seq[side] += len(payload) or (1 if flags & 0x02 else 0)

    send(0, 0, b"", 0x02)
    send(0, 1, b"", 0x12)
    for k, payload in enumerate(cr_cc):
        send(0, k % 2, payload)
    for k, payload in enumerate(data):
        send(1, k % 2, payload)
    return parts


def test_held_connection_events_across_a_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The S7comm analyzer holds the COTP connection events until the first data unit: when a flush (a flow
    ended) comes between, the flow is the Python path's; one whose data unit follows before it is the lane's.
    Both ways the bytes are the Python path's."""
    from .test_eventlane_s7 import CC, CR, SETUP, SETUP_ACK

    late = _s7_flow(40001, [CR, CC], [SETUP, SETUP_ACK])
    early = _s7_flow(40002, [CR, CC], [SETUP, SETUP_ACK])
    # A connection refused: it finishes (a flush) at the sweep after its linger, in the second batch.
    ended = [_tcp(3, 4, 1234, 9, 0, 0, 0x02, b""), _tcp(4, 3, 9, 1234, 0, 1, 0x14, b"")]
    filler = _tcp(3, 4, 9, 9, 0, 0, 0x10, b"")  # pure ACKs of another flow, to fill the batches
    first = late[0] + early[0] + early[1] + ended
    t0 = 1_700_000_000 * 10**6
    frames = ([(t0 + k, f) for k, f in enumerate(first)]
              + [(t0 + 100, filler)] * (FRAMES_PER_BATCH - len(first))
              + [(t0 + 60 * 10**6, filler)] * FRAMES_PER_BATCH  # a minute later: the sweep ends `ended`
              + [(t0 + 61 * 10**6 + k, f) for k, f in enumerate(late[1])])
    path = tmp_path / "held.pcap"
    path.write_bytes(_pcap(frames))
    lines = assert_same_events(path, monkeypatch).splitlines()
    assert len(lines) == 8
    written, total = lane_share(path)
    assert (written, total) == (4, 8)  # the early connection's CR, CC, setup and its ack


@pytest.mark.parametrize(("anomalies", "protocols"), [
    (True, {"modbus"}), (True, {"dnp3", "enip"}), (True, {"s7comm_plus"}), (True, {"s7comm"}),
    (True, {"modbus", "s7comm_plus"}),
    (False, set()),
])
def test_selections_are_the_python_paths(anomalies: bool, protocols: set[str], shared_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """--protocol and --no-anomalies with the lane: the Python path's lines (the lane takes only the selected
    protocols' flows, and not those whose encoder writes an anomaly when anomalies are not wanted); several
    captures in one run."""
    from zonewarden.protocols.registry import event_protocols

    assert protocols <= set(event_protocols())
    captures = [str(shared_dir / "corpus" / part) for part in BENCH_PARTS]
    selection = Selection(anomalies, frozenset(protocols))
    specs = [s for s in ANALYZERS if not protocols or s.event_protos & protocols]
    outputs = []
    for lane in ("0", "1"):
        out: list[bytes] = []
        monkeypatch.setenv(ENV_SWITCH, lane)
        run_single(captures, specs, selection, out.append, False, lines=True)
        outputs.append(b"".join(out))
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") > 100 or protocols == {"s7comm_plus"}
    lane = attach(AppLayer(lambda e: None, specs), captures, anomalies, frozenset(protocols))
    assert (lane is None) == (protocols == {"s7comm_plus"})  # (no lane protocol selected)


def _modbus_flow(src: int, sport: int, tid: int, ipv6: bool = False) -> list[bytes]:
    request = struct.pack("!HHHB", tid, 0, 6, 1) + bytes([3, 0, 1, 0, 2])
    response = struct.pack("!HHHB", tid, 0, 7, 1) + bytes([3, 4, 0, 1, 0, 2])
    if not ipv6:
        a, b = divmod(src, 250)
        return [_tcp_addr(bytes([10, 1, a, b + 1]), bytes([10, 0, 0, 2]), sport, 502, 100, 0, 0x02, b""),
                _tcp_addr(bytes([10, 1, a, b + 1]), bytes([10, 0, 0, 2]), sport, 502, 101, 0, 0x18, request),
                _tcp_addr(bytes([10, 0, 0, 2]), bytes([10, 1, a, b + 1]), 502, sport, 0, 113, 0x18, response)]
    ip6 = [bytes(15) + bytes([1]), bytes(15) + bytes([2])]
    frames = []
    for (s, d, sp, dp, seq, payload) in ((0, 1, sport, 502, 101, request), (1, 0, 502, sport, 0, response)):
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, ip6[s], ip6[d])
        frames.append(b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip + tcp)
    return frames


def _tcp_addr(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0, 64, 6, 0, src, dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


def test_flows_past_the_lanes_bounds_are_the_python_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More live flows than MAX_ROWS (a scan, a flood), IPv6 addresses, times before 1972: those flows go to
    the Python path; the lines are the same, and the lane keeps (and writes) the rest."""
    from zonewarden.pipeline.eventlane_layout import MAX_ROWS

    n = MAX_ROWS + 500
    t0 = 1_700_000_000 * 10**6
    opened = [_modbus_flow(k, 20000 + k % 40000, k) for k in range(n)]  # all open at once
    frames = [(t0 + k, f[0]) for k, f in enumerate(opened)]
    frames += [(t0 + n + k, part) for k, f in enumerate(opened) for part in f[1:]]
    frames += [(t0 + 3 * n + k, f) for k, f in enumerate(_modbus_flow(0, 999, 7, ipv6=True))]
    early = [(1_000_000 + k, f) for k, f in enumerate(_modbus_flow(9999, 998, 8))]  # 1970: not writable
    path = tmp_path / "many.pcap"
    path.write_bytes(_pcap(early + frames))
    lines = assert_same_events(path, monkeypatch)
    assert lines.count(b"\n") == 2 * (n + 2)
    written, total = lane_share(path)
    assert total == 2 * (n + 2)
    assert 2 * (MAX_ROWS - 10) <= written <= 2 * MAX_ROWS  # the first MAX_ROWS flows, not the rest

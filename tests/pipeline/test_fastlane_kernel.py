"""The fast lane's kernel on hand-made TCP segments: what it counts, what it hands to the Python analyzers,
where it gives a flow up, and that the total is always what the Python path alone finds."""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.strategies import T0_NS, eth, v4
from zonewarden.inventory.operations import operation
from zonewarden.model.events import Event
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.fastlane import FastLane, LaneChunk, MessageCounts
from zonewarden.pipeline.fastlane_layout import LANE_CONSUMED, LANE_HANDOFF, LANE_NONE, LANE_SLOW
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.protocols.dnp3.wire_link import crc16
from zonewarden.protocols.registry import ANALYZERS
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import write_pcap

CLIENT, SERVER = v4(1), v4(2)


@dataclass
class LaneRun:
    status: list[int]  # per packet, in capture order (fastlane_layout.LANE_*)
    counted: list[MessageCounts]
    events: list[Event]  # message events of the Python analyzers

    def kinds(self) -> Counter[tuple[str, bool, str | None]]:
        """(protocol, is_response, operation) of every message, counted here or parsed in Python."""
        out: Counter[tuple[str, bool, str | None]] = Counter()
        for c in self.counted:
            ops = sum(c.operations.values())
            out.update({(c.proto, c.is_response, op): n for op, n in c.operations.items()})
            if c.count > ops:
                out[(c.proto, c.is_response, None)] += c.count - ops
        out.update((str(e.proto), bool(e.is_response), operation(e)) for e in self.events)
        return out


def run(tmp_path: Path, packets: list[bytes], *, lane: bool = True) -> LaneRun:
    path = tmp_path / "lane.pcap"
    write_pcap(path, [(T0_NS + i * 1000, eth(p)) for i, p in enumerate(packets)])
    counted: list[MessageCounts] = []
    events: list[Event] = []
    app = AppLayer(events.append, ANALYZERS)
    status: list[int] = []
    if lane:
        fast = FastLane(counted.append, app.tcp_ports)
        walk = fast.run

        def spy(pk: object, flows: object) -> LaneChunk:
            chunk = walk(pk, flows)  # type: ignore[arg-type]
            status.extend(chunk.status.tolist())
            return chunk

        fast.run = spy  # type: ignore[method-assign]
        app.lane = fast
    for _ in PacketPipeline([str(path)], consumers=[app]).flow_batches():
        pass
    return LaneRun(status, counted, [e for e in events if e.kind == "message"])


def same_as_python(tmp_path: Path, packets: list[bytes]) -> LaneRun:
    fast, slow = run(tmp_path, packets), run(tmp_path, packets, lane=False)
    assert fast.kinds() == slow.kinds()
    return fast


# ---- Modbus/TCP ADUs, field by field
def mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack("!HHHB", tid, 0, len(pdu) + 1, unit) + pdu  # transaction, protocol 0, length, unit


READ_HOLDING = bytes([0x03]) + struct.pack("!HH", 0, 10)  # function 3, address 0, quantity 10
READ_HOLDING_ANSWER = bytes([0x03, 20]) + bytes(20)  # function 3, byte count 20, ten registers
DEVICE_ID = bytes([0x2B, 0x0E, 0x01, 0x00])  # function 43, MEI 14, basic identification, object 0
DEVICE_ID_ANSWER = bytes([0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x01,  # ..., conformity 1, no more, next 0, 1 object
                          0x00, 0x07]) + b"ACME Co"  # object 0 (vendor name), 7 bytes


def modbus_session(mss: int = 1460) -> f.TcpConversation:
    return f.TcpConversation(CLIENT, SERVER, 40000, 502, 1000, 9000, mss=mss)


def test_pipelined_pdus_in_one_segment_are_all_counted(tmp_path: Path) -> None:
    c = modbus_session()
    packets = [*c.handshake(),
               *c.send(True, mbap(1, 1, READ_HOLDING) + mbap(2, 1, READ_HOLDING) + mbap(3, 2, READ_HOLDING)),
               *c.send(False, mbap(1, 1, READ_HOLDING_ANSWER) + mbap(2, 1, READ_HOLDING_ANSWER)
                       + mbap(3, 2, READ_HOLDING_ANSWER)),
               *c.close()]
    lane = same_as_python(tmp_path, packets)
    assert lane.events == []
    assert set(lane.status) == {LANE_CONSUMED, LANE_NONE}  # the pure ACKs are no one's
    requests = next(m for m in lane.counted if not m.is_response)
    answers = next(m for m in lane.counted if m.is_response)
    assert (requests.src, requests.dst, requests.count, requests.operations) == (CLIENT, SERVER, 3, {"read": 3})
    assert requests.flows and requests.flows[0][1] == 40000  # the flow registers with its client port
    assert sorted(s["unit_id"] for s in answers.samples) == [1, 2]  # the answers' unit ids reach the marks


def test_a_pdu_across_segments_hands_the_flow_to_python_from_there(tmp_path: Path) -> None:
    c = modbus_session(mss=8)
    packets = [*c.handshake(), *c.send(True, mbap(9, 1, bytes([0x07]))),  # read exception status: 8 bytes
               *c.send(True, mbap(1, 1, READ_HOLDING)),  # 12 bytes: segments of 8 and 4
               *c.send(False, mbap(1, 1, READ_HOLDING_ANSWER[:2]))]
    lane = same_as_python(tmp_path, packets)
    # handshake, one whole request counted, then the split one: the Python path from there on.
    assert lane.status[:5] == [LANE_CONSUMED, LANE_CONSUMED, LANE_NONE, LANE_CONSUMED, LANE_SLOW]
    assert [e.transaction_id for e in lane.events] == [1, 1]  # type: ignore[attr-defined]


def test_a_retransmission_is_dropped_as_the_reassembler_drops_it(tmp_path: Path) -> None:
    c = modbus_session()
    handshake = c.handshake()
    request = c.send(True, mbap(1, 1, READ_HOLDING))
    packets = [*handshake, *request, *request, *c.send(False, mbap(1, 1, READ_HOLDING_ANSWER))]
    lane = same_as_python(tmp_path, packets)
    assert lane.status == [LANE_CONSUMED, LANE_CONSUMED, LANE_NONE, LANE_CONSUMED, LANE_CONSUMED, LANE_CONSUMED]
    assert sum(m.count for m in lane.counted) == 2


def test_data_beyond_a_hole_goes_to_python(tmp_path: Path) -> None:
    c = modbus_session()
    handshake = c.handshake()
    c.send(True, mbap(1, 1, READ_HOLDING))  # never captured
    packets = [*handshake, *c.send(True, mbap(2, 1, READ_HOLDING)), *c.send(False, mbap(2, 1, READ_HOLDING_ANSWER))]
    lane = same_as_python(tmp_path, packets)
    assert lane.status[3] == LANE_SLOW
    assert len(lane.events) == 2


def test_identity_requests_and_answers_go_to_the_analyzer(tmp_path: Path) -> None:
    c = modbus_session()
    packets = [*c.handshake(), *c.send(True, mbap(1, 1, READ_HOLDING)), *c.send(False, mbap(1, 1, READ_HOLDING_ANSWER)),
               *c.send(True, mbap(2, 1, DEVICE_ID)), *c.send(False, mbap(2, 1, DEVICE_ID_ANSWER)),
               *c.send(True, mbap(3, 1, READ_HOLDING))]
    lane = same_as_python(tmp_path, packets)
    assert lane.status[3:] == [LANE_CONSUMED, LANE_CONSUMED, LANE_HANDOFF, LANE_HANDOFF, LANE_CONSUMED]
    assert [e.device_id for e in lane.events] == [None, {"vendor_name": "ACME Co"}]  # type: ignore[attr-defined]


# ---- DNP3 link frames, field by field
def dnp3_frame(control: int, user_data: bytes, dst: int = 10, src: int = 1, corrupt: bool = False) -> bytes:
    header = bytes([0x05, 0x64, 5 + len(user_data), control]) + struct.pack("<HH", dst, src)
    out = header + struct.pack("<H", crc16(header))
    for i in range(0, len(user_data), 16):
        block = user_data[i : i + 16]
        crc = crc16(block) ^ (1 if corrupt else 0)
        out += block + struct.pack("<H", crc)
    return out


PRIMARY_USER_DATA = 0xC4  # DIR, PRM, unconfirmed user data
SECONDARY_USER_DATA = 0x44  # PRM, unconfirmed user data (from the outstation: DIR clear)
READ_CLASS_0 = bytes([0xC0, 0xC1, 0x01, 0x3C, 0x01, 0x06])  # transport FIR FIN, app FIR FIN seq 1, read, g60v1 all


def class_0_answer(points: int) -> bytes:
    """Response (129), IIN 0, g30v2 (16-bit analog with flags) start/stop 0..points-1."""
    return bytes([0xC1, 0x81, 0x00, 0x00, 30, 2, 0x00, 0, points - 1]) + bytes(3 * points)


def dnp3_session() -> f.TcpConversation:
    return f.TcpConversation(CLIENT, SERVER, 40001, 20000, 5000, 7000)


def test_dnp3_single_frame_fragments_are_counted(tmp_path: Path) -> None:
    c = dnp3_session()
    packets = [*c.handshake(), *c.send(True, dnp3_frame(PRIMARY_USER_DATA, READ_CLASS_0)),
               *c.send(False, dnp3_frame(SECONDARY_USER_DATA, bytes([0xC0]) + class_0_answer(4), dst=1, src=10))]
    lane = same_as_python(tmp_path, packets)
    assert lane.events == []
    assert {(m.is_response, m.count) for m in lane.counted} == {(False, 1), (True, 1)}


def test_a_dnp3_fragment_in_several_frames_is_reassembled_in_the_kernel(tmp_path: Path) -> None:
    c = dnp3_session()
    answer = class_0_answer(100)  # 309 bytes: two frames of transport 0x40 (FIR) and 0x81 (FIN, seq 1)
    packets = [*c.handshake(), *c.send(True, dnp3_frame(PRIMARY_USER_DATA, READ_CLASS_0)),
               *c.send(False, dnp3_frame(SECONDARY_USER_DATA, bytes([0x40]) + answer[:249], dst=1, src=10)),
               *c.send(False, dnp3_frame(SECONDARY_USER_DATA, bytes([0x81]) + answer[249:], dst=1, src=10))]
    lane = same_as_python(tmp_path, packets)
    assert lane.events == []
    assert sum(m.count for m in lane.counted) == 2


def test_a_bad_dnp3_crc_hands_the_flow_to_python(tmp_path: Path) -> None:
    c = dnp3_session()
    packets = [*c.handshake(), *c.send(True, dnp3_frame(PRIMARY_USER_DATA, READ_CLASS_0)),
               *c.send(True, dnp3_frame(PRIMARY_USER_DATA, READ_CLASS_0, corrupt=True)),
               *c.send(True, dnp3_frame(PRIMARY_USER_DATA, READ_CLASS_0))]
    lane = same_as_python(tmp_path, packets)
    assert lane.status[3:] == [LANE_CONSUMED, LANE_SLOW, LANE_NONE]
    assert len(lane.events) == 1  # the corrupt frame is dropped there (an anomaly), the next one parsed


def test_garbage_before_the_first_dnp3_frame_is_skipped_as_the_analyzer_skips_it(tmp_path: Path) -> None:
    c = dnp3_session()
    syn_with_data = c.segment(True, "S", b"X" * 120)  # as in a flood of SYNs carrying junk
    packets = [syn_with_data, c.segment(False, "SA"), *c.send(True, dnp3_frame(PRIMARY_USER_DATA, READ_CLASS_0))]
    lane = same_as_python(tmp_path, packets)
    assert lane.status == [LANE_CONSUMED, LANE_CONSUMED, LANE_CONSUMED]


# ---- EtherNet/IP: encapsulation header, CPF items and CIP, field by field
def send_rr_data(cip: bytes, context: bytes = b"ctx00001") -> bytes:
    items = struct.pack("<HHHHH", 2, 0x0000, 0, 0x00B2, len(cip)) + cip  # 2 items: null address, unconnected data
    body = struct.pack("<IH", 0, 0) + items  # interface handle, timeout
    return struct.pack("<HHII", 0x6F, len(body), 0x11223344, 0) + context + struct.pack("<I", 0) + body


GET_IDENTITY = bytes([0x01, 0x02, 0x20, 0x01, 0x24, 0x01])  # Get_Attributes_All, path class 1 instance 1
GET_TAG_CLASS = bytes([0x0E, 0x03, 0x20, 0x6B, 0x24, 0x01, 0x30, 0x01])  # Get_Attribute_Single 0x6B/1/1
IDENTITY_ANSWER = (bytes([0x81, 0x00, 0x00, 0x00])  # reply to service 1, status 0, no additional status
                   + struct.pack("<HHHBBHI", 1, 14, 55, 20, 11, 0x30, 0xC0FFEE) + bytes([7]) + b"1756-L7")
TAG_ANSWER = bytes([0x8E, 0x00, 0x00, 0x00, 0x2A, 0x00])


def test_cip_identity_requests_take_their_replies_to_the_analyzer(tmp_path: Path) -> None:
    c = f.TcpConversation(CLIENT, SERVER, 40002, 44818, 100, 200)
    packets = [*c.handshake(), *c.send(True, send_rr_data(GET_TAG_CLASS, b"ctx00001")),
               *c.send(False, send_rr_data(TAG_ANSWER, b"ctx00001")),
               *c.send(True, send_rr_data(GET_IDENTITY, b"ctx00002")),
               *c.send(False, send_rr_data(IDENTITY_ANSWER, b"ctx00002"))]
    lane = same_as_python(tmp_path, packets)
    assert lane.status[3:] == [LANE_CONSUMED, LANE_CONSUMED, LANE_HANDOFF, LANE_HANDOFF]
    assert [e.product_name for e in lane.events] == [None, "1756-L7"]  # type: ignore[attr-defined]


def test_the_dnp3_tables_are_the_analyzers_tables() -> None:
    """The kernel's object table is built on is_empty depending only on the group and on variation 0."""
    from zonewarden.pipeline.fastlane import dnp3_tables
    from zonewarden.protocols.dnp3 import wire_objects

    _, kind, empty, _ = dnp3_tables()
    assert [bool(empty[g * 256 + v]) for g in range(256) for v in range(256)] == [
        wire_objects.is_empty(g, v) for g in range(256) for v in range(256)]
    assert all(kind[g * 256 + v] == size for (g, v), size in wire_objects.SIZES.items() if g not in (0, 70, 120))


def test_fragments_held_at_once_in_many_flows_grow_the_arena(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from zonewarden.pipeline import fastlane

    monkeypatch.setattr(fastlane, "MIN_SLOTS", 1)
    sessions = [f.TcpConversation(CLIENT, SERVER, 41000 + k, 20000, 100 * k, 7000) for k in range(3)]
    answer = class_0_answer(100)
    packets = [p for c in sessions for p in c.handshake()]
    packets += [p for c in sessions for p in c.send(False, dnp3_frame(SECONDARY_USER_DATA, bytes([0x40]) + answer[:249],
                                                                      dst=1, src=10))]
    packets += [p for c in sessions for p in c.send(False, dnp3_frame(SECONDARY_USER_DATA, bytes([0x81]) + answer[249:],
                                                                      dst=1, src=10))]
    lane = same_as_python(tmp_path, packets)
    assert lane.events == []
    assert LANE_SLOW not in lane.status


# ---- opening SYNs: held in a small table of their own until the flow sends anything else
def lane_tables_after_the_walk(tmp_path: Path, packets: list[bytes], monkeypatch: pytest.MonkeyPatch,
                               ) -> tuple[LaneRun, list[tuple[int, int]]]:
    """The run, and (rows in use, opening SYNs held) after each batch's walk, before its flows are finished."""
    from zonewarden.pipeline import fastlane
    from zonewarden.pipeline import fastlane_layout as layout

    seen: list[tuple[int, int]] = []
    walk = fastlane.FastLane.run

    def spy(lane: FastLane, pk: object, flows: object) -> LaneChunk:
        chunk = walk(lane, pk, flows)  # type: ignore[arg-type]
        seen.append((int(lane.params[layout.P_USED]), int(lane.params[layout.P_SYN_USED])))
        return chunk

    monkeypatch.setattr(fastlane, "MIN_ROWS", 4)  # so that the SYNs make both tables grow
    with monkeypatch.context() as m:
        m.setattr(fastlane.FastLane, "run", spy)
        lane = same_as_python(tmp_path, packets)
    return lane, seen


def test_a_syn_flood_takes_no_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flood = [f.ip(v4(100 + k), SERVER, 6, f.tcp(v4(100 + k), SERVER, 30000 + k, 502, 77 * k, 0, "S"))
             for k in range(40)]
    c = modbus_session()
    packets = [*flood[:20], *c.handshake(), *c.send(True, mbap(1, 1, READ_HOLDING)), *flood[20:],
               *c.send(False, mbap(1, 1, READ_HOLDING_ANSWER))]
    lane, tables = lane_tables_after_the_walk(tmp_path, packets, monkeypatch)
    assert tables == [(1, 40)]  # one row (the session, moved out of the SYN table by its SYN-ACK), 40 SYNs held
    assert lane.status.count(LANE_CONSUMED) == 40 + 2 + 2  # every SYN; the session's SYN, SYN-ACK and messages
    assert sum(m.count for m in lane.counted) == 2


@pytest.mark.parametrize("case", ["syn again", "syn from both sides", "syn then rst", "syn then data"])
def test_a_flow_that_opened_goes_on_as_with_a_row_from_the_start(tmp_path: Path, case: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    c = modbus_session()
    syn = c.segment(True, "S")
    if case == "syn again":
        rest = [syn, *[c.segment(False, "SA"), c.segment(True, "A")], *c.send(True, mbap(1, 1, READ_HOLDING))]
    elif case == "syn from both sides":  # a simultaneous open: the server's own SYN opens its direction
        rest = [c.segment(False, "S"), c.segment(True, "SA"), *c.send(True, mbap(1, 1, READ_HOLDING)),
                *c.send(False, mbap(1, 1, READ_HOLDING_ANSWER))]
    elif case == "syn then rst":
        rest = [c.segment(False, "RA"), *c.send(True, mbap(1, 1, READ_HOLDING))]
    else:  # data without a handshake (the capture missed it), in order after the SYN
        c._next[True] = (c.isn_c + 1) & 0xFFFFFFFF
        rest = c.send(True, mbap(1, 1, READ_HOLDING))
    lane, tables = lane_tables_after_the_walk(tmp_path, [syn, *rest], monkeypatch)
    assert tables[-1][1] == 0  # the SYN table is empty once the flow sent anything else
    assert lane.status[0] == LANE_CONSUMED

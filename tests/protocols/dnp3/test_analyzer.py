"""DNP3 analyzers: stream framing, transport reassembly, request matching, anomalies and limits."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocols.dnp3.frames import MASTER, OUTSTATION, link_frame, segment, segments
from tests.protocols.dnp3.test_wire import (
    BAD_CRC_LINK_FRAME,
    DEVICE_ATTRIBUTES_RESPONSE,
    LINK_STATUS,
    READ_CLASS_1230_REQUEST,
    REQUEST_LINK_STATUS,
    SELECT_CROB_REQUEST,
    h,
)
from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.dnp3 import SPECS
from zonewarden.protocols.dnp3.analyzer import (
    MAX_FRAGMENT,
    MAX_PENDING,
    MAX_REASSEMBLIES,
    Dnp3Analyzer,
    Dnp3DatagramAnalyzer,
)
from zonewarden.protocols.dnp3.events import Dnp3Event

# The outstation's answer to SELECT_CROB_REQUEST (Zeek's dnp3_select_operate.pcap frame 6).
SELECT_CROB_RESPONSE = h("""
    05 64 1c 44 03 00 02 00 4b 91   # length 28, PRM unconfirmed user data, to 3 from 2, header CRC
    fc                              # transport: FIN, FIR, sequence 60
    c7 81 00 00                     # application: FIR FIN seq 7, response, IIN 0
    0c 01 28 01 00 01 00            # g12v1 echoed, qualifier 0x28, count 1, index 1
    03 01 64 00                     # latch on, count 1, on time (first two bytes)
    01 a4                           # block CRC
    00 00 64 00 00 00 00            # on time = 100 ms, off time 100 ms, status 0 (success)
    00 5b                           # block CRC
""")
RESPONSE_APDU = h("c1 81 00 00 1e 04 00 00 00 2a 00")  # response: g30v4 point 0 = 42
BIG_RESPONSE = h("c0 81 00 00 1e 04 00 00 e7") + b"\x07\x00" * 232  # g30v4 points 0..231: 473 bytes


def run(chunks: list[tuple[int, bytes]], udp: bool = False) -> tuple[list[Dnp3Event], list[AnomalyEvent], bool]:
    events: list[Event] = []
    ctx = FlowContext("Ctest", "10.0.0.1", "10.0.0.2", 40000, 20000)
    analyzer: Dnp3Analyzer | Dnp3DatagramAnalyzer
    if udp:
        analyzer = Dnp3DatagramAnalyzer(ctx, events.append)
        for n, (direction, data) in enumerate(chunks, start=1):
            analyzer.datagram(direction, data, n * 1000, n)
    else:
        analyzer = Dnp3Analyzer(ctx, events.append)
        for n, (direction, data) in enumerate(chunks, start=1):
            analyzer.data(direction, data, n * 1000, n)
    analyzer.end()
    for e in events:
        assert msgspec.json.decode(msgspec.json.encode(e), type=type(e)) == e
    messages = [e for e in events if isinstance(e, Dnp3Event)]
    anomalies = [e for e in events if isinstance(e, AnomalyEvent)]
    return messages, anomalies, analyzer.rejected


def kinds(anomalies: list[AnomalyEvent]) -> list[str]:
    return [a.anomaly for a in anomalies]


def test_select_and_its_response_are_matched() -> None:
    msgs, anomalies, _ = run([(0, SELECT_CROB_REQUEST), (1, SELECT_CROB_RESPONSE)])
    assert anomalies == []
    req, resp = msgs
    assert (req.function, req.is_response, req.link_src, req.link_dst) == ("select", False, 3, 2)
    assert req.objects == ["g12v1"]
    assert (resp.function_code, resp.is_response, resp.iin, resp.iin_flags) == (129, True, 0, [])
    assert (resp.request_function, resp.request_frame) == (3, 1)
    assert resp.points is not None and resp.points[0].control_code == 3


def test_link_only_frames_are_events() -> None:
    msgs, anomalies, _ = run([(0, REQUEST_LINK_STATUS), (1, LINK_STATUS)])
    assert anomalies == []
    assert [(m.function_code, m.link_function, m.link_function_name, m.is_response) for m in msgs] == [
        (None, 9, "request_link_status", False), (None, 11, "link_status", True)]
    assert msgs[0].objects is None


def test_frames_split_and_joined_arbitrarily() -> None:
    stream = READ_CLASS_1230_REQUEST + REQUEST_LINK_STATUS + SELECT_CROB_REQUEST
    whole, _, _ = run([(0, stream)])
    bytewise, anomalies, _ = run([(0, stream[i : i + 1]) for i in range(len(stream))])
    assert anomalies == []
    assert [m.function_code for m in whole] == [m.function_code for m in bytewise] == [1, None, 3]


def test_multi_segment_fragment_is_reassembled_across_the_sequence_wrap() -> None:
    parts = segments(BIG_RESPONSE, first_seq=62, from_master=False)
    assert len(parts) == 2 and parts[1][10] & 0x3F == 63
    parts3 = segments(BIG_RESPONSE, first_seq=63, from_master=False)  # 63 then 0
    msgs, anomalies, _ = run([(1, p) for p in parts] + [(1, p) for p in parts3])
    assert anomalies == []
    assert [(m.segments, m.fragment_size, m.frame) for m in msgs] == [(2, 473, 2), (2, 473, 4)]
    assert msgs[0].points_total == 232


def test_out_of_sequence_segment_drops_the_fragment() -> None:
    first = segment(b"\xc0\x81\x00\x00" + b"\x00" * 100, seq=5, fir=True, fin=False, from_master=False)
    skipped = segment(b"\x00" * 10, seq=9, fir=False, fin=True, from_master=False)  # 6 was expected
    msgs, anomalies, _ = run([(1, first), (1, skipped)])
    assert msgs == [] and kinds(anomalies) == ["dnp3.transport_sequence"]


def test_new_first_segment_before_the_last_one() -> None:
    first = segment(b"\xc0\x81\x00\x00", seq=1, fir=True, fin=False, from_master=False)
    msgs, anomalies, _ = run([(1, first), (1, segment(RESPONSE_APDU, seq=2, from_master=False))])
    assert kinds(anomalies) == ["dnp3.transport_incomplete"] and [m.function_code for m in msgs] == [129]


def test_link_layer_retry_of_a_segment_is_ignored() -> None:
    first, last = segments(BIG_RESPONSE, first_seq=10, from_master=False)
    msgs, anomalies, _ = run([(1, first), (1, first), (1, last), (1, last)])
    assert anomalies == [] and len(msgs) == 1


def test_segment_without_first_segment() -> None:
    msgs, anomalies, _ = run([(1, segment(RESPONSE_APDU, seq=4, fir=False, fin=True, from_master=False))])
    assert msgs == [] and kinds(anomalies) == ["dnp3.transport_sequence"]


def test_oversized_and_runaway_reassembly() -> None:
    body = segment(b"\x00" * 249, seq=0, fir=True, fin=False)
    stream = [(0, body)] + [(0, segment(b"\x00" * 249, seq=n % 64, fir=False, fin=False)) for n in range(1, 300)]
    msgs, anomalies, _ = run(stream)
    assert msgs == []
    assert kinds(anomalies)[:2] == ["dnp3.oversized_fragment", "dnp3.fragment_too_large"]
    assert all(k == "dnp3.transport_sequence" for k in kinds(anomalies)[2:])  # the rest lacks a first segment
    assert MAX_FRAGMENT < 249 * 300


def test_reassemblies_per_flow_are_bounded() -> None:
    starts = [link_frame(0xC4, OUTSTATION, src, b"\x40" + b"\x00" * 10) for src in range(MAX_REASSEMBLIES + 1)]
    _, anomalies, _ = run([(0, b"".join(starts))])
    assert kinds(anomalies) == ["dnp3.too_many_reassemblies"]


def test_outstanding_requests_are_bounded() -> None:
    # Reads from as many masters, none answered: each waits for its response until the limit evicts one.
    frames = [link_frame(0xC4, OUTSTATION, MASTER + n, bytes([0xC0, 0xC0 | n % 16, 0x01, 0x3C, 0x01, 0x06]))
              for n in range(MAX_PENDING + 1)]
    msgs, anomalies, _ = run([(0, b"".join(frames))])
    assert len(msgs) == MAX_PENDING + 1 and kinds(anomalies) == ["dnp3.too_many_outstanding"]


def test_bad_crc_frame_is_dropped_with_an_anomaly() -> None:
    msgs, anomalies, _ = run([(0, READ_CLASS_1230_REQUEST + BAD_CRC_LINK_FRAME + REQUEST_LINK_STATUS)])
    assert [m.function_code for m in msgs] == [1, None]
    assert kinds(anomalies) == ["dnp3.bad_crc"]


def test_garbage_between_frames_is_skipped() -> None:
    msgs, anomalies, _ = run([(0, READ_CLASS_1230_REQUEST + b"\x00\x11\x05\x22" + READ_CLASS_1230_REQUEST)])
    assert len(msgs) == 2 and kinds(anomalies) == ["dnp3.garbage"]


def test_gap_resynchronises_quietly() -> None:
    events: list[Event] = []
    analyzer = Dnp3Analyzer(FlowContext("C", "a", "b", 1, 20000), events.append)
    analyzer.data(0, READ_CLASS_1230_REQUEST[:15], 1, 1)
    analyzer.gap(0, 100, 2, 2)
    analyzer.data(0, READ_CLASS_1230_REQUEST[20:] + READ_CLASS_1230_REQUEST, 3, 3)
    assert [e.kind for e in events] == ["message"]


def test_not_dnp3_is_handed_back() -> None:
    _, _, rejected = run([(0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 60)])
    assert rejected


def test_identity_from_a_response() -> None:
    response = segment(DEVICE_ATTRIBUTES_RESPONSE, seq=0, from_master=False)
    write = segment(b"\xc0\x02" + DEVICE_ATTRIBUTES_RESPONSE[4:], seq=0, from_master=True)
    (resp,), _, _ = run([(1, response)])
    assert (resp.vendor_name, resp.product_name, resp.software_version, resp.serial_number) == (
        "ACME", "RTU-1", "2.1", "99")
    assert resp.device_attributes == {"manufacturer_name": "ACME", "max_tx_fragment_size": 2048,
                                      "product_name_model": "RTU-1", "serial_number": "99", "software_version": "2.1"}
    (req,), _, _ = run([(0, write)])
    assert req.vendor_name is None and req.device_attributes is not None  # a master writing attributes


def test_unsolicited_response_and_its_confirm() -> None:
    unsolicited = segment(h("f3 82 90 00 02 02 17 01 05 81 e8 03 00 00 00 00"), seq=1, from_master=False)
    confirm = segment(h("d3 00"), seq=2, from_master=True)
    msgs, anomalies, _ = run([(1, unsolicited), (0, confirm)])
    assert anomalies == []
    assert [(m.function, m.unsolicited, m.uns, m.con, m.request_function) for m in msgs] == [
        ("unsolicited_response", True, True, True, None), ("confirm", False, True, False, None)]
    assert msgs[0].iin_flags == ["device_restart", "need_time"]


def test_udp_datagrams_carry_whole_frames() -> None:
    msgs, anomalies, rejected = run([(0, REQUEST_LINK_STATUS), (1, LINK_STATUS + SELECT_CROB_REQUEST)], udp=True)
    assert not rejected and anomalies == []
    assert [m.function_code for m in msgs] == [None, None, 3]
    msgs, anomalies, _ = run([(0, READ_CLASS_1230_REQUEST), (0, READ_CLASS_1230_REQUEST[:-3])], udp=True)
    assert len(msgs) == 1 and kinds(anomalies) == ["dnp3.truncated_frame"]
    _, _, rejected = run([(0, b"\x00" * 40)], udp=True)
    assert rejected


def test_one_spec_serves_tcp_and_udp() -> None:
    (spec,) = SPECS
    assert spec.name == "dnp3" and spec.transport == "tcp" and spec.ports == frozenset({20000})
    assert spec.factory is Dnp3Analyzer and spec.datagram_factory is Dnp3DatagramAnalyzer


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from([b"\xc0\x81\x00\x00", b"\xc0\x82\x00\x00", b"\xc0\x02",
                                                              b"\xc0\x05", b"\xc0\x01", b"\xc0\x00", b"\xc0\x0d"]),
                          st.binary(max_size=400), st.integers(0, 63)), max_size=6),
       st.integers(1, 300))
def test_valid_frames_with_random_fragments_never_break_the_analyzer(
        messages: list[tuple[int, bytes, bytes, int]], chunk: int) -> None:
    """Frames with sound CRCs around random application fragments (the conformance fuzz mostly meets bad
    CRCs), cut into arbitrary TCP chunks."""
    stream: list[tuple[int, bytes]] = []
    for direction, head, body, seq in messages:
        data = b"".join(segments(head + body, first_seq=seq, from_master=direction == 0))
        stream += [(direction, data[i : i + chunk]) for i in range(0, len(data), chunk)]
    msgs, anomalies, _ = run(stream)
    assert len(msgs) == len(messages)
    assert all(a.anomaly.startswith("dnp3.") for a in anomalies)

"""IEC 60870-5-104 analyzer: events, sequence tracking per direction, framing across segments, anomalies."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocols.iec104.test_wire import (
    DOUBLE_COMMAND_SELECT_WITH_TIME,
    INTERROGATION_ACT,
    S_FORMAT_NR_13,
    SINGLE_POINTS_SQ,
    STARTDT_ACT,
    TRUNCATED_OBJECTS,
    U_FORMAT_TWO_FUNCTIONS,
)
from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.iec104.analyzer import Iec104Analyzer
from zonewarden.protocols.iec104.events import Iec104Event

CLIENT, SERVER = 0, 1


def _analyzer() -> tuple[Iec104Analyzer, list[Event]]:
    events: list[Event] = []
    return Iec104Analyzer(FlowContext("Ctest", "10.0.0.1", "10.0.0.2", 40000, 2404), events.append), events


def i_frame(send: int, recv: int, asdu: bytes = bytes.fromhex("2d0106000100 020000 01")) -> bytes:
    """An I-format APDU carrying ``asdu`` (default: C_SC_NA_1 activation, IOA 2, ON)."""
    control = (send << 1).to_bytes(2, "little") + (recv << 1).to_bytes(2, "little")
    return bytes([0x68, 4 + len(asdu)]) + control + asdu


def s_frame(recv: int) -> bytes:
    return b"\x68\x04\x01\x00" + (recv << 1).to_bytes(2, "little")


def _messages(events: list[Event]) -> list[Iec104Event]:
    return [e for e in events if isinstance(e, Iec104Event)]


def _anomalies(events: list[Event]) -> list[str]:
    return [e.anomaly for e in events if isinstance(e, AnomalyEvent)]


def test_u_s_and_i_format_events() -> None:
    analyzer, events = _analyzer()
    analyzer.data(CLIENT, STARTDT_ACT + INTERROGATION_ACT, 1_000_000_000, 1)
    analyzer.data(SERVER, s_frame(2), 2_000_000_000, 2)  # acknowledges the interrogation (N(S) 1)
    u, i, s = _messages(events)
    assert (u.apci, u.u_function, u.is_response, u.frame, u.ioas) == ("U", "startdt_act", False, 1, [])
    assert (i.apci, i.send_seq, i.recv_seq, i.type_id, i.type_name, i.cot, i.cot_name) == (
        "I", 1, 2, 100, "C_IC_NA_1", 6, "act")
    assert (i.common_address, i.ioas, i.qualifier, i.values, i.select) == (10, [0], 20, None, None)
    assert (s.apci, s.recv_seq, s.is_response, s.src, s.sport) == ("S", 2, True, "10.0.0.2", 2404)
    assert _anomalies(events) == []


def test_command_event_carries_select_time_and_qualifier() -> None:
    analyzer, events = _analyzer()
    analyzer.data(CLIENT, DOUBLE_COMMAND_SELECT_WITH_TIME, 1, 7)
    (e,) = _messages(events)
    assert (e.type_name, e.ioas, e.values, e.select, e.qualifier) == ("C_DC_TA_1", [1000], [2], True, 1)
    assert e.time_tags == ["2019-11-02T12:17:14.000"] and e.quality is None
    assert msgspec.json.decode(msgspec.json.encode(e), type=Iec104Event) == e


def test_sequence_objects_values_and_quality_align_with_ioas() -> None:
    analyzer, events = _analyzer()
    analyzer.data(SERVER, SINGLE_POINTS_SQ, 1, 3)
    (e,) = _messages(events)
    assert (e.ioas, e.values, e.quality, e.sq, e.num_objects) == ([100, 101, 102], [1, 0, 1], [0, 0, 0x80], True, 3)


def test_apdus_split_across_segments_complete_in_their_last_frame() -> None:
    analyzer, events = _analyzer()
    stream = STARTDT_ACT + INTERROGATION_ACT
    analyzer.data(CLIENT, stream[:3], 1, 1)
    analyzer.data(CLIENT, stream[3:10], 2, 2)
    analyzer.data(CLIENT, stream[10:], 3, 3)
    assert [(e.apci, e.frame) for e in _messages(events)] == [("U", 2), ("I", 3)]


def test_send_sequence_gap_and_duplicate() -> None:
    analyzer, events = _analyzer()
    analyzer.data(CLIENT, i_frame(0, 0) + i_frame(1, 0) + i_frame(3, 0), 1, 1)
    assert _anomalies(events) == ["iec104.sequence_gap"]
    analyzer.data(CLIENT, i_frame(3, 0), 2, 2)
    assert _anomalies(events) == ["iec104.sequence_gap", "iec104.sequence_duplicate"]
    analyzer.data(CLIENT, i_frame(4, 0), 3, 3)  # in order again after the duplicate
    assert len(_anomalies(events)) == 2


def test_sequence_numbers_wrap_at_two_to_the_fifteen() -> None:
    analyzer, events = _analyzer()
    analyzer.data(SERVER, i_frame(32767, 0) + i_frame(0, 0), 1, 1)
    analyzer.data(CLIENT, s_frame(1), 2, 2)
    assert _anomalies(events) == []


def test_acknowledging_unsent_apdus() -> None:
    analyzer, events = _analyzer()
    analyzer.data(SERVER, i_frame(0, 0) + i_frame(1, 0), 1, 1)
    analyzer.data(CLIENT, s_frame(2), 2, 2)
    assert _anomalies(events) == []
    analyzer.data(CLIENT, s_frame(5), 3, 3)
    assert _anomalies(events) == ["iec104.ack_unsent"]


def test_capture_gap_forgets_sequence_expectations() -> None:
    analyzer, events = _analyzer()
    analyzer.data(CLIENT, i_frame(0, 0), 1, 1)
    analyzer.gap(CLIENT, 100, 2, 2)
    analyzer.data(CLIENT, i_frame(9, 0), 3, 3)
    assert _anomalies(events) == []
    assert [e.send_seq for e in _messages(events)] == [0, 9]


def test_keep_alive_octet_opening_a_direction_is_skipped() -> None:
    analyzer, events = _analyzer()
    analyzer.data(SERVER, b"\x00", 1, 1)  # mid-connection capture: TCP keep-alive first
    analyzer.data(SERVER, i_frame(0, 0), 2, 2)
    assert not analyzer.rejected and len(_messages(events)) == 1 and _anomalies(events) == []


def test_joining_a_stream_mid_apdu_resumes_at_the_next_whole_apdu() -> None:
    analyzer, events = _analyzer()
    analyzer.data(SERVER, INTERROGATION_ACT[5:] + SINGLE_POINTS_SQ + S_FORMAT_NR_13, 1, 1)
    assert [e.apci for e in _messages(events)] == ["I", "S"] and analyzer.skipped_octets == 11
    assert _anomalies(events) == []


def test_after_a_gap_the_stream_resumes_at_the_next_whole_apdu() -> None:
    analyzer, events = _analyzer()
    analyzer.data(CLIENT, i_frame(0, 0), 1, 1)
    analyzer.gap(CLIENT, 7, 2, 2)
    analyzer.data(CLIENT, i_frame(1, 0)[3:] + i_frame(2, 0), 3, 3)
    assert [e.send_seq for e in _messages(events)] == [0, 2] and _anomalies(events) == []


def test_non_iec104_flow_is_rejected() -> None:
    analyzer, events = _analyzer()
    analyzer.data(CLIENT, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1, 1)
    assert analyzer.rejected and events == []


def test_malformed_apdus_become_anomalies() -> None:
    analyzer, events = _analyzer()
    analyzer.data(CLIENT, STARTDT_ACT + U_FORMAT_TWO_FUNCTIONS + TRUNCATED_OBJECTS + b"\x68\x04\x02\x00\x00\x00", 1, 1)
    assert _anomalies(events) == ["iec104.malformed_apci", "iec104.truncated_asdu", "iec104.malformed_apci"]
    assert [e.apci for e in _messages(events)] == ["U", "U", "I", "I"]
    assert _messages(events)[2].ioas == [1, 2]
    analyzer.data(CLIENT, b"\x99\x99", 2, 2)  # framing lost after good APDUs: anomaly, not rejection
    assert _anomalies(events)[-1] == "iec104.malformed_framing" and not analyzer.rejected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_segmentation_never_changes_the_events(cuts: list[int]) -> None:
    stream = (STARTDT_ACT + INTERROGATION_ACT + SINGLE_POINTS_SQ + DOUBLE_COMMAND_SELECT_WITH_TIME
              + S_FORMAT_NR_13)
    whole, whole_events = _analyzer()
    whole.data(CLIENT, stream, 1, 1)
    pieces, piece_events = _analyzer()
    pos = 0
    for n, cut in enumerate([*cuts, len(stream)], start=1):
        if pos < len(stream):
            pieces.data(CLIENT, stream[pos : pos + cut], 1, n)
        pos += cut

    def strip(events: list[Event]) -> list[object]:
        return [msgspec.structs.replace(e, frame=0) for e in events]

    assert strip(piece_events) == strip(whole_events)

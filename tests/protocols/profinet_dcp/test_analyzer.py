"""PROFINET DCP analyzer: events with MAC addresses, request/response matching by Xid, limits, anomalies."""

from __future__ import annotations

import msgspec

from tests.protocols.profinet_dcp.test_wire import (
    HELLO_WITH_CONFLICT,
    IDENTIFY_ALL_REQUEST,
    IDENTIFY_RESPONSE_X208,
    RT_CYCLIC_DATA,
    SET_IP_REQUEST,
    SET_RESPONSE_OK,
    SHORT_DCP_HEADER,
)
from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.profinet_dcp.analyzer import MAX_OUTSTANDING, ProfinetDcpAnalyzer
from zonewarden.protocols.profinet_dcp.events import ProfinetDcpEvent

ENGINEERING = "00:0c:29:ba:09:ea"
DEVICE = "08:00:06:93:cf:32"
OTHER_DEVICE = "08:00:06:93:cf:33"
MULTICAST = "01:0e:cf:00:00:00"


def _analyzer() -> tuple[ProfinetDcpAnalyzer, list[Event]]:
    events: list[Event] = []
    return ProfinetDcpAnalyzer(FlowContext(None, "", "", None, None), events.append), events


def _messages(events: list[Event]) -> list[ProfinetDcpEvent]:
    return [e for e in events if isinstance(e, ProfinetDcpEvent)]


def _anomalies(events: list[Event]) -> list[str]:
    return [e.anomaly for e in events if isinstance(e, AnomalyEvent)]


def test_identify_multicast_matches_every_response() -> None:
    analyzer, events = _analyzer()
    analyzer.frame(ENGINEERING, MULTICAST, IDENTIFY_ALL_REQUEST, 1_000_000_000, 1)
    analyzer.frame(DEVICE, ENGINEERING, IDENTIFY_RESPONSE_X208, 1_100_000_000, 2)
    analyzer.frame(OTHER_DEVICE, ENGINEERING, IDENTIFY_RESPONSE_X208, 1_200_000_000, 3)
    req, first, second = _messages(events)
    assert (req.src, req.dst, req.sport, req.flow_id, req.is_response, req.service) == (
        ENGINEERING, MULTICAST, None, None, False, "identify")
    assert (first.src, first.is_response, first.request_frame, second.request_frame) == (DEVICE, True, 1, 1)
    assert (first.name_of_station, first.vendor_name, first.vendor_id, first.device_id) == (
        "X208-BORD", "INC", 0x2A, 0xA01)
    assert (first.device_role, first.device_role_names, first.ip_address) == (1, ["io_device"], "192.168.0.6")
    assert _anomalies(events) == []
    assert msgspec.json.decode(msgspec.json.encode(first), type=ProfinetDcpEvent) == first


def test_set_is_answered_once() -> None:
    analyzer, events = _analyzer()
    analyzer.frame(ENGINEERING, DEVICE, SET_IP_REQUEST, 1, 1)
    analyzer.frame(DEVICE, ENGINEERING, SET_RESPONSE_OK, 2, 2)
    req, resp = _messages(events)
    assert (req.service, req.block_qualifier, req.ip_address) == ("set", 1, "192.168.0.10")
    assert (resp.request_frame, resp.block_error, resp.options) == (1, 0, ["control.response"])
    analyzer.frame(DEVICE, ENGINEERING, SET_RESPONSE_OK, 3, 3)
    assert _anomalies(events) == ["profinet_dcp.unmatched_response"]


def test_xid_reused_while_a_set_is_pending() -> None:
    analyzer, events = _analyzer()
    analyzer.frame(ENGINEERING, DEVICE, SET_IP_REQUEST, 1, 1)
    analyzer.frame(ENGINEERING, DEVICE, SET_IP_REQUEST, 2, 2)
    assert _anomalies(events) == ["profinet_dcp.duplicate_transaction"]


def test_identify_xid_may_be_reused_by_a_later_set() -> None:
    analyzer, events = _analyzer()
    analyzer.frame(ENGINEERING, MULTICAST, IDENTIFY_ALL_REQUEST, 1, 1)
    analyzer.frame(ENGINEERING, DEVICE, SET_IP_REQUEST, 2, 2)  # same Xid, as the captured tool does
    analyzer.frame(DEVICE, ENGINEERING, SET_RESPONSE_OK, 3, 3)
    assert _anomalies(events) == [] and _messages(events)[-1].request_frame == 2


def test_response_to_another_service_is_flagged() -> None:
    analyzer, events = _analyzer()
    analyzer.frame(ENGINEERING, MULTICAST, IDENTIFY_ALL_REQUEST, 1, 1)
    analyzer.frame(DEVICE, ENGINEERING, SET_RESPONSE_OK, 2, 2)
    assert _anomalies(events) == ["profinet_dcp.service_mismatch"]


def test_outstanding_requests_are_bounded() -> None:
    analyzer, events = _analyzer()
    for n in range(MAX_OUTSTANDING + 1):
        frame = SET_IP_REQUEST[:4] + n.to_bytes(4, "big") + SET_IP_REQUEST[8:]
        analyzer.frame(ENGINEERING, DEVICE, frame, n, n + 1)
    assert _anomalies(events) == ["profinet_dcp.too_many_outstanding"]
    assert len(analyzer._pending) == MAX_OUTSTANDING


def test_other_profinet_frames_are_counted_not_reported() -> None:
    analyzer, events = _analyzer()
    analyzer.frame(DEVICE, ENGINEERING, RT_CYCLIC_DATA, 1, 1)
    assert events == [] and analyzer.other_frames == 1 and analyzer.messages == 0


def test_malformed_frame_and_ip_conflict_anomalies_carry_the_macs() -> None:
    analyzer, events = _analyzer()
    analyzer.frame(DEVICE, MULTICAST, SHORT_DCP_HEADER, 1, 1)
    analyzer.frame(DEVICE, MULTICAST, HELLO_WITH_CONFLICT, 2, 2)
    anomalies = [e for e in events if isinstance(e, AnomalyEvent)]
    assert [(a.anomaly, a.src, a.dst, a.is_response) for a in anomalies] == [
        ("profinet_dcp.malformed_frame", DEVICE, MULTICAST, False),
        ("profinet_dcp.ip_conflict", DEVICE, MULTICAST, False)]
    (hello,) = _messages(events)
    assert (hello.service, hello.request_frame, hello.ip_block_info) == ("hello", None, 0x81)

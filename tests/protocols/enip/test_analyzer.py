"""The EtherNet/IP analyzers: request/reply matching, identity, connections, anomalies and limits."""

from __future__ import annotations

import struct

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocols.enip import fixtures as fx
from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.enip import SPECS
from zonewarden.protocols.enip.analyzer import (
    MAX_CONNECTIONS,
    MAX_OUTSTANDING,
    EnipCore,
    EnipDatagramAnalyzer,
    EnipStreamAnalyzer,
)
from zonewarden.protocols.enip.analyzer_io import MAX_IO_DATA, EnipIoAnalyzer
from zonewarden.protocols.enip.events import EnipEvent, EnipIoEvent


def _ctx(port: int = 44818) -> FlowContext:
    return FlowContext("Ctest", "10.0.0.1", "10.0.0.2", 50000, port)


def _run(analyzer_type: type[EnipStreamAnalyzer | EnipDatagramAnalyzer],
         *parts: tuple[int, bytes]) -> tuple[list[EnipEvent], list[AnomalyEvent], EnipCore]:
    events: list[Event] = []
    analyzer = analyzer_type(_ctx(), events.append)
    for frame, (direction, data) in enumerate(parts, start=1):
        if isinstance(analyzer, EnipStreamAnalyzer):
            analyzer.data(direction, data, frame, frame)
        else:
            analyzer.datagram(direction, data, frame, frame)
    messages = [e for e in events if isinstance(e, EnipEvent)]
    anomalies = [e for e in events if isinstance(e, AnomalyEvent)]
    return messages, anomalies, analyzer


def _stream(*parts: tuple[int, bytes]) -> tuple[list[EnipEvent], list[AnomalyEvent]]:
    messages, anomalies, _ = _run(EnipStreamAnalyzer, *parts)
    return messages, anomalies


def _with_context(pdu: bytes, context: bytes) -> bytes:
    return pdu[:12] + context + pdu[20:]


def _reasons(anomalies: list[AnomalyEvent]) -> list[str]:
    return [a.anomaly for a in anomalies]


def test_forward_open_reply_is_matched_by_sender_context() -> None:
    (req, rep), anomalies = _stream((0, fx.FORWARD_OPEN_REQUEST), (1, fx.FORWARD_OPEN_REPLY))
    assert not anomalies
    assert (req.is_response, req.cip_service_name, req.cip_class, req.cip_instance) == (False, "forward_open", 6, 1)
    assert (req.connection_serial, req.originator_vendor_id, req.ot_rpi, req.transport_type) == (14, 1, 10000, 1)
    assert req.connection_path == "34040000000000000000200424062c022c01"
    assert (rep.is_response, rep.cip_service, rep.cip_status, rep.cip_status_name) == (True, 0x54, 0, "success")
    assert (rep.cip_class, rep.cip_instance, rep.request_frame) == (6, 1, 1)
    assert (rep.ot_connection_id, rep.to_connection_id) == (0xF1A20002, 0xF1A20003)
    assert (rep.ot_sockaddr, rep.to_sockaddr) == ("0.0.0.0:2222", "239.192.5.128:2222")
    assert rep.cpf_types == [0, 0xB2, 0x8000, 0x8001]


def test_unconnected_send_reply_carries_the_embedded_request_and_the_identity() -> None:
    (req, rep), anomalies = _stream((0, fx.UNCONNECTED_SEND_IDENTITY_REQUEST), (1, fx.UNCONNECTED_SEND_IDENTITY_REPLY))
    assert not anomalies
    assert (req.cip_service_name, req.route_path) == ("unconnected_send", "0100")
    assert req.embedded is not None
    assert (req.embedded.service, req.embedded.service_name, req.embedded.cip_class) == (1, "get_attributes_all", 1)
    # the reply is the embedded request's reply: its service, the outer path, the embedded request
    assert (rep.cip_service, rep.cip_service_name, rep.cip_class, rep.embedded) == (
        1, "get_attributes_all", 6, req.embedded)
    assert (rep.vendor_id, rep.vendor_name, rep.device_type, rep.device_type_name) == (
        1, "Rockwell Automation/Allen-Bradley", 14, "programmable_logic_controller")
    assert (rep.product_code, rep.revision_major, rep.revision_minor, rep.device_status) == (54, 16, 20, 0x3060)
    assert (rep.serial_number, rep.product_name) == (0x0051823F, "1756-L61/B LOGIX5561")


def test_unconnected_send_failure_keeps_its_extended_status() -> None:
    request = _with_context(fx.UNCONNECTED_SEND_IDENTITY_REQUEST, bytes.fromhex("1681300018a7e100"))
    (_, rep), anomalies = _stream((0, request), (1, fx.UNCONNECTED_SEND_TIMEOUT_REPLY))
    assert not anomalies
    assert (rep.cip_service_name, rep.cip_status, rep.cip_status_name, rep.cip_extended_status) == (
        "unconnected_send", 1, "connection_failure", 0x0204)
    assert rep.vendor_id is None


def test_identity_attribute_of_unknown_layout_is_left_alone() -> None:
    request = bytes.fromhex("6f00180000010212000000009c3f0000489ae00000000000000000001400020000000000b2000800"
                            "0e03200124013066")  # Get_Attribute_Single Identity instance 1 attribute 0x66
    (req, rep), anomalies = _stream((0, request), (1, fx.GET_ATTRIBUTE_SINGLE_IDENTITY_REPLY))
    assert not anomalies and req.cip_attribute == 0x66 and rep.cip_attribute == 0x66 and rep.vendor_id is None


def test_connected_reply_is_matched_by_sequence_and_the_pair_is_learned() -> None:
    second_request = fx.MULTIPLE_SERVICE_REQUEST.replace(bytes.fromhex("8907"), bytes.fromhex("8a07"), 1)
    second_reply = fx.MULTIPLE_SERVICE_REPLY.replace(bytes.fromhex("8907"), bytes.fromhex("8a07"), 1)
    events, anomalies = _stream((0, fx.MULTIPLE_SERVICE_REQUEST), (1, fx.MULTIPLE_SERVICE_REPLY), (0, second_request),
                                (1, second_reply))
    assert not anomalies
    req, rep, _, rep2 = events
    assert (req.connection_id, req.cip_sequence, rep.connection_id, rep.cip_sequence) == (
        0x007C0B01, 1929, 0x00010203, 1929)
    assert req.msp_services is not None and rep.msp_services is not None
    assert [(s.service, s.cip_class, s.cip_instance, s.cip_attribute) for s in req.msp_services] == [
        (14, 1, 1, None), (14, 0x100, 1, 7)]
    assert (rep.cip_status, rep.cip_status_name, rep.request_frame) == (0x1E, "embedded_service_error", 1)
    assert [(s.service, s.cip_class, s.cip_status) for s in rep.msp_services] == [(14, 1, 0), (14, 0x100, 0x14)]
    assert rep2.request_frame == 3


def test_forward_open_pairs_connection_ids_for_connected_replies() -> None:
    # the Forward Open makes O->T 0x11 / T->O 0x22; a request on another connection has the same sequence
    fo_reply = fx.FORWARD_OPEN_REPLY.replace(bytes.fromhex("0200a2f10300a2f1"), bytes.fromhex("1100000022000000"))
    other = fx.MULTIPLE_SERVICE_REQUEST
    mine = other.replace(bytes.fromhex("010b7c00"), bytes.fromhex("11000000"))
    reply = fx.MULTIPLE_SERVICE_REPLY.replace(bytes.fromhex("03020100"), bytes.fromhex("22000000"))
    events, anomalies = _stream((0, fx.FORWARD_OPEN_REQUEST), (1, fo_reply), (0, other), (0, mine), (1, reply))
    assert not anomalies
    assert events[-1].request_frame == 4  # the paired connection's request, not the older one


def test_list_identity_over_udp_decides_reply_by_content() -> None:
    events, anomalies, _ = _run(EnipDatagramAnalyzer, (1, fx.LIST_IDENTITY_REQUEST), (0, fx.LIST_IDENTITY_REPLY))
    assert not anomalies
    req, rep = events
    assert (req.is_response, rep.is_response) == (False, True)  # both ends on 44818: content decides
    assert (rep.command_name, rep.product_name, rep.socket_address, rep.socket_port) == (
        "list_identity", "1756-ENBT/A", "10.1.1.164", 44818)
    assert (rep.encap_version, rep.device_state, rep.vendor_name) == (1, 3, "Rockwell Automation/Allen-Bradley")


def test_datagram_analyzer_rejects_non_enip_and_reports_trailing_bytes() -> None:
    _, _, analyzer = _run(EnipDatagramAnalyzer, (0, b"\x16\x03\x01\x02\x00" * 8))
    assert analyzer.rejected
    events, anomalies, _ = _run(EnipDatagramAnalyzer, (0, fx.LIST_IDENTITY_REQUEST + b"xx"),
                                (0, fx.LIST_IDENTITY_REQUEST[:10]))
    assert len(events) == 1 and _reasons(anomalies) == ["enip.trailing_bytes", "enip.malformed_datagram"]


def test_session_and_services_fields() -> None:
    (reg, services), anomalies = _stream((1, fx.REGISTER_SESSION_REPLY), (1, fx.LIST_SERVICES_REPLY))
    assert not anomalies
    assert (reg.command_name, reg.session, reg.encap_version) == ("register_session", 1, 1)
    assert (services.is_response, services.capability_flags) == (True, 0x120)


def test_stream_framing_across_and_within_segments() -> None:
    both = fx.LIST_IDENTITY_REQUEST + fx.UNCONNECTED_SEND_IDENTITY_REQUEST
    events, anomalies = _stream((0, both[:30]), (0, both[30:]), (1, fx.UNCONNECTED_SEND_IDENTITY_REPLY[:7]),
                                (1, fx.UNCONNECTED_SEND_IDENTITY_REPLY[7:]))
    assert not anomalies
    assert [(e.command, e.frame) for e in events] == [(0x63, 1), (0x6F, 2), (0x6F, 4)]


def test_stream_that_is_not_enip_is_handed_back() -> None:
    _, _, analyzer = _run(EnipStreamAnalyzer, (0, bytes.fromhex("160301020001000000") * 4))
    assert analyzer.rejected


def test_unknown_command_is_an_event_and_an_anomaly() -> None:
    (event,), anomalies = _stream((0, fx.UNKNOWN_COMMAND_0001))
    assert (event.command, event.command_name) == (1, "unknown-1")
    assert _reasons(anomalies) == ["enip.unknown_command"]


def test_malformed_message_still_emits_its_header() -> None:
    (event,), anomalies = _stream((0, fx.TRUNCATED_CPF_ITEM))
    assert (event.command, event.cip_service) == (0x6F, None)
    assert _reasons(anomalies) == ["enip.malformed_message"]


def test_malformed_cip_is_reported() -> None:
    bad_msp = fx.MULTIPLE_SERVICE_REQUEST.replace(bytes.fromhex("0200" "0600" "0c00"), bytes.fromhex("0200" "0600"
                                                                                                      "ff00"))
    (event,), anomalies = _stream((0, bad_msp))
    # the second offset points past the packet: the first service runs to its end, the second is lost
    assert event.msp_services is not None and [s.cip_class for s in event.msp_services] == [1]
    assert _reasons(anomalies) == ["enip.malformed_cip"]


def test_unmatched_and_duplicate_requests() -> None:
    _, anomalies = _stream((1, fx.FORWARD_OPEN_REPLY))
    assert _reasons(anomalies) == ["enip.unmatched_response"]
    _, anomalies = _stream((0, fx.FORWARD_OPEN_REQUEST), (0, fx.FORWARD_OPEN_REQUEST))
    assert _reasons(anomalies) == ["enip.duplicate_request"]


def test_outstanding_requests_are_bounded() -> None:
    requests = [(0, _with_context(fx.FORWARD_OPEN_REQUEST, struct.pack("<Q", k))) for k in range(MAX_OUTSTANDING + 1)]
    _, anomalies, analyzer = _run(EnipStreamAnalyzer, *requests)
    assert _reasons(anomalies) == ["enip.too_many_outstanding"]
    assert len(analyzer._rr) == MAX_OUTSTANDING


def test_io_datagram_event_and_bounds() -> None:
    events: list[Event] = []
    io = EnipIoAnalyzer(_ctx(2222), events.append)
    io.datagram(0, fx.IO_DATAGRAM, 1, 1)
    big = bytes.fromhex("0200" "0280" "0800" "01000000" "02000000" "b100") + struct.pack("<H", 1000) + b"\xab" * 1000
    io.datagram(1, big, 2, 2)
    io.datagram(0, b"\x00", 3, 3)
    first, second, anomaly = events
    assert isinstance(first, EnipIoEvent) and isinstance(second, EnipIoEvent) and isinstance(anomaly, AnomalyEvent)
    assert (first.connection_id, first.sequence, first.data_length, first.data) == (
        0x003A7B78, 73321448, 12, "0300fdffffffffffffff0000")
    assert (second.data_length, len(second.data)) == (1000, 2 * MAX_IO_DATA)
    assert anomaly.anomaly == "enip_io.malformed_datagram"
    rejected = EnipIoAnalyzer(_ctx(2222), events.append)
    rejected.datagram(0, b"not cip i/o", 4, 4)
    assert rejected.rejected


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENIP = next(s for s in SPECS if s.name == "enip")


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(ENIP.samples)))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))]) + draw(st.binary(max_size=8))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 1), st.one_of(st.binary(max_size=300), _mutated())), max_size=10))
def test_datagram_analyzer_never_raises(parts: list[tuple[int, bytes]]) -> None:
    """The conformance suite fuzzes the TCP analyzer; the UDP one shares its core but frames on its own."""
    events: list[Event] = []
    analyzer = EnipDatagramAnalyzer(_ctx(), events.append)
    for n, (direction, data) in enumerate(parts, start=1):
        analyzer.datagram(direction, data, n, n)
    for e in events:
        assert isinstance(e, EnipEvent | AnomalyEvent)
        assert msgspec.json.decode(msgspec.json.encode(e), type=type(e)) == e


def _unit_data(connection: int, sequence: int, cip: bytes) -> bytes:
    """A SendUnitData message: connected address and connected data items around ``cip``."""
    items = struct.pack("<HHHI", 2, 0xA1, 4, connection) + struct.pack("<HHH", 0xB1, 2 + len(cip), sequence) + cip
    body = struct.pack("<IH", 0, 0) + items
    return struct.pack("<HHII8sI", 0x70, len(body), 1, 0, bytes(8), 0) + body


def test_multiple_service_packet_limit_is_an_anomaly() -> None:
    count = 300
    offsets = b"".join((2 + 2 * count + 2 * k).to_bytes(2, "little") for k in range(count))
    cip = bytes.fromhex("0a0220022401") + count.to_bytes(2, "little") + offsets + b"\x01\x00" * count
    (event,), anomalies = _stream((0, _unit_data(5, 1, cip)))
    assert event.msp_services is not None and len(event.msp_services) == 256
    assert _reasons(anomalies) == ["enip.too_many_services"]


def test_reply_of_another_service_is_reported() -> None:
    wrong = fx.FORWARD_OPEN_REPLY.replace(bytes.fromhex("d4000000"), bytes.fromhex("81000000"), 1)
    (_, rep), anomalies = _stream((0, fx.FORWARD_OPEN_REQUEST), (1, wrong))
    assert _reasons(anomalies) == ["enip.service_mismatch"]
    assert (rep.cip_service, rep.cip_class, rep.ot_connection_id) == (1, 6, None)


def _rr_data(context: bytes, cip: bytes) -> bytes:
    """A SendRRData message: null address and unconnected data items around ``cip``."""
    body = struct.pack("<IHHHHHH", 0, 0, 2, 0, 0, 0xB2, len(cip)) + cip
    return struct.pack("<HHII8sI", 0x6F, len(body), 1, 0, context, 0) + body


def _forward_open(context: bytes, path: bytes, ot_id: int, to_id: int, *, large: bool = False) -> tuple[bytes, bytes]:
    """A (Large) Forward Open request with connection ``path`` and its successful reply assigning the ids."""
    params = "<I" if large else "<H"
    request = (bytes([0x5B if large else 0x54, 2, 0x20, 6, 0x24, 1, 7, 0xF9])
               + struct.pack("<IIHHIB3x", 0, to_id, 1, 77, 0x1234, 0)
               + struct.pack("<I", 8_000_000) + struct.pack(params, 0x43F4)
               + struct.pack("<I", 8_000_000) + struct.pack(params, 0x43F4)
               + bytes([0xA3, len(path) // 2]) + path)
    reply = (bytes([0xDB if large else 0xD4, 0, 0, 0]) + struct.pack("<IIHHIIIBB", ot_id, to_id, 1, 77, 0x1234,
                                                                     8_000_000, 8_000_000, 0, 0))
    return _rr_data(context, request), _rr_data(context, reply)


IDENTITY_REQUEST_CIP = fx.CONNECTED_IDENTITY_REQUEST[46:]  # after the connected data item's sequence count
IDENTITY_REPLY_CIP = fx.CONNECTED_IDENTITY_REPLY[46:]


def test_connected_messages_carry_the_route_of_their_forward_open() -> None:
    events, anomalies = _stream((0, fx.ROUTED_FORWARD_OPEN_REQUEST), (1, fx.ROUTED_FORWARD_OPEN_REPLY),
                                (0, fx.CONNECTED_IDENTITY_REQUEST), (1, fx.CONNECTED_IDENTITY_REPLY))
    assert not anomalies
    fo_req, fo_rep, req, rep = events
    assert (fo_req.connection_path, fo_req.route_path) == ("010020022401", None)
    assert (fo_rep.ot_connection_id, fo_rep.to_connection_id, fo_rep.route_path) == (0x00790B01, 0x80FE0017, None)
    # the request on the O->T id, the reply on the T->O id: both go to backplane slot 0
    assert (req.connection_id, req.cip_service_name, req.cip_class, req.route_path) == (
        0x00790B01, "get_attribute_list", 1, "0100")
    assert (rep.connection_id, rep.request_frame, rep.route_path) == (0x80FE0017, 3, "0100")
    assert (rep.vendor_id, rep.device_type, rep.product_code, rep.revision_major, rep.revision_minor) == (
        1, 14, 54, 16, 20)
    assert (rep.serial_number, rep.product_name) == (0x0051823F, "1756-L61/B LOGIX5561")


def test_connected_reply_without_its_forward_open_has_no_route() -> None:
    (req, rep), anomalies = _stream((0, fx.CONNECTED_IDENTITY_REQUEST), (1, fx.CONNECTED_IDENTITY_REPLY))
    assert not anomalies
    assert (req.route_path, rep.route_path, rep.request_frame, rep.product_name) == (
        None, None, 1, "1756-L61/B LOGIX5561")


def test_connection_to_the_device_itself_has_no_route() -> None:
    fo_req, fo_rep = _forward_open(b"c" * 8, bytes.fromhex("20022401"), 0x11, 0x22)
    events, anomalies = _stream((0, fo_req), (1, fo_rep), (0, _unit_data(0x11, 5, IDENTITY_REQUEST_CIP)),
                                (1, _unit_data(0x22, 5, IDENTITY_REPLY_CIP)))
    assert not anomalies
    assert events[0].connection_path == "20022401"
    assert [(e.connection_id, e.route_path) for e in events[2:]] == [(0x11, None), (0x22, None)]
    assert events[3].product_name == "1756-L61/B LOGIX5561"


def test_large_forward_open_route_and_an_unconnected_send_over_the_connection() -> None:
    # Large Forward Open through port 1 slot 2, extended-link port 2 to 10.1.2.3; over it an Unconnected Send
    # routed on through the controller's backplane port to slot 4
    path = bytes.fromhex("0102" "12083130" "2e312e32" "2e332002" "2401")
    fo_req, fo_rep = _forward_open(b"L" * 8, path, 0x0A0B0C0D, 0x80000001, large=True)
    send = bytes.fromhex(
        "52" "02" "2006" "2401" "07" "f9"  # Unconnected Send to the Connection Manager; priority/tick, ticks
        "0800" "03" "02" "2001" "2401" "0000"  # embedded request, 8 bytes: Get_Attribute_List Identity 1, 0 ids
        "01" "00" "0104")  # route path 1 word, reserved: port 1 (backplane), slot 4
    events, anomalies = _stream((0, fo_req), (1, fo_rep), (0, _unit_data(0x0A0B0C0D, 9, send)),
                                (1, _unit_data(0x80000001, 9, IDENTITY_REPLY_CIP)))
    assert [a.detail for a in anomalies] == []
    assert (events[0].cip_service_name, events[1].ot_connection_id) == ("large_forward_open", 0x0A0B0C0D)
    connection_route = "0102" "120831302e312e322e33"
    assert events[2].route_path == connection_route + "0104"
    assert events[3].route_path == connection_route + "0104"
    assert events[3].embedded is not None and events[3].embedded.cip_class == 1


def test_a_failed_forward_open_leaves_no_route() -> None:
    fo_req, _ = _forward_open(b"f" * 8, bytes.fromhex("010020022401"), 0x11, 0x22)
    failed = _rr_data(b"f" * 8, bytes([0xD4, 0, 0x01, 1])  # Forward Open reply: connection failure, 1 word:
                      + struct.pack("<HHHIBB", 0x0100, 1, 77, 0x1234, 0, 0))  # 0x0100 in use; the triad
    events, _ = _stream((0, fo_req), (1, failed), (1, _unit_data(0x22, 5, IDENTITY_REPLY_CIP)))
    assert (events[1].cip_status, events[1].cip_extended_status, events[1].ot_connection_id) == (1, 0x0100, None)
    assert events[2].route_path is None


def test_connection_routes_are_bounded_per_flow() -> None:
    parts: list[tuple[int, bytes]] = []
    for k in range(MAX_CONNECTIONS + 1):
        parts += zip((0, 1), _forward_open(struct.pack("<Q", k), bytes.fromhex("010020022401"), 0x1000 + k,
                                           0x2000 + k), strict=True)
    parts.append((1, _unit_data(0x2000, 5, IDENTITY_REPLY_CIP)))  # the oldest connection: forgotten
    parts.append((1, _unit_data(0x2000 + MAX_CONNECTIONS, 6, IDENTITY_REPLY_CIP)))
    events, _, analyzer = _run(EnipStreamAnalyzer, *parts)
    assert len(analyzer._routes) == 2 * MAX_CONNECTIONS
    assert (events[-2].route_path, events[-1].route_path) == (None, "0100")

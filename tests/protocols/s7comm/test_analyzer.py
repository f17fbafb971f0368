"""ISO-on-TCP analyzer: COTP reassembly, protocol decision, request/response matching, SZL answers,
S7comm-plus messages, anomalies and limits."""

from __future__ import annotations

from tests.protocols.s7comm import fixtures as fx
from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.s7comm.analyzer import MAX_TSDU, IsoTcpAnalyzer
from zonewarden.protocols.s7comm.events import CotpEvent, S7commEvent, S7commPlusEvent, S7Item
from zonewarden.protocols.s7comm.s7_layer import MAX_OUTSTANDING


def run(*parts: tuple[int, bytes], end: bool = True) -> tuple[IsoTcpAnalyzer, list[Event]]:
    """Feed (direction, bytes) parts as frames 1, 2, ... and end the flow."""
    events: list[Event] = []
    analyzer = IsoTcpAnalyzer(FlowContext("Ctest", "10.0.0.1", "10.0.0.2", 50000, 102), events.append)
    for frame, (direction, data) in enumerate(parts, start=1):
        analyzer.data(direction, data, frame * 1000, frame)
    if end:
        analyzer.end()
    return analyzer, events


def of(events: list[Event], kind: type[Event]) -> list[Event]:
    return [e for e in events if type(e) is kind]


def anomalies(events: list[Event]) -> list[str]:
    return [e.anomaly for e in events if isinstance(e, AnomalyEvent)]


def dt(data: bytes, last: bool) -> bytes:
    """One COTP DT TPDU in a TPKT."""
    return bytes([3, 0]) + (7 + len(data)).to_bytes(2, "big") + bytes([2, 0xF0, 0x80 if last else 0]) + data


def test_connection_setup_and_read_var_dialogue() -> None:
    _, events = run((0, fx.COTP_CR_RACK0_SLOT2), (1, fx.COTP_CC_RACK0_SLOT2), (0, fx.SETUP_COMMUNICATION_JOB),
                    (1, fx.SETUP_COMMUNICATION_ACK), (0, fx.READ_VAR_DB1_DBD0_JOB), (1, fx.READ_VAR_DB1_DBD0_ACK))
    assert not anomalies(events)
    cr, cc = of(events, CotpEvent)
    assert isinstance(cr, CotpEvent) and isinstance(cc, CotpEvent)
    assert (cr.proto, cr.pdu_type_name, cr.is_response, cr.dst_tsap, cr.src_tsap) == ("s7comm", "CR", False, "0302",
                                                                                       "0100")
    assert (cr.connection_type, cr.rack, cr.slot, cr.tpdu_size, cr.frame) == ("s7_basic", 0, 2, 512, 1)
    assert (cc.pdu_type_name, cc.is_response, cc.frame) == ("CC", True, 2)
    _, setup_ack, read, read_ack = of(events, S7commEvent)
    assert isinstance(setup_ack, S7commEvent) and isinstance(read_ack, S7commEvent)
    assert (setup_ack.function_name, setup_ack.pdu_size, setup_ack.request_frame) == ("setup_communication", 240, 3)
    assert isinstance(read, S7commEvent) and read.items == [S7Item(
        syntax_id=0x10, area=0x84, area_name="data_block", db_number=1, address=0, byte_address=0, bit=0,
        transport_size=2, length=4)]
    assert (read_ack.is_response, read_ack.function, read_ack.return_codes, read_ack.request_frame) == (
        True, 4, [0xFF], 5)
    assert read_ack.items == read.items  # the response carries what was read


def test_data_unit_reassembled_from_dt_fragments() -> None:
    tsdu = fx.READ_VAR_DB1_DBD0_JOB[7:]
    _, events = run((0, fx.EMPTY_DT_NOT_LAST), (0, dt(tsdu[:9], last=False)), (0, dt(tsdu[9:], last=True)))
    (event,) = of(events, S7commEvent)
    assert isinstance(event, S7commEvent) and event.frame == 3 and event.function_name == "read_var"


def test_several_tpkts_per_segment_and_a_tpkt_across_segments() -> None:
    stream = fx.SETUP_COMMUNICATION_JOB + fx.READ_VAR_DB1_DBD0_JOB + fx.PLC_STOP_JOB
    _, events = run((0, stream[:30]), (0, stream[30:]))
    assert [(e.frame, e.function_name) for e in of(events, S7commEvent) if isinstance(e, S7commEvent)] == [
        (1, "setup_communication"), (2, "read_var"), (2, "plc_stop")]


def test_reassembly_overflow_is_reported_and_recovered() -> None:
    chunk = dt(b"\x32" + b"\x00" * 8000, last=False)
    parts = [(0, chunk)] * (MAX_TSDU // 8000 + 1) + [(0, dt(b"tail", last=True)), (0, fx.PLC_STOP_JOB)]
    _, events = run(*parts)
    assert anomalies(events) == ["s7comm.cotp_reassembly_overflow"]
    assert [e.function_name for e in of(events, S7commEvent) if isinstance(e, S7commEvent)] == ["plc_stop"]


def test_iso_transport_user_other_than_s7_is_handed_back() -> None:
    mms_initiate = dt(bytes.fromhex("0dbc05060113010016010214020002"), last=True)  # ISO session CONNECT
    analyzer, events = run((0, fx.COTP_CR_RACK0_SLOT2), (1, fx.COTP_CC_RACK0_SLOT2), (0, mms_initiate))
    assert analyzer.rejected and events == []


def test_stream_that_is_not_tpkt_is_handed_back() -> None:
    analyzer, events = run((0, b"GET / HTTP/1.1\r\n\r\n"))
    assert analyzer.rejected and events == []
    analyzer, events = run((0, bytes.fromhex("03 00 00 09 ff ff 00 00 00")))  # TPKT but no COTP
    assert analyzer.rejected and events == []


def test_connection_without_data_is_reported_at_the_end() -> None:
    _, events = run((0, fx.COTP_CR_RACK0_SLOT2), end=False)
    assert events == []
    _, events = run((0, fx.COTP_CR_RACK0_SLOT2))
    assert [e.proto for e in events] == ["s7comm"]


def test_job_control_events() -> None:
    _, events = run((0, fx.PLC_STOP_JOB), (0, fx.PI_INSE_DB1_JOB), (0, fx.REQUEST_DOWNLOAD_OB1_JOB),
                    (0, fx.WRITE_VAR_FLAGS_JOB), (1, fx.WRITE_VAR_ADDRESS_ERROR_ACK))
    stop, inse, download, write, write_ack = (e for e in events if isinstance(e, S7commEvent))
    assert (stop.function_name, stop.pi_service) == ("plc_stop", "P_PROGRAM")
    assert (inse.function_name, inse.pi_service, inse.pi_blocks, inse.block_type) == (
        "plc_control", "_INSE", ["DB1"], "DB")
    assert (download.function_name, download.block_type, download.block_number, download.block_length) == (
        "request_download", "OB", 1, 332)
    assert write.items is not None and write.items[0].area_name == "flags" and write.items[0].byte_address == 10
    assert (write_ack.return_codes, write_ack.request_frame) == ([5], 4)


def test_szl_identity_and_fragmented_answer() -> None:
    _, events = run((0, fx.READ_SZL_0011_REQUEST), (1, fx.READ_SZL_0011_RESPONSE),
                    (0, fx.READ_SZL_001C_REQUEST), (1, fx.READ_SZL_001C_FIRST_FRAGMENT),
                    (0, fx.READ_SZL_FOLLOW_UP_REQUEST), (1, fx.READ_SZL_001C_LAST_FRAGMENT),
                    (1, fx.READ_SZL_0424_RESPONSE))
    req, module, _, first, follow, last, mode = (e for e in events if isinstance(e, S7commEvent))
    assert (req.szl_id, req.szl_index, req.subfunction_name, req.function_group_name) == (
        0x11, 0, "read_szl", "cpu_functions")
    assert (module.order_number, module.firmware_version, module.hardware_version, module.request_frame) == (
        "6ES7 315-2EH14-0AB0", "V3.2.7", "3", 1)
    assert (first.more_fragments, first.szl_id, first.module_type_name) == (True, 0x1C, None)
    assert (follow.is_response, follow.szl_id, follow.return_code) == (False, None, 0x0A)
    assert (last.more_fragments, last.szl_id, last.szl_record_count, last.request_frame) == (False, 0x1C, 10, 5)
    assert (last.module_type_name, last.serial_number, last.plc_name, last.memory_card_serial) == (
        "CPU 315-2 PN/DP", "S C-B1U393142011", "S7300/ET200M station_1", "MMC 4A1AC019")
    assert mode.cpu_mode == "run"
    assert anomalies(events) == []


def test_cyclic_subscription_lists_its_variables() -> None:
    _, events = run((0, fx.CYCLIC_SUBSCRIBE_DBREAD))
    (event,) = (e for e in events if isinstance(e, S7commEvent))
    assert (event.function_group_name, event.subfunction_name, event.item_count) == (
        "cyclic_data", "change_driven", 2)
    assert event.items is not None and [(i.db_number, i.byte_address, i.length) for i in event.items] == [
        (68, 394, 10), (0, 10, 4)]


def test_outstanding_requests_are_bounded() -> None:
    job = bytearray(fx.PLC_STOP_JOB)
    parts = []
    for ref in range(MAX_OUTSTANDING + 5):
        job[11:13] = ref.to_bytes(2, "big")  # PDU reference
        parts.append((0, bytes(job)))
    analyzer, events = run(*parts)
    assert anomalies(events).count("s7comm.too_many_outstanding") == 5
    assert len(analyzer.s7._pending) == MAX_OUTSTANDING


def test_response_before_its_late_request_after_a_capture_hole() -> None:
    """Data after a hole is delivered once the hole is proven: the answer can arrive before the job."""
    events: list[Event] = []
    analyzer = IsoTcpAnalyzer(FlowContext("Ctest", "10.0.0.1", "10.0.0.2", 50000, 102), events.append)
    analyzer.data(0, fx.PLC_STOP_JOB, 1, 1)  # PDU reference 0x200, never answered
    analyzer.data(1, fx.READ_VAR_DB1_DBD0_ACK, 3, 3)  # answer (PDU reference 0) to a job not yet delivered
    analyzer.gap(0, 7, 4, 4)
    analyzer.data(0, fx.READ_VAR_DB1_DBD0_JOB, 4, 4)  # the job, delivered late
    assert list(analyzer.s7._pending) == [(1, 0x200)]
    assert anomalies(events) == []


def test_same_pdu_reference_reused_without_holes_still_matches() -> None:
    _, events = run((1, fx.READ_VAR_DB1_DBD0_ACK), (0, fx.READ_VAR_DB1_DBD0_JOB), (1, fx.READ_VAR_DB1_DBD0_ACK))
    first, _, second = (e for e in events if isinstance(e, S7commEvent))
    assert (first.request_frame, second.request_frame) == (None, 2)


def test_malformed_pdus_become_anomalies() -> None:
    _, events = run((0, fx.SETUP_COMMUNICATION_JOB), (0, dt(bytes.fromhex("32 09 0000 0000 0000 0000"), True)),
                    (0, dt(fx.READ_VAR_DB1_DBD0_JOB[7:] + b"\x00", True)), (0, dt(b"\x55\x01", True)))
    assert anomalies(events) == ["s7comm.malformed_pdu", "s7comm.length_mismatch", "s7comm.unknown_protocol_id"]
    assert len(of(events, S7commEvent)) == 2  # the length mismatch is still reported as a message


def test_plus_connection_relabels_its_cotp_events() -> None:
    _, events = run((0, fx.COTP_CR_TIA_HMI), (0, fx.PLUS_V1_CREATE_OBJECT_REQUEST))
    cr, create = events
    assert isinstance(cr, CotpEvent) and (cr.proto, cr.dst_tsap_text, cr.rack) == ("s7comm_plus", "SIMATIC-ROOT-HMI",
                                                                                   None)
    assert isinstance(create, S7commPlusEvent)
    assert (create.proto, create.version, create.opcode_name, create.function_name, create.session) == (
        "s7comm_plus", 1, "request", "create_object", 0x120)
    assert not create.protected


def test_plus_messages_matching_protection_and_identity() -> None:
    _, events = run((0, fx.PLUS_V2_GET_MULTI_VARIABLES_REQUEST), (1, fx.PLUS_V2_SET_MULTI_VARIABLES_RESPONSE),
                    (0, fx.PLUS_V3_SET_VARIABLE_REQUEST), (1, fx.PLUS_V3_NOTIFICATION), (1, fx.PLUS_SYSTEM_EVENT),
                    (0, fx.PLUS_KEEPALIVE), (1, fx.PLUS_IDENTITY_RESPONSE))
    v2, v2_resp, v3, notify, system, alive, ident = events
    assert isinstance(v2, S7commPlusEvent) and (v2.protected, v2.sequence_number, v2.session) == (True, 3, 0x388)
    assert isinstance(v2_resp, S7commPlusEvent) and (v2_resp.protected, v2_resp.is_response) == (False, True)
    assert isinstance(v3, S7commPlusEvent) and (v3.protected, v3.function_name) == (True, "set_variable")
    assert isinstance(notify, S7commPlusEvent) and (notify.opcode_name, notify.subscription, notify.is_response) == (
        "notification", 0x70000E51, True)
    assert isinstance(system, S7commPlusEvent) and (system.version, system.opcode) == (0xFE, None)
    assert isinstance(alive, S7commPlusEvent) and (alive.version, alive.data_length) == (0xFF, 0)
    assert isinstance(ident, S7commPlusEvent)
    assert (ident.order_number, ident.serial_number, ident.firmware_version) == (
        "6ES7 214-1HE30-0XB0", "SZVBDYXX017685", "V2.2.0")


def test_plus_message_over_two_pdus_is_one_event() -> None:
    response = bytes.fromhex("0300001802f080" "72 02 0009" "32 0000 04bb 0000 0009" "72 02 0000")
    _, events = run((0, fx.PLUS_FRAGMENT_1), (0, fx.PLUS_FRAGMENT_2), (1, response))
    request, answer = events
    assert isinstance(request, S7commPlusEvent) and (request.frame, request.fragments, request.data_length) == (
        2, 2, 7)
    assert (request.function_name, request.sequence_number, request.session) == ("explore", 9, 0x388)
    assert isinstance(answer, S7commPlusEvent) and answer.request_frame == 2


def test_plus_malformed_pdu() -> None:
    _, events = run((0, fx.PLUS_V1_CREATE_OBJECT_REQUEST), (0, dt(b"\x72\x09\x00\x00", True)))
    assert anomalies(events) == ["s7comm.plus_malformed_pdu"]


def test_disconnect_request_and_tpdus_class_0_does_not_use() -> None:
    expedited = bytes.fromhex("03 00 00 0a" "04 10 0001 80" "aa")  # ED: expedited data, classes 1-4 only
    disconnect = bytes.fromhex("03 00 00 0b" "06 80 0001 0002 80")  # DR, reason 0x80: normal disconnect
    _, events = run((0, fx.SETUP_COMMUNICATION_JOB), (0, expedited), (1, disconnect))
    assert anomalies(events) == ["s7comm.unexpected_cotp_tpdu"]
    (dr,) = of(events, CotpEvent)
    assert isinstance(dr, CotpEvent)
    assert (dr.pdu_type_name, dr.reason, dr.is_response, dr.frame) == ("DR", 0x80, True, 3)


def test_upload_session_carries_the_block() -> None:
    upload = bytes.fromhex("03 00 00 19 02 f0 80" "32 01 0000 0900 0008 0000" "1e 00 0000 00000007")  # upload id 7
    end = bytes.fromhex("03 00 00 19 02 f0 80" "32 01 0000 0a00 0008 0000" "1f 00 0000 00000007")
    _, events = run((0, fx.START_UPLOAD_SDB0_JOB), (1, fx.START_UPLOAD_SDB0_ACK), (0, upload), (0, end))
    blocks = [(e.function_name, e.upload_id, e.block_type, e.block_number) for e in events
              if isinstance(e, S7commEvent)]
    assert blocks == [("start_upload", 0, "SDB", 0), ("start_upload", 7, "SDB", 0), ("upload", 7, "SDB", 0),
                      ("end_upload", 7, "SDB", 0)]

"""ISO-on-TCP wire parsing: TPKT/COTP, S7comm jobs, answers and userdata, SZL identity, S7comm-plus heads."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocols.s7comm import fixtures as fx
from zonewarden.errors import DecodeError, Malformed, NeedMoreData
from zonewarden.protocols.s7comm import parse_message
from zonewarden.protocols.s7comm.codes import COTP_CC, COTP_CR, COTP_DT
from zonewarden.protocols.s7comm.wire_cotp import parse_cotp, parse_tpkt, rack_slot, tpkt_length, tsap_text
from zonewarden.protocols.s7comm.wire_items import MAX_ITEMS, Item, parse_items
from zonewarden.protocols.s7comm.wire_plus import parse_plus_fragment, parse_plus_head, plus_identity
from zonewarden.protocols.s7comm.wire_s7 import S7Pdu, parse_s7
from zonewarden.protocols.s7comm.wire_userdata import parse_szl_answer, szl_identity, version_text


def s7(tpkt: bytes) -> S7Pdu:
    """The S7comm PDU of a single-TPDU fixture."""
    return parse_s7(parse_tpkt(tpkt).data)


# ---- TPKT / COTP
def test_tpkt_length_and_errors() -> None:
    assert tpkt_length(fx.SETUP_COMMUNICATION_JOB) == 25
    with pytest.raises(NeedMoreData):
        tpkt_length(b"\x03\x00")
    with pytest.raises(Malformed, match="version"):
        tpkt_length(b"\x04\x00\x00\x19")
    with pytest.raises(Malformed, match="below 7"):
        tpkt_length(b"\x03\x00\x00\x05")


def test_connection_request_reveals_rack_and_slot() -> None:
    cr = parse_tpkt(fx.COTP_CR_RACK0_SLOT2)
    assert (cr.code, cr.dst_ref, cr.src_ref, cr.class_option, cr.tpdu_size) == (COTP_CR, 0, 1, 0, 512)
    assert (cr.calling_tsap, cr.called_tsap) == (b"\x01\x00", b"\x03\x02")
    assert rack_slot(cr.called_tsap) == (0, 2)
    assert rack_slot(b"\x03\x25") == (1, 5)
    cc = parse_tpkt(fx.COTP_CC_RACK0_SLOT2)
    assert (cc.code, cc.dst_ref, cc.src_ref) == (COTP_CC, 1, 0x1430)


def test_tia_tsap_is_text() -> None:
    cr = parse_tpkt(fx.COTP_CR_TIA_HMI)
    assert tsap_text(cr.called_tsap) == "SIMATIC-ROOT-HMI"
    assert tsap_text(cr.calling_tsap) is None and rack_slot(cr.called_tsap) is None
    assert cr.tpdu_size == 1024


def test_data_tpdu_end_of_tsdu_flag() -> None:
    empty = parse_tpkt(fx.EMPTY_DT_NOT_LAST)
    assert (empty.code, empty.eot, empty.data) == (COTP_DT, False, b"")
    job = parse_tpkt(fx.SETUP_COMMUNICATION_JOB)
    assert job.eot and job.data[:1] == b"\x32"


@pytest.mark.parametrize("payload", [b"\x00\xf0\x80", b"\x05\xf0\x80", b"\x02\x40\x80", b"\x04\xe0\x00"])
def test_bad_cotp_headers_are_malformed(payload: bytes) -> None:
    with pytest.raises(Malformed):
        parse_cotp(payload)


def test_cotp_parameter_running_past_header() -> None:
    with pytest.raises(Malformed, match="runs past"):
        parse_cotp(bytes.fromhex("08e0 0000 0001 00 c1 05 01"))


# ---- S7comm jobs and answers
def test_setup_communication() -> None:
    job, ack = s7(fx.SETUP_COMMUNICATION_JOB), s7(fx.SETUP_COMMUNICATION_ACK)
    assert (job.rosctr, job.function, job.max_amq_calling, job.max_amq_called, job.pdu_size) == (1, 0xF0, 1, 1, 480)
    assert (ack.rosctr, ack.error_class, ack.error_code, ack.pdu_size) == (3, 0, 0, 240)
    assert not job.problems and not ack.problems


def test_read_var_item_and_result() -> None:
    job = s7(fx.READ_VAR_DB1_DBD0_JOB)
    assert (job.function, job.item_count) == (4, 1)
    assert job.items == [Item(syntax_id=0x10, transport_size=2, length=4, db_number=1, area=0x84, address=0)]
    ack = s7(fx.READ_VAR_DB1_DBD0_ACK)
    assert (ack.function, ack.item_count, ack.return_codes, ack.problems) == (4, 1, [0xFF], [])


def test_write_var_and_error_return_code() -> None:
    job = s7(fx.WRITE_VAR_FLAGS_JOB)
    assert job.items == [Item(0x10, 2, 2, 0, 0x83, 0x50)]  # MB10: bit address 80
    assert s7(fx.WRITE_VAR_ADDRESS_ERROR_ACK).return_codes == [0x05]


def test_plc_stop_and_pi_service() -> None:
    stop = s7(fx.PLC_STOP_JOB)
    assert (stop.function, stop.pi_service) == (0x29, "P_PROGRAM")
    inse = s7(fx.PI_INSE_DB1_JOB)
    assert (inse.function, inse.pi_service, inse.pi_blocks) == (0x28, "_INSE", ["DB1"])
    assert (inse.block_type, inse.block_number, inse.filesystem, inse.filename) == ("DB", 1, "P", "0A00001P")


def test_block_download_and_upload() -> None:
    dl = s7(fx.REQUEST_DOWNLOAD_OB1_JOB)
    assert (dl.function, dl.filename, dl.block_type, dl.block_number, dl.filesystem, dl.block_length) == (
        0x1A, "_0800001P", "OB", 1, "P", 332)
    up = s7(fx.START_UPLOAD_SDB0_JOB)
    assert (up.function, up.block_type, up.block_number, up.filesystem, up.upload_id) == (0x1D, "SDB", 0, "A", 0)
    ack = s7(fx.START_UPLOAD_SDB0_ACK)
    assert (ack.upload_id, ack.block_length) == (7, 216)


def test_header_length_problems_are_reported_not_raised() -> None:
    longer = fx.READ_VAR_DB1_DBD0_ACK + b"\x00\x00"
    assert "bytes after the data part" in parse_s7(longer[7:]).problems[0]
    shorter = fx.READ_VAR_DB1_DBD0_ACK[:-2]
    assert "exceed" in parse_s7(shorter[7:]).problems[0]


@pytest.mark.parametrize("tsdu, error", [
    (bytes.fromhex("32 01 0000"), NeedMoreData),
    (bytes.fromhex("31 01 0000 0000 0000 0000"), Malformed),  # protocol id
    (bytes.fromhex("32 05 0000 0000 0000 0000"), Malformed),  # ROSCTR 5
    (bytes.fromhex("32 03 0000 0000 0000 0000"), NeedMoreData),  # ack_data without error bytes
])
def test_malformed_headers(tsdu: bytes, error: type[DecodeError]) -> None:
    with pytest.raises(error):
        parse_s7(tsdu)


def test_item_count_is_bounded() -> None:
    spec = bytes.fromhex("12 0a 10 02 0001 0001 84 000000")
    problems: list[str] = []
    items = parse_items(spec * 200, 200, problems)
    assert len(items) == MAX_ITEMS and "above" in problems[0]


def test_truncated_item_list() -> None:
    problems: list[str] = []
    assert parse_items(bytes.fromhex("12 0a 10 02"), 2, problems) == [Item(0x10)]
    assert "truncated" in problems[0]


# ---- userdata
def test_read_szl_request() -> None:
    ud = s7(fx.READ_SZL_0011_REQUEST).userdata
    assert ud is not None
    assert (ud.method, ud.type, ud.group, ud.subfunction, ud.sequence_number, ud.is_szl) == (0x11, 4, 4, 1, 0, True)
    assert ud.payload == bytes.fromhex("0011 0000")


def test_module_identification_answer() -> None:
    ud = s7(fx.READ_SZL_0011_RESPONSE).userdata
    assert ud is not None and ud.last_data_unit and ud.data_unit_ref == 0
    answer = parse_szl_answer(ud.payload)
    assert answer is not None
    assert (answer.szl_id, answer.record_length, answer.record_count, answer.complete) == (0x11, 28, 4, True)
    assert szl_identity(answer) == {"order_number": "6ES7 315-2EH14-0AB0", "hardware_version": "3",
                                    "firmware_version": "V3.2.7"}


def test_component_identification_over_two_fragments() -> None:
    first, last = s7(fx.READ_SZL_001C_FIRST_FRAGMENT).userdata, s7(fx.READ_SZL_001C_LAST_FRAGMENT).userdata
    assert first is not None and last is not None
    assert (first.last_data_unit, last.last_data_unit, first.data_unit_ref, last.data_unit_ref) == (
        False, True, 0xD5, 0xD5)
    partial = parse_szl_answer(first.payload)
    assert partial is not None and not partial.complete and partial.record_count == 10
    answer = parse_szl_answer(first.payload + last.payload)
    assert answer is not None and answer.complete
    assert szl_identity(answer) == {
        "plc_name": "S7300/ET200M station_1", "module_name": "PLC_1", "copyright": "Original Siemens Equipment",
        "serial_number": "S C-B1U393142011", "module_type_name": "CPU 315-2 PN/DP",
        "memory_card_serial": "MMC 4A1AC019", "manufacturer_id": 0x2A, "profile_id": 0xF600,
        "profile_spec_type": 1, "oem_id": 0, "oem_add_id": 0,
    }


def test_follow_up_request_has_no_szl() -> None:
    ud = s7(fx.READ_SZL_FOLLOW_UP_REQUEST).userdata
    assert ud is not None and (ud.method, ud.type, ud.return_code, ud.payload) == (0x12, 4, 0x0A, b"")


def test_current_mode() -> None:
    ud = s7(fx.READ_SZL_0424_RESPONSE).userdata
    assert ud is not None
    answer = parse_szl_answer(ud.payload)
    assert answer is not None and szl_identity(answer) == {"cpu_mode": "run"}


def test_cyclic_subscription_items_with_fill_byte() -> None:
    ud = s7(fx.CYCLIC_SUBSCRIBE_DBREAD).userdata
    assert ud is not None and (ud.group, ud.subfunction, ud.item_count) == (2, 5, 2)
    assert ud.items == [Item(0xB0, None, 10, 68, 0x84, 394 * 8), Item(0x10, 2, 4, 0, 0x83, 0x50)]


def test_version_text() -> None:
    assert version_text(0x5603, 0x0207) == "V3.2.7"
    assert version_text(0x0003, 0x0001) is None


def test_userdata_parameter_too_short() -> None:
    with pytest.raises(Malformed, match="userdata parameter"):
        parse_s7(bytes.fromhex("32 07 0000 0000 0004 0000 00011204"))


# ---- S7comm-plus
def plus(tpkt: bytes) -> tuple[int, bool, bool, int | None, int | None, int | None, int | None]:
    frag = parse_plus_fragment(parse_tpkt(tpkt).data)
    head = parse_plus_head(frag.data)
    return frag.version, frag.ends_message, frag.v3_digest or head.v2_digest, head.opcode, head.function, \
        head.sequence_number, head.session


def test_plus_v1_create_object() -> None:
    assert plus(fx.PLUS_V1_CREATE_OBJECT_REQUEST) == (1, True, False, 0x31, 0x04CA, 1, 0x120)


def test_plus_v2_integrity_at_the_end() -> None:
    assert plus(fx.PLUS_V2_GET_MULTI_VARIABLES_REQUEST) == (2, True, True, 0x31, 0x054C, 3, 0x388)
    assert plus(fx.PLUS_V2_SET_MULTI_VARIABLES_RESPONSE) == (2, True, False, 0x32, 0x0542, 2, None)


def test_plus_v3_integrity_first() -> None:
    assert plus(fx.PLUS_V3_SET_VARIABLE_REQUEST) == (3, True, True, 0x31, 0x04F2, 0x831A, 0x70000E4D)
    frag = parse_plus_fragment(parse_tpkt(fx.PLUS_V3_NOTIFICATION).data)
    head = parse_plus_head(frag.data)
    assert (head.opcode, head.subscription, head.function) == (0x33, 0x70000E51, None)


def test_plus_system_event_and_keepalive() -> None:
    event = parse_plus_fragment(parse_tpkt(fx.PLUS_SYSTEM_EVENT).data)
    assert (event.version, event.ends_message, event.data_length, event.problem) == (0xFE, True, 16, None)
    alive = parse_plus_fragment(parse_tpkt(fx.PLUS_KEEPALIVE).data)
    assert (alive.version, alive.keepalive_sequence, alive.ends_message) == (0xFF, 5, True)


def test_plus_fragments() -> None:
    first = parse_plus_fragment(parse_tpkt(fx.PLUS_FRAGMENT_1).data)
    last = parse_plus_fragment(parse_tpkt(fx.PLUS_FRAGMENT_2).data)
    assert (first.ends_message, last.ends_message) == (False, True)
    head = parse_plus_head(first.data + last.data)
    assert (head.opcode, head.function, head.sequence_number, head.session) == (0x31, 0x04BB, 9, 0x388)


def test_plus_identity_blob() -> None:
    data = parse_plus_fragment(parse_tpkt(fx.PLUS_IDENTITY_RESPONSE).data).data
    assert plus_identity(data) == {"order_number": "6ES7 214-1HE30-0XB0", "serial_number": "SZVBDYXX017685",
                                   "firmware_version": "V2.2.0"}
    assert plus_identity(b"\x00 6ES7 515-2AM01-0AB0 \x00") == {"order_number": "6ES7 515-2AM01-0AB0"}


@pytest.mark.parametrize("tsdu, error", [
    (b"\x72\x02\x00", NeedMoreData),
    (b"\x72\x07\x00\x00", Malformed),  # version 7
    (b"\x32\x02\x00\x00", Malformed),
    (bytes.fromhex("72 01 0000 0000 0008 0000 f000"), Malformed),  # an S7comm job with 0x72: length mismatch
    (bytes.fromhex("72 02 0003 3100"), Malformed),  # data part shorter than its length
    (bytes.fromhex("72 fe 0001 00 72fe0000"), Malformed),  # a system event has no trailer
    (bytes.fromhex("72 ff 01 00 00"), Malformed),  # keep-alive longer than 4 bytes
])
def test_plus_malformed(tsdu: bytes, error: type[DecodeError]) -> None:
    with pytest.raises(error):
        parse_plus_fragment(tsdu)


def test_plus_bad_trailer_and_digest_are_problems() -> None:
    bad_trailer = parse_plus_fragment(bytes.fromhex("72 02 0001 31 72 03 0000"))
    assert bad_trailer.problem is not None and "trailer" in bad_trailer.problem
    bad_digest = parse_plus_fragment(bytes.fromhex("72 03 0002 10 31 72 03 0000"))
    assert bad_digest.problem is not None and "digest" in bad_digest.problem


def test_parse_message_dispatches_on_protocol_id() -> None:
    assert isinstance(parse_message(fx.READ_VAR_DB1_DBD0_JOB), S7Pdu)
    assert parse_message(fx.COTP_CR_RACK0_SLOT2).code == COTP_CR  # type: ignore[attr-defined]
    with pytest.raises(Malformed):
        parse_message(bytes.fromhex("03 00 00 09 02 f0 80 a8 26"))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_s7_parsers_raise_only_decode_errors(data: bytes) -> None:
    for parse in (parse_s7, parse_plus_fragment, parse_cotp, parse_tpkt):
        with contextlib.suppress(DecodeError):
            parse(b"\x32" + data if parse is parse_s7 else data)
    with contextlib.suppress(DecodeError):
        parse_plus_head(data)
        plus_identity(data)

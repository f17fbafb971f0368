"""IEC 60870-5-104 wire parsing: APCI formats, ASDU header, information elements, malformed input."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonewarden.errors import DecodeError, Malformed, NeedMoreData
from zonewarden.protocols.iec104.wire import (
    apdu_length,
    looks_like_iec104,
    parse_apci,
    parse_apdu,
    parse_asdu,
)

STARTDT_ACT = bytes.fromhex(
    "68 04"        # start, APDU length 4
    "07 00 00 00"  # U format (low bits 0b11), function bit 0x04: STARTDT act
)
TESTFR_CON = bytes.fromhex("68 04" "83 00 00 00")  # U format: TESTFR con
S_FORMAT_NR_13 = bytes.fromhex(
    "68 04"
    "01 00"  # S format
    "1a 00"  # N(R) = 0x1a >> 1 = 13
)
INTERROGATION_ACT = bytes.fromhex(
    "68 0e"
    "02 00 04 00"  # I format: N(S) = 1, N(R) = 2
    "64"           # type 100 C_IC_NA_1
    "01"           # SQ=0, 1 object
    "06 00"        # cause 6 activation, originator 0
    "0a 00"        # common address 10
    "00 00 00"     # IOA 0
    "14"           # QOI 20: station interrogation
)
SINGLE_POINTS_SQ = bytes.fromhex(
    "68 10" "00 00 00 00"
    "01"        # type 1 M_SP_NA_1
    "83"        # SQ=1, 3 objects
    "14 00"     # cause 20 interrogated by station
    "0a 00"     # common address 10
    "64 00 00"  # first IOA 100 (then 101, 102)
    "01"        # SIQ: ON
    "00"        # SIQ: OFF
    "81"        # SIQ: ON, invalid (IV)
)
DOUBLE_COMMAND_SELECT_WITH_TIME = bytes.fromhex(
    "68 15" "04 00 06 00"
    "3b"              # type 59 C_DC_TA_1
    "01"              # 1 object
    "06 00" "01 00"   # activation, common address 1
    "e8 03 00"        # IOA 1000
    "86"              # DCO: select, QU=1 (short pulse), state 2 (ON)
    "b0 36 11 0c 02 0b 13"  # CP56Time2a 2019-11-02 12:17:14.000
)
NORMALIZED_INVALID = bytes.fromhex(
    "68 10" "00 00 00 00"
    "09" "01" "03 00" "01 00"  # M_ME_NA_1, spontaneous
    "05 00 00"    # IOA 5
    "00 40"       # NVA 0x4000 = 0.5
    "80"          # QDS: invalid
)
SCALED_NEGATIVE = bytes.fromhex("68 10" "00 00 00 00" "0b 01 03 00 01 00" "06 00 00" "fe ff" "00")  # SVA -2
SHORT_FLOAT = bytes.fromhex("68 12" "00 00 00 00" "0d 01 03 00 01 00" "07 00 00" "c3 f5 48 40" "01")  # 3.14, OV
FLOAT_NAN = bytes.fromhex("68 12" "00 00 00 00" "0d 01 03 00 01 00" "07 00 00" "00 00 c0 7f" "00")
COUNTER_CARRY = bytes.fromhex(
    "68 12" "00 00 00 00"
    "0f 01 25 00 01 00"  # M_IT_NA_1, cause 37 counter interrogation
    "0a 00 00"           # IOA 10
    "e8 03 00 00"        # BCR count 1000
    "61"                 # sequence 1, CA (0x40) and CY (0x20)
)
STEP_POSITIONS = bytes.fromhex(
    "68 14" "00 00 00 00" "05 02 03 00 01 00"
    "01 00 00" "7f 00"  # VTI -1, QDS 0
    "02 00 00" "bf 10"  # VTI 63 with transient bit, QDS blocked
)
BITSTRING = bytes.fromhex("68 12" "00 00 00 00" "07 01 03 00 01 00" "03 00 00" "01 02 03 04" "00")
SETPOINT_FLOAT_WITH_TIME = bytes.fromhex(
    "68 19" "3e 00 b8 00"
    "3f 01 06 00 01 00"       # C_SE_TC_1, activation, common address 1
    "70 17 00"                # IOA 6000
    "42 60 e5 3b"             # float 0.007
    "00"                      # QOS: execute, QL 0
    "a8 de 35 0d 02 0b 13"    # 2019-11-02 13:53:57.000
)
CLOCK_SYNC = bytes.fromhex("68 14" "00 00 00 00" "67 01 06 00 01 00" "00 00 00" "10 27 1e 0a 09 05 18")
NEGATIVE_TEST_CONFIRMATION = bytes.fromhex("68 0e" "00 00 00 00" "2d 01 c7 05 01 00" "02 00 00" "01")
UNKNOWN_TYPE = bytes.fromhex("68 0f" "00 00 00 00" "c8 01 03 00 01 00" "09 00 00" "aa bb")
SECURE_CHALLENGE = bytes.fromhex("68 0c" "00 00 00 00" "51 01 0e 00 01 00" "80 00")
TRUNCATED_OBJECTS = bytes.fromhex("68 12" "00 00 00 00" "01 04 14 00 0a 00" "01 00 00 01" "02 00 00 00")
TRAILING_OCTETS = bytes.fromhex("68 0f" "00 00 00 00" "2d 01 06 00 01 00" "02 00 00" "01" "ff")
I_FORMAT_WITHOUT_ASDU = bytes.fromhex("68 04" "02 00 00 00")
U_FORMAT_TWO_FUNCTIONS = bytes.fromhex("68 04" "0f 00 00 00")  # STARTDT act and con at once


PROTECTION_EVENT_WITH_TIME = bytes.fromhex(
    "68 17" "00 00 00 00" "26 01 03 00 01 00"  # M_EP_TD_1, spontaneous
    "0b 00 00"              # IOA 11
    "0a"                    # SEP: event state 2 (ON), EI 0x08
    "e8 03"                 # CP16Time2a elapsed 1000 ms (not exported)
    "00 00 0c 02 0b 13 00"  # CP56Time2a
)
READ_COMMAND = bytes.fromhex("68 0d" "00 00 00 00" "66 01 05 00 01 00" "2a 00 00")  # C_RD_NA_1: IOA only
PARAMETER_NORMALIZED = bytes.fromhex("68 10" "00 00 00 00" "6e 01 06 00 01 00" "01 00 00" "00 20" "01")  # QPM 1
CALL_DIRECTORY = bytes.fromhex("68 11" "00 00 00 00" "7a 01 0d 00 01 00" "00 00 00" "01 00" "00" "01")  # F_SC_NA_1
FILE_SEGMENT = bytes.fromhex(
    "68 14" "00 00 00 00" "7d 01 0d 00 01 00"  # F_SG_NA_1, cause file transfer
    "05 00 00"      # IOA 5
    "02 00"         # name of file 2
    "01"            # name of section 1
    "03 aa bb cc"   # segment of 3 octets
)


def test_u_format_functions() -> None:
    apci, asdu = parse_apdu(STARTDT_ACT)
    assert (apci.format, apci.length, apci.u_code, apci.problem, asdu) == ("U", 4, 0x01, None, None)
    assert parse_apci(TESTFR_CON).u_code == 0x20


def test_s_format_acknowledges() -> None:
    apci = parse_apci(S_FORMAT_NR_13)
    assert (apci.format, apci.send_seq, apci.recv_seq, apci.problem) == ("S", None, 13, None)


def test_interrogation_command() -> None:
    apci, asdu = parse_apdu(INTERROGATION_ACT)
    assert (apci.format, apci.send_seq, apci.recv_seq) == ("I", 1, 2)
    assert asdu is not None
    assert (asdu.type_id, asdu.sq, asdu.num_objects, asdu.cause, asdu.negative, asdu.test) == (100, False, 1, 6,
                                                                                             False, False)
    assert (asdu.originator, asdu.common_address) == (0, 10)
    (obj,) = asdu.objects
    assert (obj.ioa, obj.value, obj.qualifier, asdu.problems) == (0, None, 20, [])


def test_sequence_of_single_points_has_consecutive_addresses() -> None:
    _, asdu = parse_apdu(SINGLE_POINTS_SQ)
    assert asdu is not None and asdu.sq
    assert [(o.ioa, o.value, o.quality) for o in asdu.objects] == [(100, 1, 0), (101, 0, 0), (102, 1, 0x80)]


def test_double_command_select_with_time_tag() -> None:
    _, asdu = parse_apdu(DOUBLE_COMMAND_SELECT_WITH_TIME)
    assert asdu is not None
    (obj,) = asdu.objects
    assert (obj.ioa, obj.value, obj.select, obj.qualifier) == (1000, 2, True, 1)
    assert obj.time == "2019-11-02T12:17:14.000"


@pytest.mark.parametrize(("apdu", "value", "quality"), [
    (NORMALIZED_INVALID, 0.5, 0x80),
    (SCALED_NEGATIVE, -2, 0),
    (COUNTER_CARRY, 1000, 0x60),
    (BITSTRING, 0x04030201, 0),  # IEC 60870-5-4: least significant octet first
])
def test_measured_values_and_quality(apdu: bytes, value: float, quality: int) -> None:
    _, asdu = parse_apdu(apdu)
    assert asdu is not None
    (obj,) = asdu.objects
    assert (obj.value, obj.quality) == (value, quality)


def test_short_float_and_non_finite_float() -> None:
    _, asdu = parse_apdu(SHORT_FLOAT)
    assert asdu is not None
    assert math.isclose(asdu.objects[0].value or 0.0, 3.14, rel_tol=1e-6) and asdu.objects[0].quality == 0x01
    _, nan = parse_apdu(FLOAT_NAN)
    assert nan is not None and nan.objects[0].value is None  # NaN cannot travel in JSON


def test_step_position_is_signed_seven_bits() -> None:
    _, asdu = parse_apdu(STEP_POSITIONS)
    assert asdu is not None
    assert [(o.value, o.quality) for o in asdu.objects] == [(-1, 0), (63, 0x10)]


def test_set_point_with_time_tag() -> None:
    apci, asdu = parse_apdu(SETPOINT_FLOAT_WITH_TIME)
    assert (apci.send_seq, apci.recv_seq) == (31, 92)
    assert asdu is not None
    (obj,) = asdu.objects
    assert obj.ioa == 6000 and math.isclose(obj.value or 0.0, 0.007, rel_tol=1e-6)
    assert (obj.select, obj.qualifier, obj.time) == (False, 0, "2019-11-02T13:53:57.000")


def test_clock_synchronisation_carries_the_new_time() -> None:
    _, asdu = parse_apdu(CLOCK_SYNC)
    assert asdu is not None
    assert asdu.objects[0].time == "2024-05-09T10:30:10.000"


def test_negative_test_confirmation_bits() -> None:
    _, asdu = parse_apdu(NEGATIVE_TEST_CONFIRMATION)
    assert asdu is not None
    assert (asdu.cause, asdu.negative, asdu.test, asdu.originator) == (7, True, True, 5)


def test_unknown_type_reports_first_address_only() -> None:
    _, asdu = parse_apdu(UNKNOWN_TYPE)
    assert asdu is not None
    assert [o.ioa for o in asdu.objects] == [9]
    assert [r for r, _ in asdu.problems] == ["unknown_type_id"]


def test_secure_authentication_is_named_but_not_decoded() -> None:
    _, asdu = parse_apdu(SECURE_CHALLENGE)
    assert asdu is not None and asdu.type_id == 81 and asdu.objects == [] and asdu.problems == []


def test_truncated_objects_keep_the_addresses_seen() -> None:
    _, asdu = parse_apdu(TRUNCATED_OBJECTS)
    assert asdu is not None
    assert [o.ioa for o in asdu.objects] == [1, 2]
    assert [r for r, _ in asdu.problems] == ["truncated_asdu"]


def test_trailing_octets_are_a_length_mismatch() -> None:
    _, asdu = parse_apdu(TRAILING_OCTETS)
    assert asdu is not None and [r for r, _ in asdu.problems] == ["length_mismatch"]


@pytest.mark.parametrize(("apdu", "ioas", "value", "quality", "qualifier"), [
    (PROTECTION_EVENT_WITH_TIME, [11], 2, 0x08, None),
    (READ_COMMAND, [42], None, None, None),
    (PARAMETER_NORMALIZED, [1], 0.25, None, 1),
    (CALL_DIRECTORY, [0], 1, None, 1),
    (FILE_SEGMENT, [5], 2, None, None),
])
def test_protection_read_parameter_and_file_types(apdu: bytes, ioas: list[int], value: float | None,
                                                  quality: int | None, qualifier: int | None) -> None:
    _, asdu = parse_apdu(apdu)
    assert asdu is not None and asdu.problems == []
    assert [o.ioa for o in asdu.objects] == ioas
    obj = asdu.objects[0]
    assert (obj.value, obj.quality, obj.qualifier) == (value, quality, qualifier)


def test_malformed_apci() -> None:
    assert parse_apci(I_FORMAT_WITHOUT_ASDU).problem is not None
    assert parse_apci(U_FORMAT_TWO_FUNCTIONS).problem is not None
    with pytest.raises(Malformed):
        apdu_length(b"\x67\x04")
    with pytest.raises(Malformed):
        apdu_length(b"\x68\x03")
    with pytest.raises(NeedMoreData):
        apdu_length(b"\x68")
    with pytest.raises(NeedMoreData):
        parse_apdu(INTERROGATION_ACT[:-1])
    with pytest.raises(Malformed):
        parse_asdu(b"\x01\x01\x03")


def test_probe_accepts_chains_of_apdus_only() -> None:
    assert looks_like_iec104(STARTDT_ACT)
    assert looks_like_iec104(S_FORMAT_NR_13 + INTERROGATION_ACT + SINGLE_POINTS_SQ)
    assert not looks_like_iec104(STARTDT_ACT[:-1])  # incomplete
    assert not looks_like_iec104(U_FORMAT_TWO_FUNCTIONS)
    assert not looks_like_iec104(UNKNOWN_TYPE)
    assert not looks_like_iec104(b"GET / HTTP/1.1\r\n\r\n")
    assert not looks_like_iec104(b"")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_apdu(b"\x68" + bytes([min(len(data), 255)]) + data)
    looks_like_iec104(data)

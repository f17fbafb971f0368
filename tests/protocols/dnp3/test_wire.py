"""DNP3 wire parsers on byte fixtures, annotated field by field and named for their case.

Link-layer fixtures are frames captured in the corpus (so their CRCs are real); application-layer
fixtures are fragments as they come out of transport reassembly (no CRCs).
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonewarden.errors import DecodeError, Malformed, NeedMoreData
from zonewarden.protocols.dnp3 import wire_parse
from zonewarden.protocols.dnp3.wire_app import MAX_OBJECTS, MAX_POINTS, parse_apdu
from zonewarden.protocols.dnp3.wire_link import (
    BadCrc,
    crc16,
    frame_size,
    looks_like_dnp3,
    parse_link_frame,
    parse_link_header,
    parse_transport,
)
from zonewarden.protocols.dnp3.wire_objects import decode_fixed, fixed_layout


def h(text: str) -> bytes:
    """Hex with spaces and # comments allowed."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


# ---- link and transport layers (Zeek's dnp3_read.pcap frame 4, dnp3_udp_read.pcap frames 1-2)
READ_CLASS_1230_REQUEST = h("""
    05 64         # start bytes
    14            # length 20: control, addresses, 15 bytes of user data
    c4            # control: DIR, PRM, function 4 (unconfirmed user data)
    02 00         # destination 2
    03 00         # source 3
    45 03         # header CRC
    c7            # transport: FIN, FIR, sequence 7
    c8            # application control: FIR, FIN, sequence 8
    01            # function 1: read
    3c 02 06      # g60v2 class 1 data, qualifier 0x06 (all points)
    3c 03 06      # g60v3 class 2 data
    3c 04 06      # g60v4 class 3 data
    3c 01 06      # g60v1 class 0 data
    42 ac         # user data block CRC
""")
REQUEST_LINK_STATUS = h("""
    05 64 05      # start, length 5: no user data
    49            # control: PRM, FCV, function 9 (request link status)
    64 00 01 00   # destination 100, source 1
    7e 5f         # header CRC
""")
LINK_STATUS = h("""
    05 64 05      # start, length 5
    8b            # control: DIR, secondary, function 11 (link status)
    01 00 64 00   # destination 1, source 100
    a0 97         # header CRC
""")
SELECT_CROB_REQUEST = h("""
    05 64 1a c4 02 00 03 00 40 f2   # length 26, DIR PRM unconfirmed data, to 2 from 3, header CRC
    c6                              # transport: FIN, FIR, sequence 6
    c7 03                           # application: FIR FIN seq 7, function 3 (select)
    0c 01 28 01 00                  # g12v1 CROB, qualifier 0x28 (2-byte index, 2-byte count), count 1
    01 00                           # index 1
    03 01 64 00 00 00               # control code 3 (latch on), count 1, on time 100 ms (1st block ends)
    8f da                           # block CRC
    64 00 00 00 00                  # off time 100 ms, status 0
    00 5b                           # block CRC
""")
BAD_CRC_LINK_FRAME = READ_CLASS_1230_REQUEST[:-2] + b"\x42\xad"  # the user data block's CRC is off by one
BAD_HEADER_CRC_LINK_FRAME = READ_CLASS_1230_REQUEST[:8] + b"\x46\x03" + READ_CLASS_1230_REQUEST[10:]
SHORT_LENGTH_LINK_FRAME = h("05 64 04 c4 02 00 03 00") + crc16(h("05 64 04 c4 02 00 03 00")).to_bytes(2, "little")


def test_crc16_dnp_check_value() -> None:
    assert crc16(b"123456789") == 0xEA82  # the CRC-16/DNP catalogue check value


def test_read_class_request_link_frame() -> None:
    lf = parse_link_frame(READ_CLASS_1230_REQUEST)
    assert (lf.header.length, lf.header.dst, lf.header.src) == (20, 2, 3)
    assert (lf.header.dir, lf.header.prm, lf.header.function) == (True, True, 4)
    assert lf.size == len(READ_CLASS_1230_REQUEST) == frame_size(20)
    seg = parse_transport(lf.user_data)
    assert (seg.fir, seg.fin, seg.seq) == (True, True, 7)
    apdu = parse_apdu(seg.payload)
    assert (apdu.function_code, apdu.seq, apdu.fir, apdu.fin, apdu.con, apdu.uns) == (1, 8, True, True, False, False)
    assert apdu.iin is None
    assert apdu.objects == ["g60v2", "g60v3", "g60v4", "g60v1"]
    assert [o.qualifier for o in apdu.headers] == [6, 6, 6, 6]
    assert apdu.problems == []


def test_link_status_frames_have_no_user_data() -> None:
    request, status = parse_link_frame(REQUEST_LINK_STATUS), parse_link_frame(LINK_STATUS)
    assert (request.header.prm, request.header.function, request.header.dst, request.header.src) == (True, 9, 100, 1)
    assert (status.header.prm, status.header.function, status.header.dir) == (False, 11, True)
    assert request.user_data == status.user_data == b""


def test_select_crob_split_over_two_crc_blocks() -> None:
    lf = parse_link_frame(SELECT_CROB_REQUEST)
    apdu = parse_apdu(parse_transport(lf.user_data).payload)
    assert apdu.objects == ["g12v1"]
    (crob,) = apdu.points
    assert (crob.object, crob.index, crob.control_code, crob.count, crob.on_time, crob.off_time, crob.status) == (
        "g12v1", 1, 3, 1, 100, 100, 0)


def test_bad_data_crc_keeps_the_frame_size() -> None:
    with pytest.raises(BadCrc) as exc:
        parse_link_frame(BAD_CRC_LINK_FRAME)
    assert exc.value.frame_size == len(BAD_CRC_LINK_FRAME)


def test_bad_header_crc_has_no_trustworthy_size() -> None:
    with pytest.raises(BadCrc) as exc:
        parse_link_frame(BAD_HEADER_CRC_LINK_FRAME)
    assert exc.value.frame_size is None
    assert not looks_like_dnp3(BAD_HEADER_CRC_LINK_FRAME)


def test_length_below_five_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_link_header(SHORT_LENGTH_LINK_FRAME)


def test_incomplete_frames_need_more_data() -> None:
    for cut in (1, 5, 10, len(SELECT_CROB_REQUEST) - 1):
        with pytest.raises(NeedMoreData):
            parse_link_frame(SELECT_CROB_REQUEST[:cut])


def test_probe() -> None:
    assert looks_like_dnp3(READ_CLASS_1230_REQUEST)
    assert looks_like_dnp3(LINK_STATUS[:10])
    assert not looks_like_dnp3(b"GET / HTTP/1.1\r\n")


def test_wire_parse_entry_point() -> None:
    parsed = wire_parse(READ_CLASS_1230_REQUEST)
    assert isinstance(parsed, tuple) and parsed[1] is not None and parsed[1].function_code == 1
    link_only = wire_parse(LINK_STATUS)
    assert isinstance(link_only, tuple) and link_only[1] is None
    bare = wire_parse(h("c0 01 3c 01 06"))  # not starting with 0564: a bare application fragment
    assert not isinstance(bare, tuple) and bare.objects == ["g60v1"]


# ---- application layer
RESPONSE_ANALOG_INPUTS = h("""
    c8 81         # FIR FIN seq 8, function 129 (response)
    00 00         # IIN1, IIN2: nothing set
    1e 01 00 00 01  # g30v1 (32-bit analog input with flag), qualifier 0x00, start 0, stop 1
    01 ef 03 00 00  # point 0: flags online, value 1007
    01 2b d1 ff ff  # point 1: flags online, value -11989
""")
DEVICE_ATTRIBUTES_RESPONSE = h("""
    c0 81 00 00             # response, no IIN
    00 fc 00 00 00          # g0v252 manufacturer name, qualifier 0x00, index 0..0
    01 04 41 43 4d 45       # data type 1 (visible string), length 4, "ACME"
    00 fa 00 00 00          # g0v250 product name and model
    01 05 52 54 55 2d 31    # "RTU-1"
    00 f2 00 00 00          # g0v242 software version
    01 03 32 2e 31          # "2.1"
    00 f8 00 00 00          # g0v248 serial number
    01 02 39 39             # "99"
    00 f0 00 00 00          # g0v240 maximum transmit fragment size
    02 02 00 08             # data type 2 (unsigned integer), length 2, 2048
""")
UNSOLICITED_BINARY_EVENT = h("""
    f3 82                   # FIR FIN CON UNS seq 3, function 130 (unsolicited response)
    90 00                   # IIN1 0x90: device restart, need time
    02 02 17 01 05          # g2v2 (binary input event with time), qualifier 0x17 (1-byte index), 1 point, index 5
    81 e8 03 00 00 00 00    # flags online + state 1, time 1000 ms after the epoch
""")
DIRECT_OPERATE_ANALOG_OUTPUT = h("""
    c2 05                   # seq 2, function 5 (direct operate)
    29 02 17 01 03          # g41v2 (16-bit analog output block), qualifier 0x17, 1 point, index 3
    e8 03 00                # value 1000, status 0
""")
WRITE_TIME = h("""
    c1 02                   # seq 1, function 2 (write)
    32 01 07 01             # g50v1 (time and date), qualifier 0x07 (1-byte count), 1 point
    10 27 00 00 00 00       # 10000 ms
""")
READ_BINARY_INDEXES = h("""
    c4 01                   # seq 4, function 1 (read)
    01 02 17 02 03 07       # g1v2, qualifier 0x17, 2 points named by index: 3 and 7 (no values in a read)
""")
PACKED_BINARY_INPUTS = h("""
    c0 81 00 00             # response
    01 01 00 00 09          # g1v1 (packed single-bit inputs), points 0..9
    05 02                   # bits: points 0 and 2 set, then point 9
""")
SA_CHALLENGE = h("""
    c5 83 00 00             # seq 5, function 131 (authentication response), no IIN
    78 01 5b 01 0c 00       # g120v1 challenge, qualifier 0x5b (2-byte size, free format), 1 object of 12 bytes
    01 00 00 00             # challenge sequence number 1
    07 00                   # user number 7
    04 01                   # MAC algorithm 4, reason 1
    aa bb cc dd             # challenge data
""")
SA_ERROR = h("""
    c6 21                   # seq 6, function 33 (authentication error)
    78 07 5b 01 0f 00       # g120v7 error, size-prefixed, 15 bytes
    02 00 00 00 03 00       # sequence number 2, user number 3
    01 00 01                # association 1, error code 1 (authentication failed)
    00 00 00 00 00 00       # time of error
""")
OPEN_FILE = h("""
    c7 19                   # seq 7, function 25 (open file)
    46 03 5b 01 1f 00       # g70v3 file command, size-prefixed, 31 bytes
    1a 00 05 00             # name offset 26, name length 5
    00 00 00 00 00 00 00 00 # creation time, permissions
    00 00 00 00 00 00 00 00 # authentication key, file size
    01 00 00 04 2a 00       # mode 1 (read), max block 1024, request id 42
    61 2e 74 78 74          # "a.txt"
""")
COLD_RESTART_RESPONSE = h("""
    c3 81 80 00             # response, IIN1 0x80: device restart
    34 01 07 01 e8 03       # g52v1 time delay coarse, 1 point: 1000
""")


def test_response_with_analog_inputs() -> None:
    apdu = parse_apdu(RESPONSE_ANALOG_INPUTS)
    assert (apdu.function_code, apdu.iin, apdu.is_response) == (129, 0, True)
    assert apdu.objects == ["g30v1"]
    assert apdu.headers[0].range == (0, 1)
    assert [(p.index, p.value, p.flags) for p in apdu.points] == [(0, 1007, 1), (1, -11989, 1)]
    assert apdu.points_total == 2


def test_device_attributes_carry_identity() -> None:
    apdu = parse_apdu(DEVICE_ATTRIBUTES_RESPONSE)
    assert apdu.objects == ["g0v252", "g0v250", "g0v242", "g0v248", "g0v240"]
    assert apdu.attributes == {252: "ACME", 250: "RTU-1", 242: "2.1", 248: "99", 240: 2048}
    assert apdu.problems == []


def test_unsolicited_event_with_index_prefix_and_time() -> None:
    apdu = parse_apdu(UNSOLICITED_BINARY_EVENT)
    assert (apdu.function_code, apdu.uns, apdu.con, apdu.seq, apdu.iin) == (130, True, True, 3, 0x9000)
    (p,) = apdu.points
    assert (p.object, p.index, p.value, p.flags, p.time) == ("g2v2", 5, 1, 0x81, 1000)


def test_analog_output_block_and_time_write() -> None:
    (ao,) = parse_apdu(DIRECT_OPERATE_ANALOG_OUTPUT).points
    assert (ao.object, ao.index, ao.value, ao.status) == ("g41v2", 3, 1000, 0)
    (t,) = parse_apdu(WRITE_TIME).points
    assert (t.object, t.index, t.time) == ("g50v1", None, 10000)


def test_read_names_indexes_without_values() -> None:
    apdu = parse_apdu(READ_BINARY_INDEXES)
    assert apdu.objects == ["g1v2"] and apdu.points == [] and apdu.points_total == 2
    assert apdu.problems == []


def test_packed_bits() -> None:
    apdu = parse_apdu(PACKED_BINARY_INPUTS)
    assert [p.value for p in apdu.points] == [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    assert [p.index for p in apdu.points] == list(range(10))


def test_secure_authentication_objects() -> None:
    challenge = parse_apdu(SA_CHALLENGE)
    assert (challenge.objects, challenge.sa_variation, challenge.auth_user, challenge.iin) == (["g120v1"], 1, 7, 0)
    error = parse_apdu(SA_ERROR)
    assert (error.sa_variation, error.auth_user, error.auth_error) == (7, 3, 1)


def test_file_command_name() -> None:
    apdu = parse_apdu(OPEN_FILE)
    assert apdu.objects == ["g70v3"] and apdu.file_name == "a.txt"


def test_cold_restart_response_time_delay() -> None:
    (delay,) = parse_apdu(COLD_RESTART_RESPONSE).points
    assert (delay.object, delay.value) == ("g52v1", 1000)


# ---- malformed and hostile fragments
TRUNCATED_ANALOG_RESPONSE = RESPONSE_ANALOG_INPUTS[:-3]  # the second point is cut short
UNKNOWN_OBJECT_RESPONSE = h("c0 81 00 00  63 09 00 00 00 ff")  # g99v9: nobody knows its size
RESERVED_QUALIFIER = h("c0 01  01 02 0a  3c 01 06")  # qualifier 0x0a: reserved range code, read goes on
STOP_BEFORE_START = h("c0 81 00 00  1e 01 00 05 02")  # range 5..2
TRAILING_BYTE = h("c0 01  3c 01 06  3c")
HUGE_PACKED_COUNT = h("c0 81 00 00  01 01 09 ff ff ff ff  00")  # 4 billion bits announced, one byte sent


def test_truncated_object_keeps_what_was_read() -> None:
    apdu = parse_apdu(TRUNCATED_ANALOG_RESPONSE)
    assert apdu.objects == ["g30v1"]
    assert [kind for kind, _ in apdu.problems] == ["truncated_object"]


def test_unknown_object_stops_the_walk() -> None:
    apdu = parse_apdu(UNKNOWN_OBJECT_RESPONSE)
    assert apdu.objects == ["g99v9"] and apdu.problems[0][0] == "unknown_object"


def test_reserved_qualifier_is_reported_and_skipped() -> None:
    apdu = parse_apdu(RESERVED_QUALIFIER)
    assert apdu.objects == ["g1v2", "g60v1"] and [k for k, _ in apdu.problems] == ["bad_qualifier"]


def test_range_stop_before_start() -> None:
    apdu = parse_apdu(STOP_BEFORE_START)
    assert apdu.objects == ["g30v1"] and apdu.problems[0][0] == "bad_qualifier"


def test_trailing_byte() -> None:
    assert parse_apdu(TRAILING_BYTE).problems[0][0] == "truncated_object"


def test_huge_counts_cost_nothing() -> None:
    apdu = parse_apdu(HUGE_PACKED_COUNT)
    assert apdu.points == [] and apdu.problems[0][0] == "truncated_object"


def test_object_and_point_limits() -> None:
    many_headers = b"\xc0\x01" + b"\x3c\x01\x06" * (MAX_OBJECTS + 10)
    apdu = parse_apdu(many_headers)
    assert len(apdu.objects) == MAX_OBJECTS and apdu.problems[0][0] == "too_many_objects"
    many_points = h("c0 81 00 00  1e 04 00 00 c7") + b"\x01\x00" * 200  # g30v4, points 0..199
    apdu = parse_apdu(many_points)
    assert len(apdu.points) == MAX_POINTS and apdu.points_total == 200 and apdu.problems == []


def test_short_fragments_need_more_data() -> None:
    for data in (b"", b"\xc0", b"\xc0\x81\x00"):
        with pytest.raises(NeedMoreData):
            parse_apdu(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"\xc0\x81\x00\x00", b"\xc0\x02", b"\xc0\x01", b"\xc0\x0c"]).flatmap(
    lambda head: st.binary(max_size=64).map(lambda body: head + body)))
def test_object_walk_never_raises_on_garbage(data: bytes) -> None:
    apdu = parse_apdu(data)
    assert len(apdu.points) <= MAX_POINTS and len(apdu.objects) <= MAX_OBJECTS


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_link_parser_raises_only_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        wire_parse(b"\x05\x64" + data)


def test_fixed_layouts_decode_each_field_to_its_attribute() -> None:
    # g32v7 (fFT): flags 0x01, float 1.5, 48-bit time 1000; g12v1 (C): CROB latch on, count 1, 100/200 ms, status 0
    p = decode_fixed("g32v7", "fFT", bytes.fromhex("01 0000c03f e80300000000"), 0, 7)
    assert (p.object, p.index, p.flags, p.value, p.time) == ("g32v7", 7, 1, 1.5, 1000)
    crob = decode_fixed("g12v1", "C", bytes.fromhex("03 01 64000000 c8000000 80"), 0, None)
    assert (crob.control_code, crob.count, crob.on_time, crob.off_time, crob.status, crob.value) == (3, 1, 100, 200, 0,
                                                                                                  None)
    nan = decode_fixed("g30v5", "fF", bytes.fromhex("01 0000c07f"), 0, 0)
    assert nan.flags == 1 and nan.value is None  # not finite: null
    assert decode_fixed("g2v2", "qT", bytes.fromhex("81 000000000000"), 0, 3).value == 1  # the state bit


def test_a_layout_with_a_number_after_a_float_is_refused() -> None:
    """The compiled layout lets the first value field win; after a float that decodes to null a later one
    would have to, which only decoding can tell."""
    with pytest.raises(ValueError, match="after a float"):
        fixed_layout("FU")

"""BACnet/IP wire format: BVLC, NPDU, APDU headers, tags and values, byte fixtures annotated field by field.

Fixtures marked with a capture come from the corpus (../shared/corpus/bacnet); the others are built
from ASHRAE 135 and Annex J.
"""

from __future__ import annotations

import pytest

from zonewarden.errors import Malformed
from zonewarden.protocols.bacnet.wire import looks_like_bvlc, parse_apdu, parse_bvlc, parse_message, parse_npdu
from zonewarden.protocols.bacnet.wire_tags import ValueBudget, app_value, constructed, read_tag


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# bacnet_services.pcap frame 1: ReadProperty analog-output 101 present-value
READ_PROPERTY_REQUEST = h(
    "81 0a 0016"  # BVLC: BACnet/IP, Original-Unicast-NPDU, length 22
    "01 24"  # NPDU: version 1, control: DNET present, expecting reply
    "0003 01 6c"  # DNET 3, DLEN 1, DADR 0x6c
    "ff"  # hop count 255
    "02 03 01 0c"  # confirmed request, segmented response accepted; max segs unspecified, max APDU 480;
    # invoke id 1; readProperty
    "0c 00400065"  # [0] object identifier: analog-output (1), instance 101
    "19 55"  # [1] property identifier: present-value (85)
)
# bacnet_services.pcap frame 2: the ACK, value REAL 100.0, from SNET 3 / SADR 0x6c
READ_PROPERTY_ACK = h(
    "81 0a 001b"  # BVLC: Original-Unicast-NPDU, length 27
    "01 08 0003 01 6c"  # NPDU: SNET 3, SLEN 1, SADR 0x6c
    "30 01 0c"  # complex ACK, invoke id 1, readProperty
    "0c 00400065 19 55"  # [0] analog-output 101, [1] present-value
    "3e 44 42c80000 3f"  # [3] { REAL 100.0 }
)
# BACnet-BBMD-on-same-subnet.cap frame 14: a BBMD forwards an I-Am of an MS/TP device behind a router
FORWARDED_I_AM_FROM_MSTP = h(
    "81 04 0022"  # BVLC: Forwarded-NPDU, length 34
    "c0a80012 bac0"  # original source 192.168.0.18:47808
    "01 28"  # NPDU: DNET and SNET present
    "ffff 00"  # DNET 65535 (global broadcast), DLEN 0
    "0004 01 56"  # SNET 4, SLEN 1, SADR 0x56 (the MS/TP station)
    "fe"  # hop count 254
    "10 00"  # unconfirmed request: I-Am
    "c4 020d7ee8"  # device 884456
    "22 01e0"  # max APDU 480
    "91 03"  # segmentation: none
    "21 56"  # vendor 86
)
# ndpi bacnet.pcap frame 22: I-Am-Router-To-Network for network 0... sent as a broadcast to DNET 65535
I_AM_ROUTER_TO_NETWORK = h("81 0b 000d" "01 a0" "ffff 00" "ff" "01" "0000")
REJECT_MESSAGE_TO_NETWORK = h("81 0a 000a" "01 80" "03" "01" "0007")  # reason 1 (unknown route), DNET 7
# bacnet_test.pcap frames 25/26 and BACnetARRAY-elements.cap: foreign device registration
REGISTER_FOREIGN_DEVICE = h("81 05 0006" "0010")  # TTL 16 s
BVLC_RESULT_REGISTER_NAK = h("81 00 0006" "0030")
READ_BDT_ACK_TWO_ENTRIES = h("81 03 0018" "c0a80001 bac0 ffffffff" "0a000001 bac0 ffffff00")
READ_FDT_ACK_ONE_ENTRY = h("81 07 000e" "c0a80105 bac0 003c 0028")  # TTL 60, 40 s remaining
DELETE_FDT_ENTRY = h("81 08 000a" "c0a80105 bac0")
# bacnet_example.pcap frame 572: the BVLC length says 17, the datagram has 25 octets (stale length)
STALE_BVLC_LENGTH = h("81 0a 0011" "0104" "0005 01 14" "09 06" "1d 0b 00 44656c63617474793730")


def test_read_property_request() -> None:
    m = parse_message(READ_PROPERTY_REQUEST)
    assert (m.bvlc.type, m.bvlc.function, m.bvlc.length, m.bvlc.problem) == (0x81, 0x0A, 22, None)
    assert m.npdu is not None and m.apdu is not None
    assert (m.npdu.control, m.npdu.dnet, m.npdu.dadr, m.npdu.hop_count, m.npdu.snet) == (0x24, 3, "6c", 255, None)
    assert m.npdu.expecting_reply
    a = m.apdu
    assert (a.apdu_type, a.invoke_id, a.service_choice, a.segmented, a.max_apdu, a.max_segments) == (
        0, 1, 12, False, 480, None)
    assert a.body == h("0c 00400065 19 55")


def test_read_property_ack_header() -> None:
    m = parse_message(READ_PROPERTY_ACK)
    assert m.npdu is not None and m.apdu is not None
    assert (m.npdu.snet, m.npdu.sadr, m.npdu.dnet) == (3, "6c", None)
    assert (m.apdu.apdu_type, m.apdu.invoke_id, m.apdu.service_choice, m.apdu.segmented) == (3, 1, 12, False)


def test_forwarded_npdu_keeps_the_original_source_and_route() -> None:
    m = parse_message(FORWARDED_I_AM_FROM_MSTP)
    assert (m.bvlc.function, m.bvlc.forwarded_ip, m.bvlc.forwarded_port) == (4, "192.168.0.18", 47808)
    assert m.npdu is not None and m.apdu is not None
    assert (m.npdu.dnet, m.npdu.dadr, m.npdu.snet, m.npdu.sadr, m.npdu.hop_count) == (65535, "", 4, "56", 254)
    assert (m.apdu.apdu_type, m.apdu.service_choice) == (1, 0)


def test_network_layer_messages() -> None:
    m = parse_message(I_AM_ROUTER_TO_NETWORK)
    assert m.apdu is None and m.npdu is not None
    assert (m.npdu.message_type, m.npdu.networks, m.npdu.dnet) == (0x01, (0,), 65535)
    npdu = parse_npdu(REJECT_MESSAGE_TO_NETWORK[4:])
    assert (npdu.message_type, npdu.reject_reason, npdu.networks) == (0x03, 1, (7,))
    who = parse_npdu(h("01 80 00"))  # Who-Is-Router-To-Network, any network
    assert (who.message_type, who.networks) == (0, ())
    proprietary = parse_npdu(h("01 80 80 0104 aabb"))  # vendor 260's message 0x80
    assert proprietary.message_type == 0x80


def test_bvlc_only_functions() -> None:
    assert parse_bvlc(REGISTER_FOREIGN_DEVICE).ttl == 16
    assert parse_bvlc(BVLC_RESULT_REGISTER_NAK).result == 0x30
    assert parse_bvlc(READ_BDT_ACK_TWO_ENTRIES).entries == ("192.168.0.1:47808/255.255.255.255",
                                                           "10.0.0.1:47808/255.255.255.0")
    assert parse_bvlc(READ_FDT_ACK_ONE_ENTRY).entries == ("192.168.1.5:47808 ttl=60 remaining=40",)
    assert parse_bvlc(DELETE_FDT_ENTRY).entries == ("192.168.1.5:47808",)
    assert parse_message(REGISTER_FOREIGN_DEVICE).npdu is None


def test_stale_bvlc_length_parses_the_datagram_and_says_so() -> None:
    m = parse_message(STALE_BVLC_LENGTH)
    assert m.bvlc.problem == "BVLC length 17, datagram has 25 octets"
    assert m.apdu is not None and m.apdu.service_choice == 20  # reinitializeDevice, password intact
    assert m.apdu.body.endswith(b"Delcatty70")
    assert not looks_like_bvlc(STALE_BVLC_LENGTH)  # the probe stays strict


def test_bvlc_ipv6_is_recognised_not_decoded() -> None:
    b = parse_bvlc(h("82 01 000a 010203 040506"))
    assert (b.type, b.function, b.npdu) == (0x82, 1, None)


@pytest.mark.parametrize(("name", "payload", "message"), [
    ("NOT_BVLC_TYPE", h("45 0a 0008 0100 1008"), "BVLC type 0x45"),
    ("UNKNOWN_BVLC_FUNCTION", h("81 0d 0004"), "function 0x0d"),
    ("BVLC_LENGTH_UNDER_HEADER", h("81 0a 0002 0100"), "shorter than its header"),
    ("NPDU_VERSION_16", h("81 0a 000b 10 07 2c0200003d"), "NPDU version 16"),
    ("NPDU_WITHOUT_APDU", h("81 0a 000b 01 20 000d 01 3d ff"), "NPDU without APDU"),
    ("TRUNCATED_DADR", h("81 0a 0009 01 20 0003 06 aa"), "DADR of 6 octets truncated"),
    ("RESERVED_APDU_TYPE", h("81 0a 0008 01 00 80 00"), "reserved APDU type 8"),
    ("SHORT_CONFIRMED_REQUEST", h("81 0a 0008 01 04 00 05"), "needs 4 octets"),
    ("RESULT_WITHOUT_CODE", h("81 00 0005 00"), "BVLC-Result of 1 octets"),
    ("FORWARDED_WITHOUT_SOURCE", h("81 04 0008 c0a80001"), "without its original source"),
])
def test_malformed_datagrams(name: str, payload: bytes, message: str) -> None:
    with pytest.raises(Malformed, match=message):
        parse_message(payload)
    assert not looks_like_bvlc(payload)


def test_apdu_headers_of_every_type() -> None:
    seg = parse_apdu(h("0e 44 05 02 03 0e"))  # segmented request, more follows, SA; 16 segs/1024; seq 2, window 3
    assert (seg.segmented, seg.more_follows, seg.segmented_response_accepted, seg.max_segments, seg.max_apdu,
            seg.invoke_id, seg.sequence_number, seg.window_size, seg.service_choice) == (
        True, True, True, 16, 1024, 5, 2, 3, 14)
    ack = parse_apdu(h("3c 5e 00 03 0c 0c0200"))  # segmented complex ACK, more follows, seq 0
    assert (ack.segmented, ack.more_follows, ack.sequence_number, ack.window_size, ack.service_choice,
            ack.body) == (True, True, 0, 3, 12, h("0c0200"))
    assert parse_apdu(h("20 02 0f")).service_choice == 15  # simple ACK of writeProperty
    sack = parse_apdu(h("43 5e 02 03"))  # segment ACK, NAK, from the server
    assert (sack.negative_ack, sack.server, sack.sequence_number, sack.window_size) == (True, True, 2, 3)
    assert (parse_apdu(h("60 3a 09")).reason, parse_apdu(h("60 3a 09")).invoke_id) == (9, 58)  # reject
    abort = parse_apdu(h("71 07 04"))  # abort from the server: segmentation not supported
    assert (abort.server, abort.reason, abort.invoke_id) == (True, 4, 7)
    assert parse_apdu(h("20 02 0f 00")).problem == "1 octets after a 3-octet APDU"
    assert parse_apdu(h("00 0f 01 0c")).problem == "reserved max-APDU code 15"


def test_tags() -> None:
    t = read_tag(h("0c 00400065"), 0)  # context 0, length 4
    assert (t.number, t.context, t.start, t.end) == (0, True, 1, 5)
    assert read_tag(h("3e"), 0).opening and read_tag(h("3f"), 0).closing
    ext = read_tag(h("f9 80 01"), 0)  # extended tag number 128, context, length 1
    assert (ext.number, ext.length) == (128, 1)
    long = read_tag(h("75 fe 0100") + bytes(256), 0)  # character string, 16-bit extended length 256
    assert long.length == 256
    with pytest.raises(Malformed, match="runs past the end"):
        read_tag(h("75 09 00 41"), 0)


@pytest.mark.parametrize(("name", "encoded", "value"), [
    ("NULL", "00", None),
    ("BOOLEAN_TRUE", "11", True),
    ("BOOLEAN_FALSE", "10", False),
    ("UNSIGNED_480", "22 01e0", 480),
    ("SIGNED_MINUS_480", "32 fe20", -480),
    ("REAL_100", "44 42c80000", 100.0),
    ("REAL_0_1_SHORTEST", "44 3dcccccd", 0.1),
    ("REAL_NAN_AS_TEXT", "44 7fc00000", "nan"),
    ("DOUBLE_2_5", "55 08 4004000000000000", 2.5),
    ("OCTET_STRING", "63 0a0b0c", "0a0b0c"),
    ("CHARS_UTF8", "75 09 00 4d6f746f72 e282ac", "Motor€"),
    ("CHARS_ISO_8859_1", "74 05 e9 74 e9", "été"),
    ("CHARS_UCS2", "75 05 04 00410042", "AB"),
    ("CHARS_DBCS_932", "75 09 01 03a4 89b7 9378 8251", "温度２"),
    ("BIT_STRING_3_UNUSED", "82 03 a0", "10100"),
    ("ENUMERATED_62", "91 3e", 62),
    ("DATE_WITH_WEEKDAY", "a4 76 03 06 02", "2018-03-06 w2"),
    ("DATE_ANY", "a4 ff ff ff ff", "*-*-*"),
    ("TIME", "b4 10 12 30 1b", "16:18:48.27"),
    ("TIME_ANY_HUNDREDTHS", "b4 08 00 ff ff", "08:00:*"),
    ("OBJECT_ID", "c4 00c00004", "binary_input:4"),
])
def test_application_values(name: str, encoded: str, value: object) -> None:
    data = h(encoded)
    assert app_value(data, read_tag(data, 0)) == value


def test_constructed_values_flatten_and_respect_the_budget() -> None:
    # [3] { {[0] 5} REAL 1.0 } : a nested context-tagged primitive shows as "[0]05"
    data = h("3e 0e 09 05 0f 44 3f800000 3f")
    values, end = constructed(data, 1, 3, ValueBudget(10))
    assert (values, end) == (["[0]05", 1.0], len(data))
    budget = ValueBudget(1)
    assert constructed(data, 1, 3, budget)[0] == ["[0]05"] and budget.exhausted
    with pytest.raises(Malformed, match="closing tag 4 where 3 was open"):
        constructed(h("3e 4f"), 1, 3, None)

"""PROFINET DCP wire parsing: header, block layouts per service, identity blocks, malformed input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonewarden.errors import DecodeError, Malformed
from zonewarden.protocols.profinet_dcp.wire import MAX_BLOCKS, parse_frame

# From profinet/iti-ics-security-tools/ChangeIPUsingDCP.pcap (payload after EtherType 0x8892).
IDENTIFY_ALL_REQUEST = bytes.fromhex(
    "fe fe"         # FrameID: identify request (multicast)
    "05 00"         # ServiceID identify, ServiceType request
    "01 00 00 01"   # Xid
    "00 01"         # ResponseDelay 1
    "00 04"         # DCPDataLength 4
    "ff ff 00 00"   # block: all selector, length 0
    "0000000000"    # Ethernet padding
)
IDENTIFY_RESPONSE_X208 = bytes.fromhex(
    "fe ff" "05 01" "01 00 00 01" "00 00" "00 5e"
    "02 05 00 1c" "00 00"  # device options, BlockInfo 0, then 13 option/suboption pairs
    "0101 0102 0201 0202 0203 0204 0205 033d 0501 0502 0503 0504 ffff"
    "02 01 00 05" "00 00" "49 4e 43" "00"          # type of station "INC" + padding octet
    "02 02 00 0b" "00 00" "58 32 30 38 2d 42 4f 52 44" "00"  # name of station "X208-BORD" + padding
    "02 03 00 06" "00 00" "00 2a" "0a 01"          # vendor id 0x002a (Siemens), device id 0x0a01
    "02 04 00 04" "00 00" "01" "00"                # device role: IO device, reserved
    "01 02 00 0e" "00 01" "c0 a8 00 06" "ff ff ff 00" "c0 a8 00 01"  # IP set: 192.168.0.6/24 gw .1
)
SET_IP_REQUEST = bytes.fromhex(
    "fe fd" "04 00" "01 00 00 01" "00 00" "00 12"
    "01 02 00 0e" "00 01"  # IP parameter, BlockQualifier 1: save permanently
    "c0 a8 00 0a" "ff ff ff 00" "c0 a8 00 01"
)
SET_RESPONSE_OK = bytes.fromhex(
    "fe fd" "04 01" "01 00 00 01" "00 00" "00 08"
    "05 04 00 03" "01 02" "00"  # control/response: IP parameter, BlockError 0
    "00"                        # padding
)
# Constructed from IEC 61158-6-10 4.3 layouts.
GET_REQUEST = bytes.fromhex("fe fd" "03 00" "00 00 00 07" "00 00" "00 04" "02 02" "01 02")
RESET_TO_FACTORY_REQUEST = bytes.fromhex("fe fd" "04 00" "00 00 00 08" "00 00" "00 06" "05 06 00 02" "00 08")
SET_RESPONSE_REFUSED = bytes.fromhex("fe fd" "04 01" "00 00 00 08" "00 00" "00 08" "05 04 00 03" "05 06" "06" "00")
HELLO_WITH_CONFLICT = bytes.fromhex(
    "fe fc" "06 00" "00 00 00 09" "00 00" "00 1c"
    "02 02 00 06" "00 00" "70 6c 63 31"                         # name "plc1"
    "01 02 00 0e" "00 81" "0a 00 00 02" "ff 00 00 00" "0a 00 00 01"  # IP set, conflict bit 0x80
)
ALIAS_INSTANCE_OEM = bytes.fromhex(
    "fe ff" "05 01" "00 00 00 0a" "00 00" "00 24"
    "02 06 00 0e" "00 00" "70 6f 72 74 2d 30 30 31 2e 73 77 31"  # alias "port-001.sw1"
    "02 07 00 04" "00 00" "01 02"                                       # device instance 0x0102
    "02 08 00 06" "00 00" "12 34" "56 78"                               # OEM vendor/device
)
RT_CYCLIC_DATA = bytes.fromhex("80 00" "0102030405060708" "0000" "35" "00")  # frame id 0x8000: not DCP
SHORT_DCP_HEADER = bytes.fromhex("fe fe 05 00 01")
UNKNOWN_SERVICE = bytes.fromhex("fe fd" "09 00" "00 00 00 01" "00 00" "00 00")
BLOCK_OVERRUN = bytes.fromhex("fe ff" "05 01" "00 00 00 01" "00 00" "00 08" "02 02 00 20" "00 00 61 62")
DATA_LENGTH_BEYOND_FRAME = bytes.fromhex("fe fe" "05 00" "00 00 00 01" "00 01" "00 40" "ff ff 00 00")


def test_identify_request_all_selector() -> None:
    msg = parse_frame(IDENTIFY_ALL_REQUEST)
    assert msg is not None
    assert (msg.frame_id, msg.service_id, msg.service_type, msg.xid) == (0xFEFE, 5, 0, 0x01000001)
    assert (msg.response_delay, msg.data_length, msg.options, msg.problems) == (1, 4, ["all.all"], [])
    assert not msg.is_response


def test_identify_response_identity() -> None:
    msg = parse_frame(IDENTIFY_RESPONSE_X208)
    assert msg is not None and msg.is_response and msg.response_delay is None
    assert (msg.name_of_station, msg.type_of_station, msg.vendor_id, msg.device_id, msg.device_role) == (
        "X208-BORD", "INC", 0x002A, 0x0A01, 0x01)
    assert (msg.ip_address, msg.netmask, msg.gateway, msg.ip_block_info) == (
        "192.168.0.6", "255.255.255.0", "192.168.0.1", 1)
    assert msg.options == ["device.device_options", "device.type_of_station", "device.name_of_station",
                           "device.device_id", "device.device_role", "ip.ip_parameter"]
    assert msg.supported_options is not None and msg.supported_options[:3] == [
        "ip.mac_address", "ip.ip_parameter", "device.type_of_station"]
    assert "dhcp.client_identifier" in msg.supported_options and msg.problems == []


def test_set_request_and_response() -> None:
    req = parse_frame(SET_IP_REQUEST)
    assert req is not None
    assert (req.ip_address, req.netmask, req.gateway, req.block_qualifier, req.ip_block_info) == (
        "192.168.0.10", "255.255.255.0", "192.168.0.1", 1, None)
    resp = parse_frame(SET_RESPONSE_OK)
    assert resp is not None and resp.results == [("ip.ip_parameter", 0)] and resp.options == ["control.response"]


def test_get_request_lists_selectors() -> None:
    msg = parse_frame(GET_REQUEST)
    assert msg is not None and msg.options == ["device.name_of_station", "ip.ip_parameter"]


def test_reset_to_factory_and_its_refusal() -> None:
    req = parse_frame(RESET_TO_FACTORY_REQUEST)
    assert req is not None and req.options == ["control.reset_to_factory"] and req.block_qualifier == 8
    resp = parse_frame(SET_RESPONSE_REFUSED)
    assert resp is not None and resp.results == [("control.reset_to_factory", 6)]


def test_hello_has_block_info_and_reports_ip_conflict() -> None:
    msg = parse_frame(HELLO_WITH_CONFLICT)
    assert msg is not None and not msg.is_response
    assert (msg.name_of_station, msg.ip_address, msg.ip_block_info) == ("plc1", "10.0.0.2", 0x81)
    assert [r for r, _ in msg.problems] == ["ip_conflict"]


def test_alias_instance_and_oem_ids() -> None:
    msg = parse_frame(ALIAS_INSTANCE_OEM)
    assert msg is not None
    assert (msg.alias_name, msg.device_instance, msg.oem_vendor_id, msg.oem_device_id) == (
        "port-001.sw1", 0x0102, 0x1234, 0x5678)


def test_other_profinet_frames_are_not_dcp() -> None:
    assert parse_frame(RT_CYCLIC_DATA) is None


def test_malformed_frames() -> None:
    with pytest.raises(Malformed):
        parse_frame(SHORT_DCP_HEADER)
    with pytest.raises(Malformed):
        parse_frame(b"\xfe")
    unknown = parse_frame(UNKNOWN_SERVICE)
    assert unknown is not None and [r for r, _ in unknown.problems] == ["unknown_service"]
    overrun = parse_frame(BLOCK_OVERRUN)
    assert overrun is not None and [r for r, _ in overrun.problems] == ["malformed_block"]
    beyond = parse_frame(DATA_LENGTH_BEYOND_FRAME)
    assert beyond is not None and [r for r, _ in beyond.problems] == ["length_mismatch"]
    assert beyond.options == ["all.all"]


def test_block_count_is_bounded() -> None:
    blocks = bytes.fromhex("ff ff 00 00") * (MAX_BLOCKS + 10)
    frame = bytes.fromhex("fe fe 05 00 00 00 00 01 00 01") + len(blocks).to_bytes(2, "big") + blocks
    msg = parse_frame(frame)
    assert msg is not None and len(msg.options) == MAX_BLOCKS
    assert [r for r, _ in msg.problems] == ["too_many_blocks"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([0xFEFC, 0xFEFD, 0xFEFE, 0xFEFF]), st.binary(max_size=300))
def test_any_bytes_parse_or_raise_decode_errors(frame_id: int, data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        parse_frame(frame_id.to_bytes(2, "big") + data)

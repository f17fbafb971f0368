"""The pure EtherNet/IP and CIP parsers on annotated fixtures: every field, and the malformed cases."""

from __future__ import annotations

import pytest

from tests.protocols.enip import fixtures as fx
from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.enip.wire_cip import CipReply, CipRequest, parse_cip, parse_multiple_service, parse_path
from zonewarden.protocols.enip.wire_cm import (
    parse_forward_close_request,
    parse_forward_open_reply,
    parse_forward_open_request,
    parse_identity_all,
    parse_unconnected_send,
)
from zonewarden.protocols.enip.wire_encap import (
    HEADER_LEN,
    message_length,
    parse_header,
    parse_io_datagram,
    parse_message,
)


def _cip(pdu: bytes) -> bytes:
    """The CIP message of a SendRRData/SendUnitData fixture (after the sequence count for connected data)."""
    msg = parse_message(pdu)
    assert msg.items is not None
    item = msg.items[-1] if msg.items[-1].type_id in (0xB1, 0xB2) else msg.items[1]
    return item.data[2:] if item.type_id == 0xB1 else item.data


def test_header_fields() -> None:
    header = parse_header(fx.LIST_IDENTITY_REQUEST)
    assert (header.command, header.length, header.session, header.status, header.options) == (0x63, 0, 0, 0, 0)
    assert header.context == bytes.fromhex("0000c1debed10000")
    assert message_length(fx.LIST_IDENTITY_REQUEST) == HEADER_LEN


def test_framing_needs_four_bytes_and_rejects_implausible_commands() -> None:
    with pytest.raises(NeedMoreData):
        message_length(b"\x63\x00")
    with pytest.raises(Malformed):
        message_length(bytes.fromhex("1603010200"))  # a TLS record is not an encapsulation header
    assert message_length(fx.UNKNOWN_COMMAND_0001) == HEADER_LEN  # undocumented but plausible: kept


def test_list_identity_reply_carries_the_identity() -> None:
    msg = parse_message(fx.LIST_IDENTITY_REPLY)
    assert msg.identities is not None
    (identity,) = msg.identities
    assert (identity.encap_version, identity.socket_address, identity.socket_port) == (1, "10.1.1.164", 44818)
    assert (identity.vendor_id, identity.device_type, identity.product_code) == (1, 12, 58)
    assert (identity.revision_major, identity.revision_minor, identity.status) == (4, 3, 0x0030)
    assert (identity.serial_number, identity.product_name, identity.state) == (0x00524D8E, "1756-ENBT/A", 3)


def test_register_session_and_list_services() -> None:
    assert parse_message(fx.REGISTER_SESSION_REPLY).protocol_version == 1
    services = parse_message(fx.LIST_SERVICES_REPLY).services
    assert services is not None
    assert (services[0].version, services[0].flags, services[0].name) == (1, 0x120, "Communications")


def test_truncated_cpf_item_is_malformed() -> None:
    with pytest.raises(Malformed, match="declares 9 bytes"):
        parse_message(fx.TRUNCATED_CPF_ITEM)


def test_forward_open_request() -> None:
    req = parse_cip(_cip(fx.FORWARD_OPEN_REQUEST))
    assert isinstance(req, CipRequest)
    assert (req.service, req.path.cip_class, req.path.instance) == (0x54, 6, 1)
    conn = parse_forward_open_request(req.data, large=False)
    assert (conn.ot_connection_id, conn.to_connection_id, conn.serial, conn.vendor_id) == (0, 0, 14, 1)
    assert (conn.originator_serial, conn.ot_rpi, conn.to_rpi, conn.transport) == (0x0013F522, 10000, 10000, 1)
    assert conn.path_bytes == bytes.fromhex("34040000000000000000" "20042406" "2c022c01")
    assert conn.path is not None
    assert (conn.path.cip_class, conn.path.instance, conn.path.connection_points) == (4, 6, [2, 1])
    assert conn.path.key is not None and conn.path.key.vendor_id == 0


def test_forward_open_reply_and_socket_items() -> None:
    msg = parse_message(fx.FORWARD_OPEN_REPLY)
    assert msg.items is not None and [i.type_id for i in msg.items] == [0, 0xB2, 0x8000, 0x8001]
    rep = parse_cip(msg.items[1].data)
    assert isinstance(rep, CipReply) and (rep.service, rep.status, rep.additional) == (0x54, 0, ())
    conn = parse_forward_open_reply(rep.data, success=True)
    assert (conn.ot_connection_id, conn.to_connection_id) == (0xF1A20002, 0xF1A20003)
    assert (conn.serial, conn.vendor_id, conn.originator_serial, conn.ot_rpi, conn.to_rpi) == (
        14, 1, 0x0013F522, 10000, 10000)


def test_large_forward_open_request_has_32_bit_parameters() -> None:
    req = parse_cip(_cip(fx.LARGE_FORWARD_OPEN_REQUEST))
    assert isinstance(req, CipRequest) and req.service == 0x5B
    conn = parse_forward_open_request(req.data, large=True)
    assert (conn.to_connection_id, conn.serial, conn.originator_serial) == (0x12345678, 7, 0xDEADBEEF)
    assert (conn.ot_rpi, conn.to_rpi, conn.transport) == (100000, 100000, 0xA3)
    assert conn.path is not None and conn.path.ports == [(1, b"\x00")] and conn.path.cip_class == 2


def test_forward_close_request() -> None:
    req = parse_cip(_cip(fx.FORWARD_CLOSE_REQUEST))
    assert isinstance(req, CipRequest) and req.service == 0x4E
    conn = parse_forward_close_request(req.data)
    assert (conn.serial, conn.vendor_id, conn.originator_serial) == (20, 77, 0x32952BF3)
    assert conn.path_bytes == bytes.fromhex("010020022401")


def test_unconnected_send_embeds_a_request_and_a_route() -> None:
    req = parse_cip(_cip(fx.UNCONNECTED_SEND_IDENTITY_REQUEST))
    assert isinstance(req, CipRequest) and (req.service, req.path.cip_class) == (0x52, 6)
    send = parse_unconnected_send(req.data)
    assert (send.embedded.service, send.embedded.path.cip_class, send.embedded.path.instance) == (1, 1, 1)
    assert send.route_bytes == bytes.fromhex("0100") and send.route.ports == [(1, b"\x00")]


def test_identity_get_attributes_all_reply() -> None:
    rep = parse_cip(_cip(fx.UNCONNECTED_SEND_IDENTITY_REPLY))
    assert isinstance(rep, CipReply) and (rep.service, rep.status) == (1, 0)
    identity = parse_identity_all(rep.data)
    assert (identity.vendor_id, identity.device_type, identity.product_code) == (1, 14, 54)
    assert (identity.revision_major, identity.revision_minor, identity.status) == (16, 20, 0x3060)
    assert (identity.serial_number, identity.product_name, identity.state) == (0x0051823F, "1756-L61/B LOGIX5561", None)


def test_reply_with_additional_status() -> None:
    rep = parse_cip(_cip(fx.UNCONNECTED_SEND_TIMEOUT_REPLY))
    assert isinstance(rep, CipReply)
    assert (rep.service, rep.status, rep.additional, rep.data) == (0x52, 1, (0x0204,), b"\x01\x00")


def test_multiple_service_packet_request_and_reply() -> None:
    req = parse_cip(_cip(fx.MULTIPLE_SERVICE_REQUEST))
    assert isinstance(req, CipRequest) and req.service == 0x0A
    msp = parse_multiple_service(req.data)
    assert msp.declared == 2 and msp.problem is None
    first, second = msp.messages
    assert isinstance(first, CipRequest)
    assert (first.service, first.path.cip_class, first.path.attribute) == (14, 1, None)
    assert isinstance(second, CipRequest)
    assert (second.path.cip_class, second.path.instance, second.path.attribute) == (0x100, 1, 7)
    rep = parse_cip(_cip(fx.MULTIPLE_SERVICE_REPLY))
    assert isinstance(rep, CipReply) and rep.status == 0x1E
    statuses = [m.status for m in parse_multiple_service(rep.data).messages if isinstance(m, CipReply)]
    assert statuses == [0, 0x14]


def test_multiple_service_packet_bad_offset_is_reported_not_raised() -> None:
    data = bytes.fromhex("0200" "0600" "ff00" "0e02" "20012401")  # second offset past the end
    msp = parse_multiple_service(data)
    assert msp.messages[1] is None and msp.problem is not None and "offset 255" in msp.problem
    with pytest.raises(Malformed):
        parse_multiple_service(bytes.fromhex("0500" "0600"))  # 5 offsets announced, 1 present


def test_multiple_service_packet_count_is_bounded() -> None:
    count = 300
    data = count.to_bytes(2, "little") + b"".join((2 + 2 * count + 2 * k).to_bytes(2, "little") for k in range(count))
    data += b"\x0e\x00" * count
    msp = parse_multiple_service(data)
    assert (len(msp.messages), msp.declared, msp.problem) == (256, 300, None)


def test_symbolic_path_is_the_tag_name() -> None:
    req = parse_cip(_cip(fx.READ_TAG_REQUEST))
    assert isinstance(req, CipRequest)
    assert (req.service, req.path.symbol, req.path.cip_class, req.data) == (0x4C, "_IO_EM_DI_03", None, b"\x01\x00")


def test_wide_logical_segments() -> None:
    path = parse_path(fx.PATH_WIDE_SEGMENTS)
    assert (path.cip_class, path.instance, path.attribute, path.problem) == (0x100, 0x12345678, 5, None)


def test_port_segment_with_extended_link_address() -> None:
    path = parse_path(fx.PATH_PORT_IP_ADDRESS)
    assert path.ports == [(2, b"10.1.2.3")] and path.cip_class == 2


def test_the_route_is_the_port_segments_as_sent() -> None:
    # the connection path of a Forward Open through the backplane: the route ends before the application path
    assert parse_path(bytes.fromhex("0100" "2002" "2401")).route == bytes.fromhex("0100")
    # an extended link address of odd length keeps its pad byte; the key and application path are not route
    path = parse_path(bytes.fromhex("0103" "1205" "312e322e33" "00" "3404" "0100" "0e00" "3600" "10" "14" "2002"))
    assert path.ports == [(1, b"\x03"), (2, b"1.2.3")] and path.key is not None and path.cip_class == 2
    assert path.route == bytes.fromhex("0103" "1205" "312e322e33" "00")
    assert parse_path(fx.PATH_WIDE_SEGMENTS).route == b""


def test_truncated_path_keeps_what_was_decoded() -> None:
    path = parse_path(fx.PATH_TRUNCATED_INSTANCE)
    assert path.cip_class == 1 and path.instance is None and path.problem is not None


def test_request_path_longer_than_the_message_is_malformed() -> None:
    with pytest.raises(Malformed):
        parse_cip(bytes.fromhex("0e05" "2001"))


def test_io_datagram() -> None:
    io = parse_io_datagram(fx.IO_DATAGRAM)
    assert (io.connection_id, io.sequence, io.types) == (0x003A7B78, 73321448, (0x8002, 0xB1))
    assert io.data == bytes.fromhex("0300fdffffffffffffff0000")
    with pytest.raises(Malformed):
        parse_io_datagram(bytes.fromhex("0100" "b100" "0000"))  # data without an address item

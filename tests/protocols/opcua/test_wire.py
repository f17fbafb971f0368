"""OPC UA Binary wire format: chunk headers, connection messages, security headers, service bodies."""

from __future__ import annotations

import struct

import pytest

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.opcua.samples import SAMPLES
from zonewarden.protocols.opcua.wire import (
    chunk_length,
    looks_like_opcua,
    parse_abort,
    parse_chunk,
    parse_sequence_header,
    thumbprint,
)
from zonewarden.protocols.opcua.wire_services import parse_body
from zonewarden.protocols.opcua.wire_types import MAX_DEPTH, NodeId, Reader

URL = b"opc.tcp://localhost:4840"

HELLO = bytes.fromhex(
    "48454c"  # message type HEL
    "46"  # chunk type F
    "38000000"  # message size 56
    "00000000"  # protocol version 0
    "ffff0000"  # receive buffer size 65535
    "ffff0000"  # send buffer size 65535
    "00000000"  # max message size 0: no limit
    "00000000"  # max chunk count 0: no limit
    "18000000"  # endpoint URL length 24
) + URL

ACKNOWLEDGE_SMALL_BUFFERS = bytes.fromhex(
    "41434b" "46"  # ACK, F
    "1c000000"  # size 28
    "00000000"  # protocol version
    "00200000"  # receive buffer size 8192
    "00200000"  # send buffer size 8192
    "00000100"  # max message size 65536
    "10000000"  # max chunk count 16
)

ERROR_WITH_REASON = bytes.fromhex(
    "455252" "46"  # ERR, F
    "17000000"  # size 23
    "00000e80"  # error 0x800e0000 BadServerHalted
    "07000000"  # reason length 7
) + b"stopped"

REVERSE_HELLO = bytes.fromhex(
    "524845" "46"  # RHE, F
    "2e000000"  # size 46
    "06000000"  # server URI length 6
) + b"urn:s1" + struct.pack("<i", len(URL)) + URL  # server URI, endpoint URL length 24 and URL

GET_ENDPOINTS_REQUEST = SAMPLES[4]  # annotated below: the open62541 client asking for endpoints
GET_ENDPOINTS_REQUEST_ANNOTATED = bytes.fromhex(
    "4d5347" "46" "5d000000"  # MSG, F, size 93
    "03000000"  # secure channel id 3
    "03000000"  # symmetric security header: token id 3
    "02000000"  # sequence number 2
    "02000000"  # request id 2
    "0100ac01"  # type id: four-byte NodeId, namespace 0, id 428 GetEndpointsRequest
    "0000"  # request header: authentication token, two-byte NodeId 0
    "104bee4e2dd1d501"  # timestamp
    "01000000"  # request handle 1
    "00000000"  # return diagnostics
    "ffffffff"  # audit entry id: null
    "10270000"  # timeout hint 10000 ms
    "000000"  # additional header: null NodeId, no body
    "18000000"  # endpoint URL length 24
    "6f70632e7463703a2f2f6c6f63616c686f73743a34383430"
    "ffffffff"  # locale ids: null array
    "ffffffff"  # profile URIs: null array
)

POLICY = b"http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
OPEN_SECURED_REQUEST = (
    bytes.fromhex("4f504e" "46")  # OPN, F
    + struct.pack("<I", 8 + 4 + 4 + len(POLICY) + 4 + 6 + 4 + 20 + 16)  # size
    + struct.pack("<I", 0)  # secure channel id 0: a new channel
    + struct.pack("<i", len(POLICY)) + POLICY  # asymmetric security header: policy URI
    + struct.pack("<i", 6) + bytes.fromhex("308201020304")  # sender certificate (6 bytes, DER-ish)
    + struct.pack("<i", 20) + bytes(range(20))  # receiver certificate thumbprint
    + bytes(range(16))  # ciphertext: sequence header and body
)

ABORT_BODY = bytes.fromhex(
    "00008080"  # error 0x80800000 BadRequestTooLarge... (a status code)
    "04000000"  # reason length 4
) + b"big!"


def test_hello() -> None:
    c = parse_chunk(HELLO)
    assert (c.msg_type, c.chunk_type, c.size) == ("HEL", "F", 56)
    assert (c.version, c.receive_buffer_size, c.send_buffer_size) == (0, 65535, 65535)
    assert (c.max_message_size, c.max_chunk_count, c.endpoint_url) == (0, 0, "opc.tcp://localhost:4840")
    assert SAMPLES[0] == HELLO


def test_acknowledge() -> None:
    c = parse_chunk(ACKNOWLEDGE_SMALL_BUFFERS)
    assert (c.msg_type, c.receive_buffer_size, c.send_buffer_size, c.max_chunk_count) == ("ACK", 8192, 8192, 16)
    assert c.endpoint_url is None


def test_error_and_reverse_hello() -> None:
    err = parse_chunk(ERROR_WITH_REASON)
    assert (err.error, err.reason) == (0x800E0000, "stopped")
    rhe = parse_chunk(REVERSE_HELLO)
    assert (rhe.server_uri, rhe.endpoint_url) == ("urn:s1", "opc.tcp://localhost:4840")
    null_reason = parse_chunk(SAMPLES[11])
    assert (null_reason.error, null_reason.reason) == (0x80020000, None)


def test_secure_message_headers_and_get_endpoints_request() -> None:
    assert GET_ENDPOINTS_REQUEST == GET_ENDPOINTS_REQUEST_ANNOTATED
    c = parse_chunk(GET_ENDPOINTS_REQUEST)
    assert (c.msg_type, c.secure_channel_id, c.token_id, c.security_policy) == ("MSG", 3, 3, None)
    seq, body = parse_sequence_header(c.payload)
    assert (seq.sequence_number, seq.request_id) == (2, 2)
    service = parse_body(body)
    assert service.type_id == NodeId(0, 428)
    assert (service.request_handle, service.endpoint_url, service.problem) == (1, "opc.tcp://localhost:4840", None)


def test_open_secure_channel_request_and_response() -> None:
    request = parse_chunk(SAMPLES[2])
    assert request.security_policy == "http://opcfoundation.org/UA/SecurityPolicy#None"
    assert (request.sender_certificate, request.receiver_thumbprint) == (None, None)
    seq, body = parse_sequence_header(request.payload)
    opn = parse_body(body)
    assert (seq.request_id, opn.type_id.numeric, opn.request_type, opn.security_mode, opn.lifetime) == (
        1, 446, 0, 1, 600000)
    response = parse_body(parse_sequence_header(parse_chunk(SAMPLES[3]).payload)[1])
    assert (response.type_id.numeric, response.status_code, response.channel_id, response.token_id) == (449, 0, 3, 3)
    assert response.lifetime == 600000


def test_open_secure_channel_with_certificates() -> None:
    c = parse_chunk(OPEN_SECURED_REQUEST)
    assert c.security_policy == "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
    assert c.sender_certificate == bytes.fromhex("308201020304")
    assert c.receiver_thumbprint == bytes(range(20))
    assert c.payload == bytes(range(16))
    assert thumbprint(bytes.fromhex("308201020304")) == "b85f7e068a52e89c95e6ff5af3ad8329f85c3042"


def test_get_endpoints_response_describes_the_server() -> None:
    service = parse_body(parse_sequence_header(parse_chunk(SAMPLES[5]).payload)[1])
    assert (service.type_id.numeric, service.status_code, service.problem) == (431, 0, None)
    app = service.application
    assert app is not None
    assert (app.uri, app.product_uri, app.name, app.kind) == (
        "urn:open62541.server.application", "http://open62541.org", "open62541-based OPC UA Application", 0)
    (endpoint,) = service.endpoints
    assert (endpoint.url, endpoint.security_mode, endpoint.user_token_types, endpoint.security_level) == (
        "opc.tcp://localhost:4840", 1, (0, 1), 1)


def test_create_session_and_activate_session() -> None:
    create = parse_body(parse_sequence_header(parse_chunk(SAMPLES[6]).payload)[1])
    assert create.application is not None and create.application.uri == "urn:unconfigured:application"
    assert (create.application.kind, create.endpoint_url, create.client_certificate) == (
        1, "opc.tcp://localhost:4840", None)
    created = parse_body(parse_sequence_header(parse_chunk(SAMPLES[7]).payload)[1])
    assert (created.type_id.numeric, created.status_code, len(created.endpoints)) == (464, 0, 1)
    activate = parse_body(parse_sequence_header(parse_chunk(SAMPLES[8]).payload)[1])
    assert (activate.identity_token, activate.username) == (324, "user1")


def test_read_response_status() -> None:
    service = parse_body(parse_sequence_header(parse_chunk(SAMPLES[10]).payload)[1])
    assert (service.type_id.numeric, service.request_handle, service.status_code) == (634, 21, 0)


@pytest.mark.parametrize(("encoded", "expected"), [
    (bytes.fromhex("00" "2a"), NodeId(0, 42)),  # two-byte
    (bytes.fromhex("01" "02" "7702"), NodeId(2, 631)),  # four-byte: namespace 2, id 631
    (bytes.fromhex("02" "0300" "a0860100"), NodeId(3, 100000)),  # numeric: namespace 3, id 100000
    (bytes.fromhex("03" "0100" "03000000") + b"abc", NodeId(1, "abc")),  # string
    (bytes.fromhex("04" "0100") + bytes(range(16)), NodeId(1, bytes(range(16)).hex())),  # guid
    (bytes.fromhex("05" "0000" "02000000" "beef"), NodeId(0, "beef")),  # opaque (ByteString)
])
def test_nodeid_forms(encoded: bytes, expected: NodeId) -> None:
    r = Reader(encoded)
    assert r.nodeid() == expected
    assert r.left == 0


def test_expanded_nodeid_drops_namespace_uri_and_server_index() -> None:
    encoded = bytes.fromhex("c1" "00" "ac01" "03000000") + b"urn" + bytes.fromhex("07000000")
    r = Reader(encoded)
    assert r.expanded_nodeid() == NodeId(0, 428)
    assert r.left == 0
    assert str(NodeId(2, "x")) == "ns=2;s=x" and str(NodeId(0, 631)) == "i=631"


@pytest.mark.parametrize(("chunk", "why"), [
    (b"XYZF" + struct.pack("<I", 32) + bytes(24), "message type"),
    (b"HELC" + struct.pack("<I", 32) + bytes(24), "chunk type"),
    (b"MSGF" + struct.pack("<I", 12) + bytes(4), "size"),
    (b"MSGF" + struct.pack("<I", 1 << 25) + bytes(24), "size"),
])
def test_bad_headers_are_malformed(chunk: bytes, why: str) -> None:
    with pytest.raises(Malformed, match=why):
        chunk_length(chunk)
    assert not looks_like_opcua(chunk)


def test_incomplete_input_needs_more_data() -> None:
    with pytest.raises(NeedMoreData):
        chunk_length(b"HELF")
    with pytest.raises(NeedMoreData):
        parse_chunk(HELLO[:40])


def test_lengths_beyond_the_message_are_malformed() -> None:
    bad_url = HELLO[:28] + struct.pack("<i", 1000) + HELLO[32:]
    with pytest.raises(Malformed, match="EndpointUrl length 1000"):
        parse_chunk(bad_url)
    with pytest.raises(Malformed, match="elements cannot fit"):
        Reader(struct.pack("<i", 1 << 30)).string_array()
    with pytest.raises(Malformed, match="NodeId encoding 9"):
        Reader(b"\x09\x00").nodeid()


def test_diagnostic_info_nesting_is_bounded() -> None:
    nested = b"\x40" * (MAX_DEPTH + 2) + b"\x00"
    with pytest.raises(Malformed, match="nested deeper"):
        Reader(nested).diagnostic_info()
    Reader(b"\x40" * MAX_DEPTH + b"\x00").diagnostic_info()


def test_truncated_body_keeps_what_was_decoded() -> None:
    body = parse_sequence_header(parse_chunk(SAMPLES[5]).payload)[1]
    service = parse_body(body[:60])
    assert (service.type_id.numeric, service.status_code) == (431, 0)
    assert service.problem == "Endpoints: 1 elements cannot fit in 28 bytes"


def test_abort_body() -> None:
    assert parse_abort(ABORT_BODY) == (0x80800000, "big!")


def test_probe() -> None:
    assert looks_like_opcua(HELLO)
    assert looks_like_opcua(GET_ENDPOINTS_REQUEST[:20])  # a large first segment may hold part of a chunk
    assert not looks_like_opcua(b"GET / HTTP/1.1\r\n\r\n")
    assert not looks_like_opcua(b"HELF" + struct.pack("<I", 56) + struct.pack("<I", 7 << 20) + bytes(44))
    assert not looks_like_opcua(b"ACKF" + struct.pack("<I", 300) + bytes(20))  # size beyond the segment

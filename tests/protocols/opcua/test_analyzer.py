"""OPC UA analyzer: request/response matching, secure channel tracking, chunk reassembly, limits, anomalies."""

from __future__ import annotations

import struct

import pytest

from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.opcua import analyzer as analyzer_module
from zonewarden.protocols.opcua.analyzer import OpcuaAnalyzer
from zonewarden.protocols.opcua.events import OpcuaEvent
from zonewarden.protocols.opcua.samples import SAMPLES
from zonewarden.protocols.opcua.wire import parse_chunk, parse_sequence_header

HEL, ACK, OPN_REQ, OPN_RES, GETEP_REQ, GETEP_RES, CS_REQ, CS_RES, AS_REQ, READ_REQ, READ_RES, ERR = SAMPLES
BASIC256 = b"http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"


def secure_chunk(msg_type: bytes, chunk: bytes, scid: int, payload: bytes, token: int = 1) -> bytes:
    """An MSG/CLO chunk: header, channel id, token id, then ``payload`` (sequence header and body)."""
    return msg_type + chunk + struct.pack("<III", 16 + len(payload), scid, token) + payload


def sequenced(seq: int, rid: int, body: bytes) -> bytes:
    return struct.pack("<II", seq, rid) + body


def body_of(sample: bytes) -> bytes:
    return parse_sequence_header(parse_chunk(sample).payload)[1]


def secured_open(scid: int, sender_cert: bytes = b"\x30\x82cert") -> bytes:
    header = struct.pack("<i", len(BASIC256)) + BASIC256 + struct.pack("<i", len(sender_cert)) + sender_cert
    header += struct.pack("<i", 20) + bytes(20)
    ciphertext = bytes(range(40))
    return b"OPNF" + struct.pack("<II", 12 + len(header) + len(ciphertext), scid) + header + ciphertext


def run(*parts: tuple[int, bytes]) -> tuple[list[OpcuaEvent], list[AnomalyEvent], OpcuaAnalyzer]:
    events: list[Event] = []
    analyzer = OpcuaAnalyzer(FlowContext("Ct", "10.0.0.1", "10.0.0.2", 50000, 4840), events.append)
    for frame, (direction, data) in enumerate(parts, start=1):
        analyzer.data(direction, data, frame * 1000, frame)
    messages = [e for e in events if isinstance(e, OpcuaEvent)]
    return messages, [e for e in events if isinstance(e, AnomalyEvent)], analyzer


def test_session_requests_and_responses_match_by_request_id() -> None:
    msgs, anomalies, _ = run((0, HEL), (1, ACK), (0, OPN_REQ), (1, OPN_RES), (0, GETEP_REQ), (1, GETEP_RES),
                             (0, READ_REQ), (1, READ_RES))
    assert not anomalies
    assert [m.msg_type for m in msgs] == ["HEL", "ACK", "OPN", "OPN", "MSG", "MSG", "MSG", "MSG"]
    assert [m.service for m in msgs[2:]] == ["OpenSecureChannelRequest", "OpenSecureChannelResponse",
                                             "GetEndpointsRequest", "GetEndpointsResponse", "ReadRequest",
                                             "ReadResponse"]
    assert [m.request_frame for m in msgs] == [None, None, None, 3, None, 5, None, 7]
    opn_req, opn_res, _, getep_res = msgs[2:6]
    assert (opn_req.security_mode, opn_req.request_type, opn_req.lifetime) == ("None", "Issue", 600000)
    assert (opn_res.secure_channel_id, opn_res.token_id, opn_res.status) == (3, 3, "Good")
    assert getep_res.application_uri == "urn:open62541.server.application"
    assert getep_res.endpoint_security_modes == ["None"]
    assert getep_res.user_token_types == ["Anonymous", "UserName"]
    # an MSG carries its channel's policy, learnt from the OPN; the Read sample is from another capture's
    # channel 4, whose OPN we never saw: its policy is unknown, its body recognisably plaintext
    assert (getep_res.security_policy, getep_res.signed, getep_res.encrypted) == (
        "http://opcfoundation.org/UA/SecurityPolicy#None", False, False)
    read = msgs[6]
    assert (read.secure_channel_id, read.security_policy, read.signed, read.encrypted) == (4, None, None, False)


def test_segmented_delivery_gives_the_same_events() -> None:
    stream = HEL + OPN_REQ + GETEP_REQ
    whole, _, _ = run((0, stream))
    pieces, _, _ = run(*[(0, stream[i : i + 7]) for i in range(0, len(stream), 7)])
    strip = [(m.msg_type, m.service, m.request_id) for m in whole]
    assert strip == [(m.msg_type, m.service, m.request_id) for m in pieces] and len(strip) == 3


def test_activate_session_user_name_is_reported_never_the_password() -> None:
    msgs, _, _ = run((0, AS_REQ))
    assert (msgs[0].identity_token, msgs[0].username) == ("UserName", "user1")
    assert b"password" in AS_REQ and "password" not in repr(msgs[0])


def test_secured_channel_is_marked_and_not_decoded() -> None:
    ciphertext = secure_chunk(b"MSG", b"F", 7, bytes(range(100, 180)))
    msgs, anomalies, _ = run((0, secured_open(0)), (1, secured_open(7)), (0, ciphertext))
    assert not anomalies
    opn, _, msg = msgs
    assert (opn.security_policy, opn.signed, opn.encrypted, opn.sequence_number) == (BASIC256.decode(), True,
                                                                                     True, None)
    assert opn.sender_certificate_length == 6 and opn.receiver_thumbprint == "00" * 20
    assert (msg.security_policy, msg.encrypted, msg.service, msg.request_id) == (BASIC256.decode(), True, None,
                                                                                 None)


def test_signed_only_channel_body_is_recognised_and_decoded() -> None:
    signed = secure_chunk(b"MSG", b"F", 7, sequenced(5, 9, body_of(READ_REQ)) + bytes(32))  # + signature
    msgs, _, _ = run((0, secured_open(0)), (1, secured_open(7)), (0, signed))
    assert (msgs[2].signed, msgs[2].encrypted, msgs[2].service, msgs[2].request_id) == (True, False, "ReadRequest", 9)
    assert msgs[2].security_mode == "Sign"


def test_signed_only_channel_chunks_are_reassembled() -> None:
    body = body_of(GETEP_RES)
    first = secure_chunk(b"MSG", b"C", 7, sequenced(3, 2, body[:100]))  # starts with the type id: recognised
    last = secure_chunk(b"MSG", b"F", 7, sequenced(4, 2, body[100:]))  # continues a recognised message
    msgs, anomalies, _ = run((0, secured_open(0)), (1, secured_open(7)), (1, first), (1, last))
    assert not anomalies
    assert [(m.chunk_type, m.encrypted, m.service) for m in msgs[2:]] == [
        ("C", False, None), ("F", False, "GetEndpointsResponse")]


def test_unknown_channel_is_decoded_only_when_plaintext() -> None:
    plain = secure_chunk(b"MSG", b"F", 4, sequenced(2, 2, body_of(READ_REQ)))
    noise = secure_chunk(b"MSG", b"F", 4, bytes(range(60)))
    msgs, _, _ = run((0, plain), (0, noise))
    assert (msgs[0].service, msgs[0].encrypted, msgs[0].security_policy) == ("ReadRequest", False, None)
    assert (msgs[1].service, msgs[1].encrypted, msgs[1].sequence_number) == (None, None, None)


def test_chunks_are_reassembled_by_request_id() -> None:
    body = body_of(GETEP_RES)
    first = secure_chunk(b"MSG", b"C", 3, sequenced(10, 2, body[:100]))
    last = secure_chunk(b"MSG", b"F", 3, sequenced(11, 2, body[100:]))
    msgs, anomalies, _ = run((0, OPN_REQ), (1, OPN_RES), (1, first), (1, last))
    assert not anomalies
    intermediate, final = msgs[2:]
    assert (intermediate.chunk_type, intermediate.service, intermediate.sequence_number) == ("C", None, 10)
    assert (final.chunk_type, final.service, final.application_name) == (
        "F", "GetEndpointsResponse", "open62541-based OPC UA Application")


def test_abort_chunk_discards_the_message() -> None:
    body = body_of(GETEP_RES)
    first = secure_chunk(b"MSG", b"C", 3, sequenced(10, 2, body[:100]))
    abort = secure_chunk(b"MSG", b"A", 3, sequenced(11, 2, struct.pack("<Ii", 0x80B90000, 3) + b"big"))
    alone = secure_chunk(b"MSG", b"F", 3, sequenced(12, 2, body[100:]))
    msgs, anomalies, _ = run((0, OPN_REQ), (1, OPN_RES), (1, first), (1, abort), (1, alone))
    assert (msgs[3].chunk_type, msgs[3].status, msgs[3].reason) == ("A", "BadResponseTooLarge", "big")
    # after the abort, the next final chunk stands alone: its body starts mid-message, with no type id
    assert (msgs[4].chunk_type, msgs[4].service) == ("F", None)
    assert [(a.anomaly, a.detail) for a in anomalies] == [("opcua.malformed_body", "NodeId encoding 40 unknown")]


def test_chunk_count_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyzer_module, "MAX_CHUNKS", 3)
    chunks = [(1, secure_chunk(b"MSG", b"C", 3, sequenced(10 + i, 2, b"x" * 10))) for i in range(4)]
    _, anomalies, _ = run((0, OPN_REQ), (1, OPN_RES), *chunks)
    assert [a.anomaly for a in anomalies] == ["opcua.too_many_chunks"]


def test_message_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyzer_module, "MAX_MESSAGE_BYTES", 150)
    chunks = [(1, secure_chunk(b"MSG", b"C", 3, sequenced(10 + i, 2, b"x" * 100))) for i in range(3)]
    _, anomalies, analyzer = run((0, OPN_REQ), (1, OPN_RES), *chunks)
    assert [a.anomaly for a in anomalies] == ["opcua.message_too_large"]
    assert sum(len(p) for p in analyzer._partial[(1, 2)].parts) == 150


def test_partial_message_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyzer_module, "MAX_PARTIAL", 2)
    chunks = [(1, secure_chunk(b"MSG", b"C", 3, sequenced(10 + i, 20 + i, b"x"))) for i in range(3)]
    _, anomalies, analyzer = run((0, OPN_REQ), (1, OPN_RES), *chunks)
    assert [a.anomaly for a in anomalies] == ["opcua.too_many_partial_messages"]
    assert list(analyzer._partial) == [(1, 21), (1, 22)]


def test_outstanding_request_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyzer_module, "MAX_OUTSTANDING", 2)
    requests = [(0, secure_chunk(b"MSG", b"F", 3, sequenced(i, i, body_of(READ_REQ)))) for i in range(1, 5)]
    _, _, analyzer = run(*requests)
    assert list(analyzer._requests) == [3, 4]


def test_chunk_larger_than_negotiated_buffer() -> None:
    small_ack = b"ACKF" + struct.pack("<IIIIII", 28, 0, 64, 64, 0, 0)
    _, anomalies, _ = run((0, HEL), (1, small_ack), (0, OPN_REQ))
    assert [a.anomaly for a in anomalies] == ["opcua.chunk_exceeds_buffer"]


def test_message_larger_than_negotiated_maximum() -> None:
    hello = HEL[:20] + struct.pack("<I", 100) + HEL[24:]  # responses up to 100 bytes
    ack = ACK[:20] + struct.pack("<I", 50) + ACK[24:]  # requests up to 50 bytes
    _, anomalies, _ = run((0, hello), (1, ack), (0, OPN_REQ), (1, OPN_RES), (0, GETEP_REQ), (1, GETEP_RES))
    # OPN request body 53 > 50, OPN response 56 <= 100, GetEndpoints request 69 > 50, response 452 > 100
    assert [(a.anomaly, a.frame) for a in anomalies] == [("opcua.message_exceeds_max_size", 3),
                                                         ("opcua.message_exceeds_max_size", 5),
                                                         ("opcua.message_exceeds_max_size", 6)]
    assert anomalies[-1].detail == "message body of 452 bytes, negotiated maximum 100"


def test_malformed_body_is_an_anomaly_and_still_an_event() -> None:
    broken = secure_chunk(b"MSG", b"F", 3, sequenced(2, 2, body_of(GETEP_RES)[:60]))
    msgs, anomalies, _ = run((0, OPN_REQ), (1, OPN_RES), (1, broken))
    assert msgs[-1].service == "GetEndpointsResponse"
    assert [a.anomaly for a in anomalies] == ["opcua.malformed_body"]


def test_error_message() -> None:
    msgs, _, _ = run((0, HEL), (1, ERR))
    assert (msgs[1].msg_type, msgs[1].status_code, msgs[1].status, msgs[1].reason) == (
        "ERR", 0x80020000, "BadInternalError", None)


def test_a_flow_that_is_not_opcua_is_handed_back() -> None:
    msgs, anomalies, analyzer = run((0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert analyzer.rejected and not msgs and not anomalies

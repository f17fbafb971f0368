"""OPC UA binary over TCP (OPC 10000-6): HEL/ACK, a SecurityPolicy#None secure channel, and the services a
client uses to discover, open a session and read values (OPC 10000-4). Little-endian throughout.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

PORT = 4840
POLICY_NONE = "http://opcfoundation.org/UA/SecurityPolicy#None"
TRANSPORT_PROFILE = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"
# Binary encoding NodeIds (namespace 0) of the request/response types.
OPEN_CHANNEL_REQ, OPEN_CHANNEL_RESP, CLOSE_CHANNEL_REQ = 446, 449, 452
GET_ENDPOINTS_REQ, GET_ENDPOINTS_RESP = 428, 431
CREATE_SESSION_REQ, CREATE_SESSION_RESP = 461, 464
ACTIVATE_SESSION_REQ, ACTIVATE_SESSION_RESP = 467, 470
READ_REQ, READ_RESP = 631, 634
ANONYMOUS_TOKEN = 321
_EPOCH_1601 = 11_644_473_600 * 10_000_000  # 100 ns ticks between 1601-01-01 and 1970-01-01


@dataclass(frozen=True, slots=True)
class Application:
    uri: str
    product_uri: str
    name: str
    kind: int  # 0 server, 1 client


def string(value: str | None) -> bytes:
    if value is None:
        return struct.pack("<i", -1)
    raw = value.encode()
    return struct.pack("<i", len(raw)) + raw


def byte_string(value: bytes | None) -> bytes:
    return struct.pack("<i", -1) if value is None else struct.pack("<i", len(value)) + value


def datetime_(epoch_us: int) -> bytes:
    return struct.pack("<q", epoch_us * 10 + _EPOCH_1601)


def node_id(identifier: int | str, ns: int = 0) -> bytes:
    if isinstance(identifier, str):
        return struct.pack("<BH", 3, ns) + string(identifier)
    if ns == 0 and identifier < 256:
        return bytes([0, identifier])
    if ns < 256 and identifier < 65536:
        return struct.pack("<BBH", 1, ns, identifier)
    return struct.pack("<BHI", 2, ns, identifier)


def _array(items: Sequence[bytes] | None) -> bytes:
    return struct.pack("<i", -1) if items is None else struct.pack("<i", len(items)) + b"".join(items)


NULL_EXTENSION = b"\x00\x00\x00"  # null NodeId + "no body"


def request_header(now_us: int, handle: int, token: bytes = b"\x00\x00", timeout_ms: int = 10000) -> bytes:
    return (token + datetime_(now_us) + struct.pack("<II", handle, 0) + string(None)
            + struct.pack("<I", timeout_ms) + NULL_EXTENSION)


def response_header(now_us: int, handle: int, status: int = 0) -> bytes:
    # Diagnostic info mask 0 (none), empty string table, no additional header.
    return datetime_(now_us) + struct.pack("<IIB", handle, status, 0) + _array([]) + NULL_EXTENSION


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + b"F" + struct.pack("<I", 8 + len(body)) + body


def hello(endpoint: str) -> bytes:
    return _chunk(b"HEL", struct.pack("<IIIII", 0, 65536, 65536, 0, 0) + string(endpoint))


def acknowledge() -> bytes:
    return _chunk(b"ACK", struct.pack("<IIIII", 0, 65536, 65536, 16_777_216, 5000))


def _service(type_id: int, body: bytes) -> bytes:
    return node_id(type_id) + body


def open_channel(channel: int, seq: int, request_id: int, service: bytes) -> bytes:
    security = string(POLICY_NONE) + byte_string(None) + byte_string(None)
    return _chunk(b"OPN", struct.pack("<I", channel) + security + struct.pack("<II", seq, request_id) + service)


def message(channel: int, token: int, seq: int, request_id: int, service: bytes, kind: bytes = b"MSG") -> bytes:
    return _chunk(kind, struct.pack("<IIII", channel, token, seq, request_id) + service)


def open_channel_request(now_us: int, handle: int) -> bytes:
    body = request_header(now_us, handle) + struct.pack("<IiI", 0, 0, 1) + byte_string(b"") + struct.pack("<I",
                                                                                                        3_600_000)
    return _service(OPEN_CHANNEL_REQ, body)


def open_channel_response(now_us: int, handle: int, channel: int, token: int) -> bytes:
    body = (response_header(now_us, handle) + struct.pack("<III", 0, channel, token) + datetime_(now_us)
            + struct.pack("<I", 3_600_000) + byte_string(b""))
    return _service(OPEN_CHANNEL_RESP, body)


def close_channel_request(now_us: int, handle: int) -> bytes:
    return _service(CLOSE_CHANNEL_REQ, request_header(now_us, handle))


def application(app: Application, discovery_url: str | None = None) -> bytes:
    localized = b"\x02" + string(app.name)  # encoding mask 2: text only
    urls = [string(discovery_url)] if discovery_url else []
    return (string(app.uri) + string(app.product_uri) + localized + struct.pack("<i", app.kind) + string(None)
            + string(None) + _array(urls))


def endpoint(url: str, server: Application) -> bytes:
    token = string("anonymous") + struct.pack("<i", 0) + string(None) + string(None) + string(None)
    return (string(url) + application(server, url) + byte_string(None) + struct.pack("<i", 1) + string(POLICY_NONE)
            + _array([token]) + string(TRANSPORT_PROFILE) + b"\x00")


def get_endpoints_request(now_us: int, handle: int, url: str) -> bytes:
    return _service(GET_ENDPOINTS_REQ, request_header(now_us, handle) + string(url) + _array([]) + _array([]))


def get_endpoints_response(now_us: int, handle: int, url: str, server: Application) -> bytes:
    return _service(GET_ENDPOINTS_RESP, response_header(now_us, handle) + _array([endpoint(url, server)]))


def create_session_request(now_us: int, handle: int, client: Application, url: str, session_name: str,
                           nonce: bytes) -> bytes:
    body = (request_header(now_us, handle) + application(client) + string(None) + string(url) + string(session_name)
            + byte_string(nonce) + byte_string(None) + struct.pack("<dI", 1_200_000.0, 0))
    return _service(CREATE_SESSION_REQ, body)


def create_session_response(now_us: int, handle: int, session: int, token: int, url: str, server: Application,
                            nonce: bytes) -> bytes:
    body = (response_header(now_us, handle) + node_id(session, 1) + node_id(token, 1)
            + struct.pack("<d", 1_200_000.0) + byte_string(nonce) + byte_string(None)
            + _array([endpoint(url, server)]) + _array([]) + string(None) + byte_string(None)
            + struct.pack("<I", 0))
    return _service(CREATE_SESSION_RESP, body)


def activate_session_request(now_us: int, handle: int, token: int) -> bytes:
    identity = node_id(ANONYMOUS_TOKEN) + b"\x01" + byte_string(string("anonymous"))
    body = (request_header(now_us, handle, node_id(token, 1)) + string(None) + byte_string(None) + _array([])
            + _array([string("en")]) + identity + string(None) + byte_string(None))
    return _service(ACTIVATE_SESSION_REQ, body)


def activate_session_response(now_us: int, handle: int, nonce: bytes) -> bytes:
    body = response_header(now_us, handle) + byte_string(nonce) + _array([struct.pack("<I", 0)]) + _array([])
    return _service(ACTIVATE_SESSION_RESP, body)


def read_request(now_us: int, handle: int, token: int, nodes: Sequence[str], ns: int = 2) -> bytes:
    items = [node_id(n, ns) + struct.pack("<I", 13) + string(None) + struct.pack("<H", 0) + string(None)
             for n in nodes]
    body = request_header(now_us, handle, node_id(token, 1)) + struct.pack("<di", 0.0, 2) + _array(items)
    return _service(READ_REQ, body)


def read_response(now_us: int, handle: int, values: Sequence[float]) -> bytes:
    # DataValue mask 0x0D: value, source and server timestamps; variant type 11 = Double.
    results = [b"\x0d" + b"\x0b" + struct.pack("<d", v) + datetime_(now_us - 1000) + datetime_(now_us)
               for v in values]
    return _service(READ_RESP, response_header(now_us, handle) + _array(results) + _array([]))

"""OPC UA Binary over TCP (UA-TCP + UA Secure Conversation, Part 6 sections 6.7 and 7.1). Pure.

One TCP PDU is one chunk: an 8-byte header (message type, chunk type, size) and a body that depends on
the type. HEL/ACK/ERR/RHE are plain connection messages; OPN/MSG/CLO carry a secure channel id, a security
header (asymmetric for OPN, a token id for MSG/CLO), then a sequence header and the message body, which
are encrypted when the channel's security mode is SignAndEncrypt.

Raises NeedMoreData when a header is cut short and Malformed when the bytes cannot be OPC UA.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.opcua.codes import (
    ACKNOWLEDGE,
    CHUNK_TYPES,
    CONNECTION_TYPES,
    ERROR,
    HELLO,
    MESSAGE_TYPES,
    OPEN,
    REVERSE_HELLO,
)
from zonewarden.protocols.opcua.wire_types import Reader

HEADER_LEN = 8
SEQUENCE_HEADER_LEN = 8
# Chunk sizes are bounded by the buffer sizes both sides negotiate (at least 8192 bytes, commonly 64 KiB);
# anything past 16 MiB is not a chunk but a stream that is not OPC UA.
MAX_CHUNK = 1 << 24
# Smallest legal chunk of each type: header plus the fixed fields that always follow it.
MIN_SIZE: dict[str, int] = {
    "HEL": HEADER_LEN + 24, "ACK": HEADER_LEN + 20, "ERR": HEADER_LEN + 8, "RHE": HEADER_LEN + 8,
    "OPN": HEADER_LEN + 4 + 12 + SEQUENCE_HEADER_LEN, "MSG": HEADER_LEN + 8 + SEQUENCE_HEADER_LEN,
    "CLO": HEADER_LEN + 8 + SEQUENCE_HEADER_LEN,
}


@dataclass(slots=True)
class Chunk:
    """One chunk; fields its message type does not carry stay None."""

    msg_type: str
    chunk_type: str
    size: int
    version: int | None = None
    receive_buffer_size: int | None = None
    send_buffer_size: int | None = None
    max_message_size: int | None = None
    max_chunk_count: int | None = None
    endpoint_url: str | None = None
    server_uri: str | None = None
    error: int | None = None
    reason: str | None = None
    secure_channel_id: int | None = None
    security_policy: str | None = None
    sender_certificate: bytes | None = None
    receiver_thumbprint: bytes | None = None
    token_id: int | None = None
    payload: bytes = b""  # OPN/MSG/CLO: what follows the security header (sequence header onwards)


@dataclass(frozen=True, slots=True)
class SequenceHeader:
    sequence_number: int
    request_id: int


def chunk_length(head: bytes) -> int:
    """The size of the chunk starting at ``head``, from its header, after checking the header is sane."""
    if len(head) < HEADER_LEN:
        raise NeedMoreData("chunk header incomplete")
    msg_type = head[:3].decode("latin-1")
    chunk_type = chr(head[3])
    if msg_type not in MESSAGE_TYPES:
        raise Malformed(f"message type {head[:3]!r} unknown")
    if chunk_type not in CHUNK_TYPES or (msg_type in CONNECTION_TYPES and chunk_type != "F"):
        raise Malformed(f"chunk type {head[3:4]!r} invalid for {msg_type}")
    (size,) = struct.unpack_from("<I", head, 4)
    if not MIN_SIZE[msg_type] <= size <= MAX_CHUNK:
        raise Malformed(f"{msg_type} size {size} outside {MIN_SIZE[msg_type]}..{MAX_CHUNK}")
    return int(size)


def parse_chunk(pdu: bytes) -> Chunk:
    """One complete chunk: its header and the fields before the (possibly encrypted) sequence header."""
    size = chunk_length(pdu)
    if len(pdu) < size:
        raise NeedMoreData("chunk incomplete")
    chunk = Chunk(pdu[:3].decode("latin-1"), chr(pdu[3]), size)
    r = Reader(pdu[:size], HEADER_LEN)
    if chunk.msg_type in (HELLO, ACKNOWLEDGE):
        chunk.version = r.u32()
        chunk.receive_buffer_size = r.u32()
        chunk.send_buffer_size = r.u32()
        chunk.max_message_size = r.u32()
        chunk.max_chunk_count = r.u32()
        if chunk.msg_type == HELLO:
            chunk.endpoint_url = r.string("EndpointUrl")
    elif chunk.msg_type == ERROR:
        chunk.error = r.u32()
        chunk.reason = r.string("Reason")
    elif chunk.msg_type == REVERSE_HELLO:
        chunk.server_uri = r.string("ServerUri")
        chunk.endpoint_url = r.string("EndpointUrl")
    else:
        chunk.secure_channel_id = r.u32()
        if chunk.msg_type == OPEN:
            chunk.security_policy = r.string("SecurityPolicyUri")
            chunk.sender_certificate = r.bytestring("SenderCertificate")
            chunk.receiver_thumbprint = r.bytestring("ReceiverCertificateThumbprint")
        else:
            chunk.token_id = r.u32()
        chunk.payload = r.take(r.left)
    return chunk


def parse_sequence_header(payload: bytes) -> tuple[SequenceHeader, bytes]:
    """The sequence header of a plaintext OPN/MSG/CLO chunk, and the body that follows it."""
    if len(payload) < SEQUENCE_HEADER_LEN:
        raise Malformed(f"sequence header: {len(payload)} bytes")
    seq, rid = struct.unpack_from("<II", payload)
    return SequenceHeader(seq, rid), payload[SEQUENCE_HEADER_LEN:]


def parse_abort(body: bytes) -> tuple[int, str | None]:
    """The error code and reason an abort ('A') chunk carries in place of its message body."""
    r = Reader(body)
    return r.u32(), r.string("Reason")


def thumbprint(certificate: bytes) -> str:
    """The SHA-1 thumbprint OPC UA uses to name a DER certificate, as lowercase hex."""
    return hashlib.sha1(certificate, usedforsecurity=False).hexdigest()


def looks_like_opcua(payload: bytes) -> bool:
    """Content probe: a known message and chunk type and a size that fits the type (any port)."""
    try:
        size = chunk_length(payload)
    except (NeedMoreData, Malformed):
        return False
    msg_type = payload[:3]
    if msg_type == b"HEL" and len(payload) >= 12:
        # A client opens with HEL; its protocol version is 0 in every published revision.
        return bool(struct.unpack_from("<I", payload, 8)[0] < 0x100)
    return size <= len(payload) or msg_type in (b"OPN", b"MSG")

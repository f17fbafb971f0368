"""OPC UA Binary analyzer: frames chunks, follows secure channels, reassembles messages, emits one event per chunk.

Per flow it remembers each secure channel's security policy and mode (from OpenSecureChannel), so that MSG
and CLO chunks of a signed-and-encrypted channel are marked and left alone, and plaintext ones are decoded.
Chunks of one message (C ... F) are reassembled by request id with bounded chunk counts and bytes; an
abort chunk (A) discards the message. Responses are matched to requests by request id.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from zonewarden.errors import Malformed
from zonewarden.protocols.base import EventSink, FlowContext, PduStreamAnalyzer
from zonewarden.protocols.opcua.codes import (
    ACKNOWLEDGE,
    ERROR,
    HELLO,
    OPEN,
    SECURITY_POLICY_NONE,
    SERVICES,
    application_type_name,
    identity_token_name,
    security_mode_name,
    service_name,
    token_request_type_name,
    user_token_type_name,
)
from zonewarden.protocols.opcua.events import OpcuaEvent
from zonewarden.protocols.opcua.status_codes import status_name
from zonewarden.protocols.opcua.wire import (
    Chunk,
    chunk_length,
    parse_abort,
    parse_chunk,
    parse_sequence_header,
    thumbprint,
)
from zonewarden.protocols.opcua.wire_services import ServiceBody, parse_body
from zonewarden.protocols.opcua.wire_types import Reader

# Bounds on what a peer can make us hold per flow.
MAX_OUTSTANDING = 256  # requests awaiting a response (Publish requests legitimately queue up)
MAX_CHANNELS = 16  # secure channels remembered
MAX_PARTIAL = 8  # messages being reassembled at once
MAX_CHUNKS = 4096  # chunks per message
MAX_MESSAGE_BYTES = 1 << 20  # bytes of one message kept for decoding; the rest is counted, not stored

SIGN, SIGN_AND_ENCRYPT = 2, 3


@dataclass(slots=True)
class _Channel:
    policy: str | None
    mode: int | None  # MessageSecurityMode when a plaintext OPN request said so


@dataclass(slots=True)
class _Partial:
    parts: list[bytes] = field(default_factory=list)
    size: int = 0  # bytes kept
    total: int = 0  # bytes seen
    chunks: int = 0
    truncated: bool = False


class OpcuaAnalyzer(PduStreamAnalyzer):
    proto = "opcua"
    # Chunks are bounded by the negotiated buffer sizes (commonly 64 KiB); 1 MiB is the stream buffer cap.
    max_pdu = 1 << 20

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self._channels: OrderedDict[int, _Channel] = OrderedDict()
        self._opening: _Channel | None = None  # the OPN request awaiting its response
        self._partial: OrderedDict[tuple[int, int], _Partial] = OrderedDict()
        self._requests: OrderedDict[int, int] = OrderedDict()  # request id -> frame
        self._buffer_limit: list[int | None] = [None, None]  # from ACK: largest chunk each side may send
        # Largest message each side may send: the ACK's MaxMessageSize bounds requests, the HEL's responses.
        self._message_limit: list[int | None] = [None, None]
        self._hello_limit: int | None = None
        self._last_total = 0  # body bytes of the message _reassemble completed last

    def pdu_length(self, head: bytes) -> int:
        return chunk_length(head)

    def on_pdu(self, direction: int, pdu: bytes, ts_ns: int, frame: int) -> None:
        is_response = direction == 1
        try:
            chunk = parse_chunk(pdu)
        except Malformed as exc:
            self.anomaly(direction, ts_ns, frame, "malformed_chunk", str(exc), is_response)
            return
        limit = self._buffer_limit[direction]
        if limit and chunk.size > limit:
            self.anomaly(direction, ts_ns, frame, "chunk_exceeds_buffer",
                         f"{chunk.msg_type} chunk of {chunk.size} bytes, negotiated buffer {limit}", is_response)
        fields: dict[str, Any] = {}
        if chunk.msg_type in (HELLO, ACKNOWLEDGE):
            fields.update(protocol_version=chunk.version, receive_buffer_size=chunk.receive_buffer_size,
                          send_buffer_size=chunk.send_buffer_size, max_message_size=chunk.max_message_size,
                          max_chunk_count=chunk.max_chunk_count, endpoint_url=chunk.endpoint_url)
            if chunk.msg_type == HELLO:
                self._hello_limit = chunk.max_message_size or None
            else:
                self._buffer_limit = [chunk.receive_buffer_size or None, chunk.send_buffer_size or None]
                self._message_limit = [chunk.max_message_size or None, self._hello_limit]
        elif chunk.msg_type == ERROR:
            fields.update(status_code=chunk.error, status=status_name(chunk.error or 0), reason=chunk.reason)
        elif chunk.secure_channel_id is None:  # RHE
            fields.update(server_uri=chunk.server_uri, endpoint_url=chunk.endpoint_url)
        else:
            fields = self._secure(direction, chunk, ts_ns, frame)
        self.emit(OpcuaEvent(**self.ctx.header(direction, ts_ns, frame), is_response=is_response,
                             msg_type=chunk.msg_type, chunk_type=chunk.chunk_type, message_size=chunk.size,
                             **fields))

    # ---- secure conversation (OPN, MSG, CLO)
    def _secure(self, direction: int, chunk: Chunk, ts_ns: int, frame: int) -> dict[str, Any]:
        scid = chunk.secure_channel_id
        assert scid is not None
        fields: dict[str, Any] = {"secure_channel_id": scid, "token_id": chunk.token_id}
        if chunk.msg_type == OPEN:
            channel = _Channel(chunk.security_policy, None)
            fields.update(_certificates(chunk))
        else:
            channel = self._channels.get(scid) or self._opening or _Channel(None, None)
        policy = channel.policy
        fields["security_policy"] = policy
        if policy is not None and policy != SECURITY_POLICY_NONE:
            fields["signed"] = True
            # OPN of a secured channel is always encrypted; MSG/CLO only in SignAndEncrypt mode
            if chunk.msg_type == OPEN or channel.mode == SIGN_AND_ENCRYPT:
                fields["encrypted"] = True
                self._remember(direction, chunk, channel, None)
                return fields
            if channel.mode == SIGN:
                fields["encrypted"] = False
        elif policy == SECURITY_POLICY_NONE:
            fields.update(signed=False, encrypted=False, security_mode="None")
        try:
            seq, body = parse_sequence_header(chunk.payload)
        except Malformed as exc:
            self.anomaly(direction, ts_ns, frame, "malformed_chunk", str(exc), direction == 1)
            return fields
        if policy != SECURITY_POLICY_NONE and channel.mode != SIGN:
            # An unknown channel, or a signed one in an unknown mode: the body is plaintext if this chunk
            # continues a message already recognised, or starts with a known service encoding (ciphertext
            # does so about once in 10^7 chunks).
            if (direction, seq.request_id) not in self._partial and not _starts_with_service(body):
                if policy is not None:
                    fields["encrypted"] = True
                self._remember(direction, chunk, channel, None)
                return fields
            fields["encrypted"] = False
            if policy is not None:
                channel.mode = SIGN  # a signed channel whose bodies read in clear is in Sign mode
        fields.update(sequence_number=seq.sequence_number, request_id=seq.request_id)
        message = self._reassemble(direction, chunk, seq.request_id, body, ts_ns, frame, fields)
        service = None
        limit = self._message_limit[direction]
        if message is not None and limit and self._last_total > limit:
            self.anomaly(direction, ts_ns, frame, "message_exceeds_max_size",
                         f"message body of {self._last_total} bytes, negotiated maximum {limit}", direction == 1)
        if message is not None:
            try:
                service = parse_body(message)
            except Malformed as exc:
                self.anomaly(direction, ts_ns, frame, "malformed_body", str(exc), direction == 1)
            else:
                if service.problem:
                    self.anomaly(direction, ts_ns, frame, "malformed_body",
                                 f"{service_name(service.type_id.numeric) or service.type_id}: {service.problem}",
                                 direction == 1)
                fields.update(body_fields(service))
        self._remember(direction, chunk, channel, service)
        if channel.mode is not None and fields.get("security_mode") is None:
            fields["security_mode"] = security_mode_name(channel.mode)
        if chunk.chunk_type == "F":
            self._match(direction, seq.request_id, frame, fields)
        return fields

    def _remember(self, direction: int, chunk: Chunk, channel: _Channel, service: ServiceBody | None) -> None:
        """Track secure channels: an OPN request opens one, its response names it (the channel id)."""
        if chunk.msg_type != OPEN:
            return
        if service is not None and service.security_mode is not None:
            channel.mode = service.security_mode
        if direction == 0:
            self._opening = channel
            if chunk.secure_channel_id:  # renewing a known channel
                self._store_channel(chunk.secure_channel_id, channel)
            return
        opening = self._opening
        if opening is not None and opening.policy == channel.policy and channel.mode is None:
            channel.mode = opening.mode
        self._store_channel(chunk.secure_channel_id or 0, channel)
        self._opening = None

    def _store_channel(self, scid: int, channel: _Channel) -> None:
        self._channels[scid] = channel
        self._channels.move_to_end(scid)
        while len(self._channels) > MAX_CHANNELS:
            self._channels.popitem(last=False)

    def _reassemble(self, direction: int, chunk: Chunk, request_id: int, body: bytes, ts_ns: int, frame: int,
                    fields: dict[str, Any]) -> bytes | None:
        """The whole message body once its final chunk arrives; None for intermediate and abort chunks."""
        key = (direction, request_id)
        is_response = direction == 1
        if chunk.chunk_type == "A":
            self._partial.pop(key, None)
            try:
                code, reason = parse_abort(body)
            except Malformed as exc:
                self.anomaly(direction, ts_ns, frame, "malformed_chunk", f"abort: {exc}", is_response)
            else:
                fields.update(status_code=code, status=status_name(code), reason=reason)
            return None
        partial = self._partial.get(key)
        if chunk.chunk_type == "F":
            if partial is None:
                self._last_total = len(body)
                return body
            del self._partial[key]
            self._last_total = partial.total + len(body)
            return b"".join([*partial.parts, body[: max(0, MAX_MESSAGE_BYTES - partial.size)]])
        if partial is None:
            partial = self._partial[key] = _Partial()
            if len(self._partial) > MAX_PARTIAL:
                self._partial.popitem(last=False)
                self.anomaly(direction, ts_ns, frame, "too_many_partial_messages",
                             f"more than {MAX_PARTIAL} messages in reassembly", is_response)
        partial.chunks += 1
        if partial.chunks > MAX_CHUNKS:
            del self._partial[key]
            self.anomaly(direction, ts_ns, frame, "too_many_chunks",
                         f"request {request_id}: more than {MAX_CHUNKS} chunks", is_response)
            return None
        keep = body[: max(0, MAX_MESSAGE_BYTES - partial.size)]
        if len(keep) < len(body) and not partial.truncated:
            partial.truncated = True
            self.anomaly(direction, ts_ns, frame, "message_too_large",
                         f"request {request_id}: over {MAX_MESSAGE_BYTES} bytes, the rest is not decoded",
                         is_response)
        partial.parts.append(keep)
        partial.size += len(keep)
        partial.total += len(body)
        return None

    def _match(self, direction: int, request_id: int, frame: int, fields: dict[str, Any]) -> None:
        if direction == 0:
            self._requests[request_id] = frame
            self._requests.move_to_end(request_id)
            while len(self._requests) > MAX_OUTSTANDING:
                self._requests.popitem(last=False)
        else:
            fields["request_frame"] = self._requests.pop(request_id, None)


def _starts_with_service(body: bytes) -> bool:
    try:
        return Reader(body).expanded_nodeid().numeric in SERVICES
    except Malformed:
        return False


def _certificates(chunk: Chunk) -> dict[str, Any]:
    cert, thumb = chunk.sender_certificate, chunk.receiver_thumbprint
    return {
        "sender_certificate_length": len(cert) if cert else None,
        "sender_certificate_thumbprint": thumbprint(cert) if cert else None,
        "receiver_thumbprint": thumb.hex() if thumb else None,
    }


def body_fields(service: ServiceBody) -> dict[str, Any]:
    """Event fields from a decoded message body."""
    numeric = service.type_id.numeric
    out: dict[str, Any] = {
        "service_type_id": numeric,
        "service": service_name(numeric),
        "service_node_id": None if numeric is not None else str(service.type_id),
        "endpoint_url": service.endpoint_url or None,
        "session_name": service.session_name or None,
        "lifetime": service.lifetime,
        "username": service.username or None,
    }
    if service.status_code is not None:
        out.update(status_code=service.status_code, status=status_name(service.status_code))
    if service.security_mode is not None:
        out["security_mode"] = security_mode_name(service.security_mode)
    if service.request_type is not None:
        out["request_type"] = token_request_type_name(service.request_type)
    if service.token_id is not None:
        out["token_id"] = service.token_id
    if service.identity_token is not None:
        out["identity_token"] = identity_token_name(service.identity_token)
    # An empty certificate ByteString means no certificate, as a null one does.
    if service.client_certificate:
        out["client_certificate_length"] = len(service.client_certificate)
    if service.server_certificate:
        out.update(server_certificate_length=len(service.server_certificate),
                   server_certificate_thumbprint=thumbprint(service.server_certificate))
    app = service.application
    if app is not None:
        out.update(application_uri=app.uri or None, product_uri=app.product_uri or None,
                   application_name=app.name or None,
                   application_type=application_type_name(app.kind))
    if service.endpoints:
        out["endpoint_security_modes"] = [security_mode_name(e.security_mode) for e in service.endpoints]
        out["endpoint_security_policies"] = [e.security_policy or "" for e in service.endpoints]
        kinds = dict.fromkeys(k for e in service.endpoints for k in e.user_token_types)
        out["user_token_types"] = [user_token_type_name(k) for k in kinds]
        if out["endpoint_url"] is None:
            out["endpoint_url"] = service.endpoints[0].url or None
    return out

"""The S7comm-plus layer of the ISO-on-TCP analyzer: message reassembly over PDUs, request/response
matching by sequence number, events."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.s7comm.codes import (
    OPCODE_REQUEST,
    OPCODE_RESPONSE,
    OPCODE_RESPONSE2,
    S7PLUS_FUNCTIONS,
    S7PLUS_OPCODES,
    S7PLUS_SYSTEM_EVENT,
    name,
)
from zonewarden.protocols.s7comm.events import S7commPlusEvent
from zonewarden.protocols.s7comm.wire_plus import (
    PlusFragment,
    PlusHead,
    parse_plus_fragment,
    parse_plus_head,
    plus_identity,
)

MAX_OUTSTANDING = 256
# Bytes of one fragmented message kept for decoding (heads and identity sit at the start); the rest of a
# large message (a program block upload) is counted, not stored.
MAX_MESSAGE_KEPT = 65536
# A message split over more PDUs than this is reported and dropped.
MAX_FRAGMENTS = 4096

if TYPE_CHECKING:
    from zonewarden.protocols.s7comm.analyzer import IsoTcpAnalyzer


@dataclass(slots=True)
class _Chain:
    first: PlusFragment
    data: bytearray = field(default_factory=bytearray)
    count: int = 0
    digest: bool = False


class PlusLayer:
    def __init__(self, owner: IsoTcpAnalyzer) -> None:
        self.owner = owner
        self._chains: list[_Chain | None] = [None, None]
        self._pending: OrderedDict[int, int] = OrderedDict()  # sequence number -> request frame

    def gap(self, direction: int) -> None:
        self._chains[direction] = None

    def pdu(self, direction: int, tsdu: bytes, ts_ns: int, frame: int) -> None:
        owner = self.owner
        try:
            frag = parse_plus_fragment(tsdu)
        except (Malformed, NeedMoreData) as exc:
            owner.anomaly(direction, ts_ns, frame, "plus_malformed_pdu", str(exc))
            return
        if frag.problem is not None:
            owner.anomaly(direction, ts_ns, frame, "plus_length_mismatch", frag.problem)
        chain = self._chains[direction]
        if not frag.ends_message:
            if chain is None:
                chain = self._chains[direction] = _Chain(frag)
            chain.count += 1
            chain.digest |= frag.v3_digest
            chain.data += frag.data[: MAX_MESSAGE_KEPT - len(chain.data)]
            if chain.count > MAX_FRAGMENTS:
                owner.anomaly(direction, ts_ns, frame, "plus_too_many_fragments",
                              f"message spread over more than {MAX_FRAGMENTS} PDUs")
                self._chains[direction] = None
            return
        if chain is not None:
            self._chains[direction] = None
            chain.data += frag.data[: MAX_MESSAGE_KEPT - len(chain.data)]
            first, data, count, digest = chain.first, bytes(chain.data), chain.count + 1, chain.digest
        else:
            first, data, count, digest = frag, frag.data, 1, False
        self._message(direction, first, data, count, digest or frag.v3_digest, ts_ns, frame)

    def _message(self, direction: int, first: PlusFragment, data: bytes, count: int, v3_digest: bool, ts_ns: int,
                 frame: int) -> None:
        # system events (0xFE) carry no request/response head
        head = parse_plus_head(data) if first.version != S7PLUS_SYSTEM_EVENT else PlusHead(None)
        is_response = head.opcode in (OPCODE_RESPONSE, OPCODE_RESPONSE2) or (
            head.opcode != OPCODE_REQUEST and direction == 1)
        request_frame = None
        if head.opcode == OPCODE_REQUEST and head.sequence_number is not None:
            self._pending[head.sequence_number] = frame
            self._pending.move_to_end(head.sequence_number)
            if len(self._pending) > MAX_OUTSTANDING:
                self._pending.popitem(last=False)
        elif is_response and head.sequence_number is not None:
            request_frame = self._pending.pop(head.sequence_number, None)
        identity = plus_identity(data) if is_response else {}
        self.owner.emit(S7commPlusEvent(
            **self.owner.ctx.header(direction, ts_ns, frame), is_response=is_response,
            version=first.version, opcode=head.opcode, opcode_name=name(S7PLUS_OPCODES, head.opcode),
            function=head.function, function_name=name(S7PLUS_FUNCTIONS, head.function),
            sequence_number=head.sequence_number, session=head.session, transport_flags=head.transport_flags,
            subscription=head.subscription, data_length=first.data_length, fragments=count,
            protected=v3_digest or (first.version == 2 and head.v2_digest),
            order_number=identity.get("order_number"), serial_number=identity.get("serial_number"),
            firmware_version=identity.get("firmware_version"), request_frame=request_frame,
        ))

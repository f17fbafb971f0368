"""Modbus/TCP analyzer: frames ADUs, matches responses to requests by transaction id, emits events."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from zonewarden.errors import Malformed
from zonewarden.protocols.base import EventSink, FlowContext, PduStreamAnalyzer
from zonewarden.protocols.modbus.codes import DEVICE_ID_OBJECTS, function_name
from zonewarden.protocols.modbus.events import ModbusEvent
from zonewarden.protocols.modbus.wire import (
    MBAP_LEN,
    SPEC_MAX_MBAP_LENGTH,
    Pdu,
    adu_length,
    parse_request,
    parse_response,
)

_MBAP = struct.Struct("!HHHB")
# Outstanding requests per flow: pipelining is legal, an unanswered flood is bounded.
MAX_OUTSTANDING = 256


@dataclass(slots=True)
class _Request:
    function_code: int
    address: int | None
    quantity: int | None
    frame: int


class ModbusAnalyzer(PduStreamAnalyzer):
    proto = "modbus"
    max_pdu = 6 + 260

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self._pending: dict[tuple[int, int], _Request] = {}  # insertion-ordered: oldest first

    def pdu_length(self, head: bytes) -> int:
        return adu_length(head)

    def on_pdu(self, direction: int, pdu: bytes, ts_ns: int, frame: int) -> None:
        tid, _pid, length, unit = _MBAP.unpack_from(pdu)  # framing already validated the header
        body = pdu[MBAP_LEN:]
        is_response = direction == 1
        try:
            p = parse_response(body) if is_response else parse_request(body)
        except Malformed as exc:
            self.anomaly(direction, ts_ns, frame, "malformed_pdu", str(exc), is_response)
            return
        if p.problem is not None:
            self.anomaly(direction, ts_ns, frame, "length_mismatch", p.problem, is_response)
        if length > SPEC_MAX_MBAP_LENGTH:
            self.anomaly(direction, ts_ns, frame, "oversized_pdu",
                         f"MBAP length {length} exceeds {SPEC_MAX_MBAP_LENGTH}", is_response)
        key = (tid, unit)
        address, quantity, request_frame = p.address, p.quantity, None
        if is_response:
            req = self._pending.pop(key, None)
            if req is None:
                self.anomaly(direction, ts_ns, frame, "unmatched_response",
                             f"no request with transaction id {tid}", True)
            else:
                request_frame = req.frame
                if req.function_code != p.function_code & 0x7F:
                    self.anomaly(direction, ts_ns, frame, "function_mismatch",
                                 f"request function {req.function_code}, response {p.function_code}", True)
                address = req.address if address is None else address
                quantity = req.quantity if quantity is None else quantity
        else:
            if key in self._pending:
                self.anomaly(direction, ts_ns, frame, "duplicate_transaction",
                             f"transaction id {tid} reused before its response", False)
            self._pending[key] = _Request(p.function_code, p.address, p.quantity, frame)
            if len(self._pending) > MAX_OUTSTANDING:
                del self._pending[next(iter(self._pending))]
                self.anomaly(direction, ts_ns, frame, "too_many_outstanding",
                             f"more than {MAX_OUTSTANDING} requests without response", False)
        self.emit(self._event(direction, ts_ns, frame, tid, unit, p, is_response,
                              address, quantity, request_frame))

    def _event(self, direction: int, ts_ns: int, frame: int, tid: int, unit: int, p: Pdu, is_response: bool,
               address: int | None, quantity: int | None, request_frame: int | None) -> ModbusEvent:
        ctx = self.ctx
        src, dst, sport, dport = ctx.ends(direction)
        event = ModbusEvent(  # at most 15 keywords: see FlowContext.ends
            ts=ts_ns / 1e9, src=src, dst=dst, sport=sport, dport=dport, is_response=is_response,
            flow_id=ctx.flow_id, frame=frame,
            transaction_id=tid,
            unit_id=unit,
            function_code=p.function_code & 0x7F,
            function=function_name(p.function_code),
            exception_code=p.exception_code,
            address=address,
            quantity=quantity,
        )
        event.values = p.values
        event.request_frame = request_frame
        # Fields of a few functions only: set when present (null otherwise, as declared).
        if p.sub_function is not None:
            event.sub_function = p.sub_function
        if p.mei_type is not None:
            event.mei_type = p.mei_type
        if p.device_objects:
            event.device_id = {DEVICE_ID_OBJECTS.get(k, f"object-{k}"): v for k, v in sorted(p.device_objects.items())}
        return event

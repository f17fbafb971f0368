"""BACnet/IP analyzer: one event per datagram, segment reassembly, request/response matching by invoke id."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from zonewarden.errors import DecodeError
from zonewarden.protocols.bacnet.codes import (
    ABORT,
    ABORT_REASONS,
    BVLC_RESULTS,
    COMPLEX_ACK,
    CONFIRMED_REQUEST,
    DCC_STATES,
    ERROR,
    ERROR_CLASSES,
    ERROR_CODES,
    NETWORK_ANSWERS,
    NETWORK_REJECT_REASONS,
    REINITIALIZE_STATES,
    REJECT,
    REJECT_REASONS,
    SEGMENT_ACK,
    SEGMENTATION,
    SIMPLE_ACK,
    UNCONFIRMED_ANSWERS,
    UNCONFIRMED_REQUEST,
    apdu_type_name,
    bvlc_function_name,
    network_message_name,
    object_type_name,
    property_name,
    service_name,
    vendor_name,
)
from zonewarden.protocols.bacnet.events import BacnetEvent, PropertyValue
from zonewarden.protocols.bacnet.wire import Apdu, Message, parse_message
from zonewarden.protocols.bacnet.wire_services import Service, device_identity, parse_service
from zonewarden.protocols.base import MAX_CONSECUTIVE_MALFORMED, DatagramAnalyzer, EventSink, FlowContext

STANDARD_PORT = 47808
# Outstanding confirmed requests per flow, open segment reassemblies per flow and octets per reassembly.
MAX_OUTSTANDING = 256
MAX_REASSEMBLIES = 16
MAX_REASSEMBLY_OCTETS = 1 << 18
# Segment numbers run modulo 256; a segment up to this far behind the expected one is a retransmission.
MAX_WINDOW = 127
_RESPONSES = frozenset({SIMPLE_ACK, COMPLEX_ACK, ERROR, REJECT})
_DCC, _REINITIALIZE = 17, 20


@dataclass(slots=True)
class _Request:
    service_choice: int | None
    frame: int
    object_type: int | None = None
    object_instance: int | None = None
    property_id: int | None = None
    array_index: int | None = None


@dataclass(slots=True)
class _Reassembly:
    service_choice: int | None
    data: bytearray
    next_seq: int = 1
    segments: int = 1


class BacnetAnalyzer(DatagramAnalyzer):
    proto = "bacnet"

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self._pending: OrderedDict[tuple[int, int], _Request] = OrderedDict()
        self._reassembly: OrderedDict[tuple[int, int, int], _Reassembly] = OrderedDict()
        self._valid_seen = False
        self._bad_run = 0
        # On 47808 garbage is itself worth reporting; on the other ports we only claim BACnet by content.
        self._standard_port = STANDARD_PORT in (ctx.orig_port, ctx.resp_port)

    def datagram(self, direction: int, payload: bytes, ts_ns: int, frame: int) -> None:
        if self.rejected:
            return
        if not payload:
            self.anomaly(direction, ts_ns, frame, "empty_datagram", "UDP datagram without payload")
            return
        try:
            message = parse_message(payload)
        except DecodeError as exc:
            self._bad(direction, ts_ns, frame, "malformed", str(exc))
            return
        self._valid_seen, self._bad_run = True, 0
        self.messages += 1
        self._message(direction, message, ts_ns, frame)

    def _bad(self, direction: int, ts_ns: int, frame: int, reason: str, detail: str) -> None:
        self._bad_run += 1
        if not self._valid_seen and (not self._standard_port or self._bad_run >= MAX_CONSECUTIVE_MALFORMED):
            self.rejected = True  # never looked like BACnet/IP: hand the flow back
            return
        self.anomaly(direction, ts_ns, frame, reason, detail, False)

    def _message(self, direction: int, message: Message, ts_ns: int, frame: int) -> None:
        bvlc, npdu, apdu = message.bvlc, message.npdu, message.apdu
        f: dict[str, Any] = {
            "bvlc_type": bvlc.type, "bvlc_function": bvlc.function,
            "bvlc_function_name": bvlc_function_name(bvlc.function), "bvlc_result": bvlc.result,
            "forwarded_ip": bvlc.forwarded_ip, "forwarded_port": bvlc.forwarded_port, "bvlc_ttl": bvlc.ttl,
            "bvlc_entries": list(bvlc.entries) if bvlc.entries is not None else None,
        }
        is_response = bvlc.function in (0x00, 0x03, 0x07)  # Result, Read-BDT-Ack, Read-FDT-Ack
        if bvlc.result is not None:
            f["reason"] = BVLC_RESULTS.get(bvlc.result, f"unknown-{bvlc.result}")
        problems = [("bvlc_inconsistent", bvlc.problem)]
        if npdu is not None:
            f.update(npdu_control=npdu.control, dnet=npdu.dnet, dadr=npdu.dadr, snet=npdu.snet, sadr=npdu.sadr,
                     hop_count=npdu.hop_count)
            problems.append(("npdu_inconsistent", npdu.problem))
            if npdu.message_type is not None:
                f.update(network_message_type=npdu.message_type,
                         network_message=network_message_name(npdu.message_type),
                         networks=list(npdu.networks) if npdu.networks is not None else None)
                is_response = npdu.message_type in NETWORK_ANSWERS
                if npdu.reject_reason is not None:
                    f["reason"] = NETWORK_REJECT_REASONS.get(npdu.reject_reason, f"unknown-{npdu.reject_reason}")
        if apdu is not None:
            problems.append(("apdu_inconsistent", apdu.problem))
            is_response = self._apdu(direction, apdu, ts_ns, frame, f)
        for reason, problem in problems:
            if problem is not None:
                self.anomaly(direction, ts_ns, frame, reason, problem, is_response)
        self.emit(BacnetEvent(**self.ctx.header(direction, ts_ns, frame), is_response=is_response, **f))

    # ---- APDU: segments, services, matching
    def _apdu(self, direction: int, apdu: Apdu, ts_ns: int, frame: int, f: dict[str, Any]) -> bool:
        kind, choice = apdu.apdu_type, apdu.service_choice
        f.update(apdu_type=kind, apdu_type_name=apdu_type_name(kind), invoke_id=apdu.invoke_id,
                 segmented=apdu.segmented, more_follows=apdu.more_follows, sequence_number=apdu.sequence_number,
                 window_size=apdu.window_size, negative_ack=apdu.negative_ack, max_apdu=apdu.max_apdu,
                 max_segments=apdu.max_segments)
        if choice is not None:
            f.update(service_choice=choice, service=service_name(kind, choice))
        svc: Service | None = None
        if apdu.segmented:
            svc = self._segment(direction, apdu, ts_ns, frame, f)
        elif kind in (CONFIRMED_REQUEST, UNCONFIRMED_REQUEST, COMPLEX_ACK, ERROR) and choice is not None:
            svc = parse_service(kind, choice, apdu.body)
        is_response = self._outcome(apdu, f)
        if kind == UNCONFIRMED_REQUEST:
            is_response = choice in UNCONFIRMED_ANSWERS
        if svc is not None:
            self._service(direction, kind, choice, svc, ts_ns, frame, f, is_response)
        self._match(direction, apdu, svc, ts_ns, frame, f)
        return is_response

    def _outcome(self, apdu: Apdu, f: dict[str, Any]) -> bool:
        """Reject/abort reasons, and whether the APDU is a response."""
        kind = apdu.apdu_type
        if kind == REJECT and apdu.reason is not None:
            f.update(reject_reason=apdu.reason, reason=REJECT_REASONS.get(apdu.reason, f"unknown-{apdu.reason}"))
        elif kind == ABORT and apdu.reason is not None:
            f.update(abort_reason=apdu.reason, reason=ABORT_REASONS.get(apdu.reason, f"unknown-{apdu.reason}"))
        if kind in (ABORT, SEGMENT_ACK):
            return bool(apdu.server)
        return kind in _RESPONSES

    def _segment(self, direction: int, apdu: Apdu, ts_ns: int, frame: int, f: dict[str, Any]) -> Service | None:
        """Add one segment; the parameters of the whole message once its last segment arrives."""
        assert apdu.invoke_id is not None and apdu.sequence_number is not None
        key = (direction, apdu.apdu_type, apdu.invoke_id)
        seq = apdu.sequence_number
        r = self._reassembly.get(key)
        if seq == 0:
            r = self._reassembly[key] = _Reassembly(apdu.service_choice, bytearray(apdu.body))
            self._reassembly.move_to_end(key)
            if len(self._reassembly) > MAX_REASSEMBLIES:
                self._reassembly.popitem(last=False)
                self.anomaly(direction, ts_ns, frame, "too_many_reassemblies",
                             f"more than {MAX_REASSEMBLIES} segmented messages open at once")
        elif r is None:
            self.anomaly(direction, ts_ns, frame, "segment_missing",
                         f"segment {seq} of invoke id {apdu.invoke_id} without the segments before it")
            return None
        elif seq == r.next_seq % 256:
            if len(r.data) + len(apdu.body) > MAX_REASSEMBLY_OCTETS:
                del self._reassembly[key]
                self.anomaly(direction, ts_ns, frame, "reassembly_overflow",
                             f"segmented message of invoke id {apdu.invoke_id} exceeds {MAX_REASSEMBLY_OCTETS} octets")
                return None
            r.data += apdu.body
            r.next_seq += 1
            r.segments += 1
        elif 0 < (r.next_seq - seq) % 256 <= MAX_WINDOW:
            return None  # a retransmitted segment we already hold
        else:
            del self._reassembly[key]
            self.anomaly(direction, ts_ns, frame, "segment_missing",
                         f"segment {seq} of invoke id {apdu.invoke_id}, expected {r.next_seq % 256}")
            return None
        if apdu.more_follows:
            return None
        del self._reassembly[key]
        f["segments"] = r.segments
        if r.service_choice is None or r.service_choice != apdu.service_choice:
            self.anomaly(direction, ts_ns, frame, "segment_service_mismatch",
                         f"segments of invoke id {apdu.invoke_id} carry services {r.service_choice} and "
                         f"{apdu.service_choice}")
            return None
        return parse_service(apdu.apdu_type, r.service_choice, bytes(r.data))

    def _service(self, direction: int, kind: int, choice: int | None, svc: Service, ts_ns: int, frame: int,
                 f: dict[str, Any], is_response: bool) -> None:
        if svc.problem is not None:
            self.anomaly(direction, ts_ns, frame, "malformed_service", svc.problem, is_response)
        if svc.truncated:
            self.anomaly(direction, ts_ns, frame, "value_limit", "more values or properties than an event shows",
                         is_response)
        f.update(
            object_type=svc.object_type, object_instance=svc.object_instance,
            object_type_name=object_type_name(svc.object_type) if svc.object_type is not None else None,
            property_id=svc.property_id,
            property_name=property_name(svc.property_id) if svc.property_id is not None else None,
            array_index=svc.array_index, priority=svc.priority, values=svc.values,
            values_truncated=True if svc.truncated else None, low_limit=svc.low_limit, high_limit=svc.high_limit,
            object_name=svc.object_name, error_class=svc.error_class, error_code=svc.error_code,
            process_id=svc.process_id, lifetime=svc.lifetime, duration=svc.duration,
            password_present=svc.password_present, private_vendor_id=svc.private_vendor_id,
            private_service=svc.private_service, file_position=svc.file_position, file_octets=svc.file_octets,
            end_of_file=svc.end_of_file, device_instance=svc.device_instance, vendor_id=svc.vendor_id,
            max_apdu=svc.max_apdu if svc.max_apdu is not None else f.get("max_apdu"),
            segmentation=SEGMENTATION.get(svc.segmentation, f"unknown-{svc.segmentation}")
            if svc.segmentation is not None else None,
            model_name=svc.model_name, serial_number=svc.serial_number,
        )
        if svc.properties:
            f["properties"] = [PropertyValue(
                object_type=p.object_type, object_instance=p.object_instance, property_id=p.property_id,
                property_name=property_name(p.property_id) if p.property_id is not None else None,
                array_index=p.array_index, values=p.values, priority=p.priority, error_class=p.error_class,
                error_code=p.error_code) for p in svc.properties]
        if svc.state is not None and choice in (_DCC, _REINITIALIZE):
            table = DCC_STATES if choice == _DCC else REINITIALIZE_STATES
            f["state"] = table.get(svc.state, f"unknown-{svc.state}")
        if kind == ERROR and svc.error_class is not None and svc.error_code is not None:
            f["reason"] = (f"{ERROR_CLASSES.get(svc.error_class, f'unknown-{svc.error_class}')}/"
                           f"{ERROR_CODES.get(svc.error_code, f'unknown-{svc.error_code}')}")
        if choice is not None:
            f.update(device_identity(kind, choice, svc))
        if f.get("vendor_id") is not None:
            f["vendor"] = vendor_name(f["vendor_id"])

    def _match(self, direction: int, apdu: Apdu, svc: Service | None, ts_ns: int, frame: int,
               f: dict[str, Any]) -> None:
        """Pair confirmed requests with their responses (same invoke id, opposite direction)."""
        kind, invoke = apdu.apdu_type, apdu.invoke_id
        if invoke is None or kind == SEGMENT_ACK:
            return
        if kind == CONFIRMED_REQUEST:
            key = (direction, invoke)
            req = self._pending.get(key)
            if (req is None or not apdu.segmented or apdu.sequence_number == 0
                    or req.service_choice != apdu.service_choice):
                req = self._pending[key] = _Request(apdu.service_choice, frame)
                self._pending.move_to_end(key)
            if svc is not None:
                req.object_type, req.object_instance = svc.object_type, svc.object_instance
                req.property_id, req.array_index = svc.property_id, svc.array_index
            if len(self._pending) > MAX_OUTSTANDING:
                self._pending.popitem(last=False)
                self.anomaly(direction, ts_ns, frame, "too_many_outstanding",
                             f"more than {MAX_OUTSTANDING} confirmed requests without response", False)
            return
        if kind == ABORT and not apdu.server:
            self._pending.pop((direction, invoke), None)  # the client gave its own request up
            return
        key = (1 - direction, invoke)
        final = not (kind == COMPLEX_ACK and apdu.more_follows)
        req = self._pending.pop(key, None) if final else self._pending.get(key)
        if req is None:
            if final:
                self.anomaly(direction, ts_ns, frame, "unmatched_response",
                             f"no confirmed request with invoke id {invoke}", True)
            return
        f["request_frame"] = req.frame
        if apdu.service_choice is None:  # Reject and Abort do not repeat the service
            f.update(service_choice=req.service_choice,
                     service=service_name(CONFIRMED_REQUEST, req.service_choice)
                     if req.service_choice is not None else None)
        elif req.service_choice != apdu.service_choice:
            self.anomaly(direction, ts_ns, frame, "service_mismatch",
                         f"request service {req.service_choice}, response service {apdu.service_choice}", True)
            return
        if not final:
            return
        if f.get("object_type") is None and req.object_type is not None:
            f.update(object_type=req.object_type, object_type_name=object_type_name(req.object_type),
                     object_instance=req.object_instance)
        if f.get("property_id") is None and req.property_id is not None:
            f.update(property_id=req.property_id, property_name=property_name(req.property_id),
                     array_index=req.array_index)

"""PROFINET DCP analyzer: parses DCP frames, pairs responses with requests by Xid, emits events.

One instance sees every EtherType 0x8892 frame of the run. Frames with other PROFINET frame ids
(cyclic RT data, alarms, PTCP) are not DCP: they are counted in ``other_frames`` and otherwise ignored.
An Identify request is multicast and draws one response per matching device, so it stays pending
until evicted; a Get or Set request is answered once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from zonewarden.errors import Malformed
from zonewarden.protocols.base import EventSink, FlowContext, FrameAnalyzer
from zonewarden.protocols.profinet_dcp.codes import (
    SERVICE_HELLO,
    SERVICE_IDENTIFY,
    role_names,
    service_name,
)
from zonewarden.protocols.profinet_dcp.events import ProfinetDcpEvent
from zonewarden.protocols.profinet_dcp.wire import DcpMessage, parse_frame

# Requests awaiting responses, over all stations: DCP is request/response with short timeouts.
MAX_OUTSTANDING = 256


@dataclass(frozen=True, slots=True)
class _Request:
    service_id: int
    frame: int


class ProfinetDcpAnalyzer(FrameAnalyzer):
    proto = "profinet_dcp"

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self.other_frames = 0
        # (xid, requester MAC) -> request; responses go back to the requester's MAC
        self._pending: OrderedDict[tuple[int, str], _Request] = OrderedDict()

    def frame(self, src: str, dst: str, payload: bytes, ts_ns: int, frame: int) -> None:
        try:
            msg = parse_frame(payload)
        except Malformed as exc:
            self.ctx = FlowContext(None, src, dst, None, None)
            self.anomaly(0, ts_ns, frame, "malformed_frame", str(exc), False)
            return
        if msg is None:  # cyclic RT data and alarms: the bulk of PROFINET traffic, so checked first
            self.other_frames += 1
            return
        # Layer 2 has no flow: each frame's own addresses are the context its events are stamped with.
        self.ctx = FlowContext(None, src, dst, None, None)
        self.messages += 1
        for reason, detail in msg.problems:
            self.anomaly(0, ts_ns, frame, reason, detail, msg.is_response)
        request_frame = self._match(msg, src, dst, ts_ns, frame)
        self.emit(self._event(msg, ts_ns, frame, request_frame))

    def _match(self, msg: DcpMessage, src: str, dst: str, ts_ns: int, frame: int) -> int | None:
        if msg.service_id == SERVICE_HELLO:
            return None  # Hello announces; nobody answers it
        if not msg.is_response:
            key = (msg.xid, src)
            earlier = self._pending.get(key)
            if earlier is not None and earlier.service_id != SERVICE_IDENTIFY:
                self.anomaly(0, ts_ns, frame, "duplicate_transaction",
                             f"xid 0x{msg.xid:08x} reused before its response", False)
            self._pending[key] = _Request(msg.service_id, frame)
            self._pending.move_to_end(key)
            if len(self._pending) > MAX_OUTSTANDING:
                _, evicted = self._pending.popitem(last=False)
                if evicted.service_id != SERVICE_IDENTIFY:  # identify requests simply age out
                    self.anomaly(0, ts_ns, frame, "too_many_outstanding",
                                 f"more than {MAX_OUTSTANDING} requests without response", False)
            return None
        req = self._pending.get((msg.xid, dst))
        if req is None:
            self.anomaly(0, ts_ns, frame, "unmatched_response", f"no request with xid 0x{msg.xid:08x} from {dst}",
                         True)
            return None
        if req.service_id != msg.service_id:
            self.anomaly(0, ts_ns, frame, "service_mismatch",
                         f"request {service_name(req.service_id)}, response {service_name(msg.service_id)}", True)
        if req.service_id != SERVICE_IDENTIFY:
            del self._pending[(msg.xid, dst)]
        return req.frame

    def _event(self, msg: DcpMessage, ts_ns: int, frame: int, request_frame: int | None) -> ProfinetDcpEvent:
        errors = [error for _, error in msg.results]
        return ProfinetDcpEvent(
            **self.ctx.header(0, ts_ns, frame),
            is_response=msg.is_response,
            frame_id=msg.frame_id,
            service_id=msg.service_id,
            service=service_name(msg.service_id),
            service_type=msg.service_type,
            xid=msg.xid,
            response_delay=msg.response_delay,
            options=msg.options,
            name_of_station=msg.name_of_station,
            vendor_name=msg.type_of_station,
            vendor_id=msg.vendor_id,
            device_id=msg.device_id,
            device_role=msg.device_role,
            device_role_names=role_names(msg.device_role) if msg.device_role is not None else None,
            alias_name=msg.alias_name,
            device_instance=msg.device_instance,
            oem_vendor_id=msg.oem_vendor_id,
            oem_device_id=msg.oem_device_id,
            mac_address=msg.mac_address,
            ip_address=msg.ip_address,
            netmask=msg.netmask,
            gateway=msg.gateway,
            ip_block_info=msg.ip_block_info,
            dns_servers=msg.dns_servers,
            dhcp_options=msg.dhcp_options,
            supported_options=msg.supported_options,
            block_qualifier=msg.block_qualifier,
            signal_value=msg.signal_value,
            block_error=next((e for e in errors if e), 0) if errors else None,
            request_frame=request_frame,
        )

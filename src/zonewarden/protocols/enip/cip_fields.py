"""From parsed CIP messages to event fields: what a request says, what a reply says given its request.

The object-specific services (0x4B-0x63) and the reply data depend on the class the request
addressed, so a reply is decoded with the ``Pending`` record its request left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zonewarden.errors import Malformed
from zonewarden.protocols.enip.codes import (
    CLASS_CONNECTION_MANAGER,
    CLASS_IDENTITY,
    FORWARD_CLOSE,
    FORWARD_OPEN,
    GET_ATTRIBUTE_LIST,
    GET_ATTRIBUTE_SINGLE,
    GET_ATTRIBUTES_ALL,
    IDENTITY_ATTRIBUTES,
    LARGE_FORWARD_OPEN,
    MULTIPLE_SERVICE_PACKET,
    UNCONNECTED_SEND,
    device_type_name,
    service_name,
    status_name,
    vendor_name,
)
from zonewarden.protocols.enip.events import CipService
from zonewarden.protocols.enip.wire_cip import (
    MAX_MSP_SERVICES,
    CipMessage,
    CipReply,
    CipRequest,
    MultipleServices,
    parse_multiple_service,
)
from zonewarden.protocols.enip.wire_cm import (
    Connection,
    parse_forward_close_reply,
    parse_forward_close_request,
    parse_forward_open_reply,
    parse_forward_open_request,
    parse_identity_all,
    parse_identity_attribute,
    parse_identity_attribute_list,
    parse_unconnected_send,
)
from zonewarden.protocols.enip.wire_encap import Identity

Fields = dict[str, Any]
# (anomaly reason, detail) pairs a decode step reports; the analyzer turns them into anomaly events.
Findings = list[tuple[str, str]]


@dataclass(slots=True)
class Pending:
    """What a reply needs from its request."""

    frame: int
    request: CipRequest
    target: CipRequest  # the request the reply answers: an Unconnected Send's embedded one, else the request
    msp: list[CipMessage | None] | None = None  # the target's Multiple Service Packet entries
    carry: Fields = field(default_factory=dict)  # request path fields repeated in the reply event
    # Forward Open: the port segments of its connection path as hex ("" if it names none), for the
    # connection its reply opens
    connection_route: str | None = None


def _name(req: CipRequest, service: int | None = None) -> str:
    return service_name(req.service if service is None else service, req.path.cip_class, req.path.symbol is not None)


def _service(msg: CipMessage | None, request: CipMessage | None = None) -> CipService | None:
    """An MSP entry or an embedded request as a record; a reply takes its path from ``request``."""
    if msg is None:
        return None
    req = request if isinstance(request, CipRequest) else None
    if isinstance(msg, CipRequest):
        req = msg
    name = _name(req, msg.service) if req else service_name(msg.service, None, False)
    record = CipService(service=msg.service, service_name=name)
    if req is not None:
        record.cip_class, record.cip_instance = req.path.cip_class, req.path.instance
        record.cip_attribute, record.cip_symbol = req.path.attribute, req.path.symbol
    if isinstance(msg, CipReply):
        record.cip_status = msg.status
        record.cip_extended_status = msg.additional[0] if msg.additional else None
    return record


def _msp_records(messages: list[CipMessage | None], requests: list[CipMessage | None] | None) -> list[CipService]:
    out: list[CipService] = []
    for k, msg in enumerate(messages):
        record = _service(msg, requests[k] if requests is not None and k < len(requests) else None)
        if record is not None:
            out.append(record)
    return out


def _connection_fields(conn: Connection) -> Fields:
    return {"connection_serial": conn.serial, "originator_vendor_id": conn.vendor_id,
            "originator_serial": conn.originator_serial, "ot_connection_id": conn.ot_connection_id,
            "to_connection_id": conn.to_connection_id, "ot_rpi": conn.ot_rpi, "to_rpi": conn.to_rpi,
            "transport_type": conn.transport,
            "connection_path": conn.path_bytes.hex() if conn.path_bytes is not None else None}


def identity_fields(identity: Identity) -> Fields:
    out: Fields = {
        "vendor_id": identity.vendor_id, "device_type": identity.device_type, "product_code": identity.product_code,
        "revision_major": identity.revision_major, "revision_minor": identity.revision_minor,
        "device_status": identity.status, "serial_number": identity.serial_number,
        "product_name": identity.product_name, "device_state": identity.state,
        "encap_version": identity.encap_version, "socket_address": identity.socket_address,
        "socket_port": identity.socket_port,
    }
    if identity.vendor_id is not None:
        out["vendor_name"] = vendor_name(identity.vendor_id)
    if identity.device_type is not None:
        out["device_type_name"] = device_type_name(identity.device_type)
    return {k: v for k, v in out.items() if v is not None}


def _msp_findings(msp: MultipleServices, found: Findings, what: str) -> None:
    if msp.declared > MAX_MSP_SERVICES:
        found.append(("too_many_services", f"{what} declares {msp.declared} services, {MAX_MSP_SERVICES} decoded"))
    if msp.problem:
        found.append(("malformed_cip", f"{what}: {msp.problem}"))


def request_fields(req: CipRequest, frame: int, found: Findings) -> tuple[Fields, Pending]:
    """Event fields of a request, and the record its reply will be decoded with."""
    path = req.path
    fields: Fields = {"cip_service": req.service, "cip_service_name": _name(req), "cip_class": path.cip_class,
                      "cip_instance": path.instance, "cip_attribute": path.attribute, "cip_symbol": path.symbol}
    if path.problem:
        found.append(("malformed_cip", f"request path: {path.problem}"))
    pending = Pending(frame, req, req)
    carry = {k: fields[k] for k in ("cip_class", "cip_instance", "cip_attribute", "cip_symbol")}
    try:
        if path.cip_class == CLASS_CONNECTION_MANAGER and req.service == UNCONNECTED_SEND:
            send = parse_unconnected_send(req.data)
            pending.target = send.embedded
            carry["embedded"] = fields["embedded"] = _service(send.embedded)
            carry["route_path"] = fields["route_path"] = send.route_bytes.hex()
            if send.embedded.path.problem:
                found.append(("malformed_cip", f"embedded request path: {send.embedded.path.problem}"))
        elif path.cip_class == CLASS_CONNECTION_MANAGER and req.service in (FORWARD_OPEN, LARGE_FORWARD_OPEN):
            conn = parse_forward_open_request(req.data, large=req.service == LARGE_FORWARD_OPEN)
            fields |= _connection_fields(conn)
            pending.connection_route = conn.path.route.hex() if conn.path is not None else ""
        elif path.cip_class == CLASS_CONNECTION_MANAGER and req.service == FORWARD_CLOSE:
            fields |= _connection_fields(parse_forward_close_request(req.data))
        if pending.target.service == MULTIPLE_SERVICE_PACKET:
            msp = parse_multiple_service(pending.target.data)
            pending.msp = msp.messages
            fields["msp_services"] = _msp_records(msp.messages, None)
            _msp_findings(msp, found, "multiple service packet")
    except Malformed as exc:
        found.append(("malformed_cip", f"{fields['cip_service_name']} request: {exc}"))
    pending.carry = carry
    return {k: v for k, v in fields.items() if v is not None}, pending


def reply_fields(rep: CipReply, pending: Pending | None, found: Findings) -> Fields:
    """Event fields of a reply, decoded in the context of its request when it was matched."""
    fields: Fields = {"cip_service": rep.service, "cip_status": rep.status, "cip_status_name": status_name(rep.status),
                      "cip_extended_status": rep.additional[0] if rep.additional else None,
                      "cip_service_name": service_name(rep.service, None, False)}
    target: CipRequest | None = None
    if pending is not None:
        fields |= pending.carry
        fields["request_frame"] = pending.frame
        if rep.service == pending.target.service:
            target = pending.target
        elif rep.service == pending.request.service:
            target = pending.request  # e.g. an Unconnected Send that failed before reaching its target
        else:
            found.append(("service_mismatch", f"reply service 0x{rep.service:02x} does not answer request service "
                                              f"0x{pending.request.service:02x}"))
        fields["cip_service_name"] = _name(target or pending.request, rep.service)
    try:
        if rep.service == MULTIPLE_SERVICE_PACKET and (target is None or target.service == MULTIPLE_SERVICE_PACKET):
            if rep.data:
                msp = parse_multiple_service(rep.data)
                fields["msp_services"] = _msp_records(msp.messages, pending.msp if pending else None)
                _msp_findings(msp, found, "multiple service packet reply")
        elif target is not None:
            fields |= _target_reply(rep, target)
    except Malformed as exc:
        found.append(("malformed_cip", f"{fields['cip_service_name']} reply: {exc}"))
    return {k: v for k, v in fields.items() if v is not None}


def _target_reply(rep: CipReply, target: CipRequest) -> Fields:
    """Decode reply data whose meaning depends on the requested class and service."""
    cip_class = target.path.cip_class
    ok = rep.status == 0
    if cip_class == CLASS_CONNECTION_MANAGER and target.service in (FORWARD_OPEN, LARGE_FORWARD_OPEN):
        return _connection_fields(parse_forward_open_reply(rep.data, success=ok))
    if cip_class == CLASS_CONNECTION_MANAGER and target.service == FORWARD_CLOSE:
        return _connection_fields(parse_forward_close_reply(rep.data))
    if cip_class == CLASS_IDENTITY and ok and target.path.instance:  # instance 0 holds class attributes
        if target.service == GET_ATTRIBUTES_ALL:
            return identity_fields(parse_identity_all(rep.data))
        if target.service == GET_ATTRIBUTE_SINGLE and target.path.attribute in IDENTITY_ATTRIBUTES:
            identity = Identity()
            parse_identity_attribute(identity, int(target.path.attribute), rep.data)
            return identity_fields(identity)
        if target.service == GET_ATTRIBUTE_LIST:
            return identity_fields(parse_identity_attribute_list(rep.data))
    return {}

"""EtherNet/IP analyzers: encapsulation messages over TCP 44818 (framed by the header's length) and
UDP 44818 (one message per datagram). Replies are matched to requests, by sender context for
SendRRData and by connection id and CIP sequence count for SendUnitData, so a reply event carries its
request's path and is decoded in its context (identity, Forward Open, Multiple Service Packet).

A successful Forward Open also leaves the route of its connection path (its port segments) under both
connection ids its reply names: the originator's SendUnitData requests carry the O->T id, the target's
replies the T->O id (as Wireshark's enip_get_explicit_connid looks them up). Connected messages of that
connection carry the route as ``route_path``, as an Unconnected Send does: the device answering is the
one at the end of the route, not the adapter at the IP address.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import TypeVar

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.base import Analyzer, DatagramAnalyzer, EventSink, FlowContext, PduStreamAnalyzer
from zonewarden.protocols.enip.cip_fields import (
    Fields,
    Findings,
    Pending,
    identity_fields,
    reply_fields,
    request_fields,
)
from zonewarden.protocols.enip.codes import (
    CLASS_CONNECTION_MANAGER,
    COMMANDS,
    CPF_CONNECTED_ADDRESS,
    CPF_CONNECTED_DATA,
    CPF_SOCKADDR_OT,
    CPF_SOCKADDR_TO,
    CPF_UNCONNECTED_DATA,
    FORWARD_OPEN,
    LARGE_FORWARD_OPEN,
    LIST_COMMANDS,
    SEND_RR_DATA,
    SEND_UNIT_DATA,
    command_name,
)
from zonewarden.protocols.enip.events import EnipEvent
from zonewarden.protocols.enip.wire_cip import CipReply, CipRequest, parse_cip
from zonewarden.protocols.enip.wire_encap import (
    HEADER_LEN,
    EncapMessage,
    message_length,
    parse_header,
    parse_message,
    parse_sockaddr_item,
)

# Requests awaiting a reply per flow (each kind): pipelining is legal, an unanswered flood is bounded.
MAX_OUTSTANDING = 256
# Connections remembered per flow: id pairs (reply id -> request id, from Forward Opens and matches), and
# the routes of the connections Forward Opens opened.
MAX_CONNECTIONS = 256

_K = TypeVar("_K", bytes, tuple[int, int])


class EnipCore(Analyzer):
    """Message handling shared by the TCP and UDP analyzers: one event per encapsulation message."""

    proto = "enip"

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self._rr: OrderedDict[bytes, Pending] = OrderedDict()  # SendRRData requests by sender context
        self._unit: OrderedDict[tuple[int, int], Pending] = OrderedDict()  # by (connection id, sequence)
        self._pairs: OrderedDict[int, int] = OrderedDict()  # reply connection id -> request connection id
        # connection id (O->T and T->O) -> the route of the connection's path as hex, "" if it names no port
        self._routes: OrderedDict[int, str] = OrderedDict()

    def _message(self, direction: int, pdu: bytes, ts_ns: int, frame: int) -> None:
        header = parse_header(pdu)
        fields: Fields = {"command": header.command, "command_name": command_name(header.command),
                          "session": header.session, "encap_status": header.status,
                          "sender_context": header.context.hex()}
        is_response = direction == 1
        if header.command in LIST_COMMANDS:
            is_response = header.length > 0  # list requests carry no data, replies carry items
        if header.command not in COMMANDS:
            self.anomaly(direction, ts_ns, frame, "unknown_command", f"command 0x{header.command:04x}", is_response)
        found: Findings = []
        try:
            msg = parse_message(pdu)
        except (Malformed, NeedMoreData) as exc:
            found.append(("malformed_message", str(exc)))
        else:
            is_response = self._content(msg, frame, fields, found, is_response)
        for reason, detail in found:
            self.anomaly(direction, ts_ns, frame, reason, detail, is_response)
        # At most 15 keywords, the optional fields set after (FlowContext.ends says why).
        src, dst, sport, dport = self.ctx.ends(direction)
        event = EnipEvent(ts=ts_ns / 1e9, src=src, dst=dst, sport=sport, dport=dport, is_response=is_response,
                          flow_id=self.ctx.flow_id, frame=frame, command=fields.pop("command"),
                          command_name=fields.pop("command_name"), session=fields.pop("session"),
                          encap_status=fields.pop("encap_status"), sender_context=fields.pop("sender_context"))
        for name, value in fields.items():
            setattr(event, name, value)
        self.emit(event)

    def _content(self, msg: EncapMessage, frame: int, fields: Fields, found: Findings,
                 is_response: bool) -> bool:
        """Fill ``fields`` from the command-specific data; returns whether the message is a reply."""
        header = msg.header
        items = msg.items or []
        if msg.items is not None:
            fields["cpf_types"] = [i.type_id for i in items]
        if msg.identities:
            fields |= identity_fields(msg.identities[0])
        if msg.services:
            fields["capability_flags"] = msg.services[0].flags
        if msg.protocol_version is not None:
            fields["encap_version"] = msg.protocol_version
        for item in items:
            if item.type_id in (CPF_SOCKADDR_OT, CPF_SOCKADDR_TO):
                try:
                    fields["ot_sockaddr" if item.type_id == CPF_SOCKADDR_OT else "to_sockaddr"] = \
                        parse_sockaddr_item(item.data)
                except Malformed as exc:
                    found.append(("malformed_cpf_item", str(exc)))
        if header.command == SEND_RR_DATA:
            data = next((i.data for i in items if i.type_id == CPF_UNCONNECTED_DATA), None)
            if data is None:
                found.append(("missing_data_item", "SendRRData without an unconnected data item"))
                return is_response
            return self._cip(data, header.context, None, frame, fields, found)
        if header.command == SEND_UNIT_DATA:
            address = next((i.data for i in items if i.type_id == CPF_CONNECTED_ADDRESS), None)
            data = next((i.data for i in items if i.type_id == CPF_CONNECTED_DATA), None)
            if address is None or len(address) < 4 or data is None or len(data) < 2:
                found.append(("missing_data_item", "SendUnitData without connected address and data items"))
                return is_response
            (connection,) = struct.unpack_from("<I", address)
            (sequence,) = struct.unpack_from("<H", data)
            fields["connection_id"], fields["cip_sequence"] = connection, sequence
            is_response = self._cip(data[2:], None, (connection, sequence), frame, fields, found)
            route = self._routes.get(connection)
            if route is not None:
                self._routes.move_to_end(connection)
                if route:  # the connection's route, then that of an Unconnected Send sent over it
                    fields["route_path"] = route + fields.get("route_path", "")
        return is_response

    def _cip(self, data: bytes, context: bytes | None, connected: tuple[int, int] | None, frame: int,
             fields: Fields, found: Findings) -> bool:
        """Decode the CIP message of a data item; returns whether it is a reply."""
        try:
            cip = parse_cip(data)
        except Malformed as exc:
            found.append(("malformed_cip", str(exc)))
            return bool(data) and data[0] & 0x80 != 0
        if isinstance(cip, CipRequest):
            decoded, pending = request_fields(cip, frame, found)
            self._remember(context, connected, pending, found)
        else:
            matched = self._match(context, connected)
            if matched is None:
                found.append(("unmatched_response", "no request seen for this reply"))
            decoded = reply_fields(cip, matched, found)
            if (matched is not None and cip.status == 0 and matched.target.path.cip_class == CLASS_CONNECTION_MANAGER
                    and matched.target.service in (FORWARD_OPEN, LARGE_FORWARD_OPEN)):
                # SendUnitData replies come on the T->O id, their requests on the O->T id
                ot_id, to_id = decoded.get("ot_connection_id"), decoded.get("to_connection_id")
                self._pair(to_id, ot_id)
                self._route(matched.connection_route, ot_id, to_id)
        fields |= decoded
        return isinstance(cip, CipReply)

    def _remember(self, context: bytes | None, connected: tuple[int, int] | None, pending: Pending,
                  found: Findings) -> None:
        if context is not None:
            self._store(self._rr, context, pending, found)
        elif connected is not None:
            self._store(self._unit, connected, pending, found)

    @staticmethod
    def _store(table: OrderedDict[_K, Pending], key: _K, pending: Pending, found: Findings) -> None:
        if table.pop(key, None) is not None:
            found.append(("duplicate_request", f"a request with the same key ({key!r}) awaits its reply"))
        table[key] = pending
        if len(table) > MAX_OUTSTANDING:
            table.popitem(last=False)
            found.append(("too_many_outstanding", f"more than {MAX_OUTSTANDING} requests without reply"))

    def _match(self, context: bytes | None, connected: tuple[int, int] | None) -> Pending | None:
        if context is not None:
            return self._rr.pop(context, None)
        if connected is None:
            return None
        connection, sequence = connected
        paired = self._pairs.get(connection)
        if paired is not None:
            return self._unit.pop((paired, sequence), None)
        # Forward Open not seen: the reply's connection id differs from the request's, so take the
        # oldest request with this sequence count and remember the pair for the next replies.
        key = next((k for k in self._unit if k[1] == sequence), None)
        if key is None:
            return None
        self._pair(connection, key[0])
        return self._unit.pop(key)

    def _pair(self, reply_id: int | None, request_id: int | None) -> None:
        if reply_id is None or request_id is None:
            return
        self._pairs[reply_id] = request_id
        self._pairs.move_to_end(reply_id)
        if len(self._pairs) > MAX_CONNECTIONS:
            self._pairs.popitem(last=False)

    def _route(self, route: str | None, *ids: int | None) -> None:
        if route is None:
            return
        for connection in ids:
            if connection is not None:
                self._routes[connection] = route
                self._routes.move_to_end(connection)
        while len(self._routes) > 2 * MAX_CONNECTIONS:  # two ids per connection
            self._routes.popitem(last=False)


class EnipStreamAnalyzer(PduStreamAnalyzer, EnipCore):
    """EtherNet/IP over TCP: messages framed by the encapsulation header's length field."""

    max_pdu = HEADER_LEN + 0xFFFF

    def pdu_length(self, head: bytes) -> int:
        return message_length(head)

    def on_pdu(self, direction: int, pdu: bytes, ts_ns: int, frame: int) -> None:
        self._message(direction, pdu, ts_ns, frame)


class EnipDatagramAnalyzer(DatagramAnalyzer, EnipCore):
    """EtherNet/IP over UDP (ListIdentity/ListServices broadcasts and their replies): one message per datagram."""

    def datagram(self, direction: int, payload: bytes, ts_ns: int, frame: int) -> None:
        if self.rejected:
            return
        try:
            length = message_length(payload)
            if length > len(payload):
                raise NeedMoreData(f"message of {length} bytes in a datagram of {len(payload)}")
        except (NeedMoreData, Malformed) as exc:
            if self.messages == 0:
                self.rejected = True  # the first datagram already does not fit: not EtherNet/IP
            else:
                self.anomaly(direction, ts_ns, frame, "malformed_datagram", str(exc))
            return
        self.messages += 1
        self._message(direction, payload[:length], ts_ns, frame)
        if len(payload) > length:
            self.anomaly(direction, ts_ns, frame, "trailing_bytes", f"{len(payload) - length} bytes after the message")


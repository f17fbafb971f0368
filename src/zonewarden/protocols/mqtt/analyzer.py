"""MQTT analyzer: frames control packets, follows the session (protocol level, client id, topic aliases),
matches acknowledgements to what they acknowledge, emits one event per packet. Sparkplug B birth
certificates (NBIRTH, DBIRTH) have their metrics decoded.

Framing is PduStreamAnalyzer's with one addition: a PUBLISH larger than LARGE_PUBLISH is decoded from its
head (topic, packet id, properties) and the rest of its payload is skipped as it streams past, so a
multi-megabyte message neither fills the buffer nor costs the flow its framing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from zonewarden.errors import DecodeError, Malformed, NeedMoreData
from zonewarden.protocols.base import (
    MAX_CONSECUTIVE_MALFORMED,
    MAX_PDU_BUFFER,
    EventSink,
    FlowContext,
    PduStreamAnalyzer,
)
from zonewarden.protocols.mqtt.codes import (
    ANSWERS,
    CONNACK,
    CONNECT,
    LEVEL_5,
    LEVEL_311,
    PINGREQ,
    PUBLISH,
    PUBREC,
    PUBREL,
    SPARKPLUG_BIRTHS,
    SUBSCRIBE,
    UNSUBSCRIBE,
    packet_name,
    reason_name,
)
from zonewarden.protocols.mqtt.events import MqttEvent
from zonewarden.protocols.mqtt.wire import Packet, packet_length, parse_fixed_header, parse_packet
from zonewarden.protocols.mqtt.wire_sparkplug import MetricValue, parse_sparkplug, parse_sparkplug_payload

# A PUBLISH over this size is decoded from its first HEAD_KEEP bytes and the rest skipped unbuffered.
LARGE_PUBLISH = 1 << 17
HEAD_KEEP = 1 << 17
MAX_OUTSTANDING = 256  # packets awaiting their acknowledgement, per flow
MAX_ALIASES = 1024  # MQTT 5 topic aliases remembered per direction
# Packets whose answer we match, and what identifies them (besides direction and packet id).
_REQUESTS = frozenset({CONNECT, PUBLISH, PUBREC, PUBREL, SUBSCRIBE, UNSUBSCRIBE, PINGREQ})
# Problems that say the stream is not MQTT at all when the very first packet has them.
_NOT_MQTT = frozenset({"unknown_packet_type", "invalid_flags"})


@dataclass(frozen=True, slots=True)
class _Request:
    frame: int
    topics: list[str] | None


class MqttAnalyzer(PduStreamAnalyzer):
    proto = "mqtt"
    max_pdu = MAX_PDU_BUFFER

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self._skip = [0, 0]  # payload bytes of a large PUBLISH still to stream past, per direction
        self._level: int | None = None  # protocol level from CONNECT
        self._guessed_level: int | None = None  # from a CONNACK's length when the CONNECT was not seen
        self._client_id: str | None = None
        self._aliases: tuple[dict[int, str], dict[int, str]] = ({}, {})
        self._pending: OrderedDict[tuple[int, int, int], _Request] = OrderedDict()

    def pdu_length(self, head: bytes) -> int:
        return packet_length(head)

    # ---- framing (PduStreamAnalyzer.data plus large PUBLISH skipping)
    def data(self, direction: int, data: bytes, ts_ns: int, frame: int) -> None:
        if self.rejected:
            return
        skip = self._skip[direction]
        if skip:
            self._skip[direction] = max(0, skip - len(data))
            if len(data) <= skip:
                return
            data = data[skip:]
        buf = self._buf[direction]
        buf += data
        pos = 0
        while pos < len(buf):  # progress: every pass consumes a packet, skips one, waits, or drops the buffer
            try:
                header = parse_fixed_header(bytes(buf[pos : pos + 5]))
                if header.packet_type != PUBLISH and header.total > self.max_pdu:
                    raise Malformed(f"packet of {header.total} bytes exceeds {self.max_pdu}")
            except NeedMoreData:
                break
            except Malformed as exc:
                self._malformed(direction, ts_ns, frame, str(exc))
                buf.clear()
                return
            large = header.packet_type == PUBLISH and header.total > LARGE_PUBLISH
            need = min(header.total, header.header_length + HEAD_KEEP) if large else header.total
            if len(buf) - pos < need:
                break
            pdu = bytes(buf[pos : pos + need])
            self.messages += 1
            if not self._packet(direction, pdu, ts_ns, frame, header.remaining if large else None):
                buf.clear()  # not a packet boundary after all: wait for the next segment
                return
            if self.rejected:
                return
            if large and len(buf) - pos < header.total:
                self._skip[direction] = header.total - (len(buf) - pos)
                pos = len(buf)
            else:
                pos += header.total
        del buf[:pos]
        if len(buf) > MAX_PDU_BUFFER:
            self.anomaly(direction, ts_ns, frame, "buffer_overflow", f"{len(buf)} bytes without a complete packet")
            buf.clear()

    def gap(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        skip = self._skip[direction]
        if skip >= length:
            self._skip[direction] -= length  # the gap fell inside a skipped payload: framing is intact
            return
        self._skip[direction] = 0
        super().gap(direction, length, ts_ns, frame)

    # ---- one packet
    def _packet(self, direction: int, pdu: bytes, ts_ns: int, frame: int, remaining: int | None) -> bool:
        """Decode and emit one packet; False when it is no packet (mid-packet after a gap, or not MQTT)."""
        is_response = direction == 1
        if self._level is None and pdu[0] >> 4 == CONNACK:
            # the CONNECT was not seen: MQTT 5 CONNACKs carry properties, more than the two bytes of 3.1.1
            self._guessed_level = LEVEL_5 if parse_fixed_header(pdu).remaining > 2 else LEVEL_311
        p = parse_packet(pdu, self._level or self._guessed_level, remaining)
        if p.problem is not None:
            if self._resync[direction]:
                return False  # after a gap we may land mid-packet: wait for one that parses cleanly
            if self.messages == 1 and p.issue in _NOT_MQTT:
                self.rejected = True  # the very first packet is this wrong: the flow is not MQTT
                return False
            self.anomaly(direction, ts_ns, frame, p.issue or "malformed_packet", p.problem, is_response)
            self._bad_run += 1
            if self._bad_run >= MAX_CONSECUTIVE_MALFORMED:
                self.rejected = True  # packet after packet breaks the rules: give the flow up
        else:
            self._bad_run = 0
        self._resync[direction] = False
        self._session(p)
        fields = self._fields(direction, p, frame)
        if fields.get("sparkplug_message_type") in SPARKPLUG_BIRTHS and p.payload_offset is not None:
            fields["sparkplug_metrics"] = self._birth(direction, ts_ns, frame, pdu[p.payload_offset :],
                                                      remaining is None)
        self.emit(MqttEvent(**self.ctx.header(direction, ts_ns, frame), is_response=is_response,
                            packet_type=p.packet_type, packet_name=packet_name(p.packet_type),
                            client_id=self._client_id, **fields))
        return True

    def _birth(self, direction: int, ts_ns: int, frame: int, payload: bytes,
               complete: bool) -> dict[str, MetricValue] | None:
        """A birth certificate's metrics; a payload that is no Sparkplug payload is an anomaly."""
        try:
            return parse_sparkplug_payload(payload, complete).metrics
        except DecodeError as exc:
            self.anomaly(direction, ts_ns, frame, "malformed_sparkplug_payload", str(exc))
            return None

    def _session(self, p: Packet) -> None:
        if p.packet_type == CONNECT and p.protocol_level is not None:
            self._level = p.protocol_level
            self._client_id = p.client_id
            self._aliases[0].clear()
            self._aliases[1].clear()
        elif p.packet_type == CONNACK and not self._client_id and p.properties.assigned_client_id:
            self._client_id = p.properties.assigned_client_id

    def _fields(self, direction: int, p: Packet, frame: int) -> dict[str, Any]:
        props = p.properties
        level = self._level or self._guessed_level
        out: dict[str, Any] = {
            "qos": p.qos, "retain": p.retain, "dup": p.dup, "packet_id": p.packet_id,
            "payload_length": p.payload_length, "protocol_name": p.protocol_name, "protocol_level": self._level,
            "clean_session": p.clean_session, "keep_alive": p.keep_alive, "username": p.username,
            "password_present": p.password_present, "will_topic": p.will_topic, "will_qos": p.will_qos,
            "will_retain": p.will_retain, "session_present": p.session_present, "return_code": p.return_code,
            "topics": p.topics, "qos_levels": p.qos_levels, "return_codes": p.return_codes,
            "topic_alias": props.topic_alias, "auth_method": props.auth_method,
            "reason_string": props.reason_string, "content_type": props.content_type,
        }
        if p.packet_type == CONNECT:
            out["protocol_level"] = p.protocol_level
        if p.return_code is not None:
            out["reason"] = reason_name(p.return_code, level, p.packet_type)
        if p.packet_type == PUBLISH:
            out["topic"] = topic = self._topic(direction, p)
            sparkplug = parse_sparkplug(topic) if topic else None
            if sparkplug is not None:
                out.update(sparkplug_group=sparkplug.group, sparkplug_message_type=sparkplug.message_type,
                           sparkplug_edge_node=sparkplug.edge_node, sparkplug_device=sparkplug.device,
                           sparkplug_host_id=sparkplug.host_id)
        request = ANSWERS.get(p.packet_type)
        if request is not None:
            matched = self._pending.pop((1 - direction, request, p.packet_id or 0), None)
            if matched is not None:
                out["request_frame"] = matched.frame
                if out["topics"] is None:
                    out["topics"] = matched.topics
        if p.packet_type in _REQUESTS and (p.packet_type != PUBLISH or p.qos):
            key = (direction, p.packet_type, p.packet_id or 0)
            self._pending[key] = _Request(frame, p.topics)
            self._pending.move_to_end(key)
            while len(self._pending) > MAX_OUTSTANDING:
                self._pending.popitem(last=False)
        return out

    def _topic(self, direction: int, p: Packet) -> str | None:
        """The PUBLISH topic, resolving an MQTT 5 topic alias (a topic with an alias defines it)."""
        alias = p.properties.topic_alias
        aliases = self._aliases[direction]
        if alias is None:
            return p.topic
        if p.topic:
            if alias in aliases or len(aliases) < MAX_ALIASES:
                aliases[alias] = p.topic
            return p.topic
        return aliases.get(alias, p.topic)


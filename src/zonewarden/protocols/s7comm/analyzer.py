"""ISO-on-TCP analyzer (port 102): frames TPKT, reassembles COTP data units, and hands each complete
unit to the S7comm (0x32) or S7comm-plus (0x72) layer; COTP connection TPDUs become events too.

One analyzer serves both S7 protocols because they share the port and the framing, and which one a
connection speaks is known only from its first data unit. A connection whose first data unit is
neither (MMS and other ISO session users on port 102) is handed back.
"""

from __future__ import annotations

from typing import Any

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.model.events import Event
from zonewarden.protocols.base import EventSink, FlowContext, PduStreamAnalyzer, Resume
from zonewarden.protocols.s7comm.codes import (
    COTP_CC,
    COTP_CR,
    COTP_DC,
    COTP_DR,
    COTP_DT,
    COTP_ER,
    COTP_TYPES,
    S7_PROTOCOL_ID,
    S7PLUS_PROTOCOL_ID,
    TSAP_CONNECTION_TYPES,
)
from zonewarden.protocols.s7comm.events import CotpEvent
from zonewarden.protocols.s7comm.plus_layer import PlusLayer
from zonewarden.protocols.s7comm.s7_layer import S7Layer
from zonewarden.protocols.s7comm.wire_cotp import TPKT_HEADER, Cotp, parse_cotp, rack_slot, tpkt_length, tsap_text

# A COTP data unit (TSDU) is at most one S7 PDU (<= 960 bytes negotiated) or one S7comm-plus PDU; 64 KiB
# is far above both and bounds what a peer can make us buffer per direction.
MAX_TSDU = 65536
# Events (COTP connection TPDUs, framing anomalies) held back until the connection's protocol is known.
MAX_HELD = 16
CONNECTION_TPDUS = frozenset({COTP_CR, COTP_CC, COTP_DR, COTP_DC, COTP_ER})


class IsoTcpAnalyzer(PduStreamAnalyzer):
    proto = "s7comm"
    max_pdu = 65535  # the TPKT length field is 16 bits

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        # Until the first data unit shows which protocol the connection speaks, events are held: they are
        # relabelled (COTP events) and released then, or dropped when the flow turns out not to be S7.
        self._sink = emit
        self.emit = self._emit_or_hold
        self._held: list[Event] = []
        self._tsdu = [bytearray(), bytearray()]
        self._skip_to_eot = [False, False]  # after an overflow: drop fragments until the unit ends
        self._app: str | None = None  # "s7comm" or "s7comm_plus" once the first data unit is seen
        self.s7 = S7Layer(self)
        self.plus = PlusLayer(self)

    def _emit_or_hold(self, event: Event) -> None:
        if self._app is not None:
            self._sink(event)
        elif len(self._held) < MAX_HELD:
            self._held.append(event)
        else:
            self._decide(self.proto)  # a connection that keeps talking without data: report it as S7comm
            self._sink(event)

    # ---- TPKT / COTP
    def pdu_length(self, head: bytes) -> int:
        return tpkt_length(head)

    def on_pdu(self, direction: int, pdu: bytes, ts_ns: int, frame: int) -> None:
        try:
            cotp = parse_cotp(pdu[TPKT_HEADER:])
        except (Malformed, NeedMoreData) as exc:
            if self.messages == 1:
                self.rejected = True  # the very first TPKT is no COTP: not ISO-on-TCP
                return
            self.anomaly(direction, ts_ns, frame, "malformed_cotp", str(exc))
            return
        if cotp.code in CONNECTION_TPDUS:
            self._connection(direction, cotp, ts_ns, frame)
            return
        if cotp.code != COTP_DT:
            # expedited data, acknowledgements and rejects belong to classes 1-4, not to class 0 on ISO-on-TCP
            self.anomaly(direction, ts_ns, frame, "unexpected_cotp_tpdu",
                         f"COTP {COTP_TYPES[cotp.code]} TPDU on a class 0 connection")
            return
        buf = self._tsdu[direction]
        if self._skip_to_eot[direction]:
            self._skip_to_eot[direction] = not cotp.eot
            return
        if len(buf) + len(cotp.data) > MAX_TSDU:
            self.anomaly(direction, ts_ns, frame, "cotp_reassembly_overflow",
                         f"data unit above {MAX_TSDU} bytes without end of TSDU")
            buf.clear()
            self._skip_to_eot[direction] = not cotp.eot
            return
        if not cotp.eot:
            buf += cotp.data
            return
        tsdu = bytes(buf) + cotp.data if buf else cotp.data
        buf.clear()
        if tsdu:
            self._data_unit(direction, tsdu, ts_ns, frame)

    def _data_unit(self, direction: int, tsdu: bytes, ts_ns: int, frame: int) -> None:
        first = tsdu[0]
        if first == S7_PROTOCOL_ID:
            self._decide("s7comm")
            self.s7.pdu(direction, tsdu, ts_ns, frame)
        elif first == S7PLUS_PROTOCOL_ID:
            self._decide("s7comm_plus")
            self.plus.pdu(direction, tsdu, ts_ns, frame)
        elif self._app is None:
            self.rejected = True  # an ISO transport user other than S7 (e.g. MMS): hand the flow back
            self._held.clear()  # its connection TPDUs and framing trouble are not S7 events
        else:
            self.anomaly(direction, ts_ns, frame, "unknown_protocol_id", f"data unit starts with 0x{first:02x}")

    def resume(self, state: Resume) -> None:
        super().resume(state)
        if state.app is not None:
            self._decide(state.app)

    def _decide(self, app: str) -> None:
        if self._app is None:
            self._app = app
            for event in self._held:
                if isinstance(event, CotpEvent):
                    event.proto = app
                self._sink(event)
            self._held.clear()

    def _connection(self, direction: int, cotp: Cotp, ts_ns: int, frame: int) -> None:
        called = cotp.called_tsap
        kind = rack = slot = None
        if called is not None and len(called) == 2:
            kind = TSAP_CONNECTION_TYPES.get(called[0], f"unknown-{called[0]}")
            rack, slot = rack_slot(called) or (None, None)
        fields: dict[str, Any] = self.ctx.header(direction, ts_ns, frame)
        event = CotpEvent(
            **fields, proto=self._app or self.proto, is_response=cotp.code == COTP_CC or direction == 1,
            pdu_type=cotp.code, pdu_type_name=COTP_TYPES[cotp.code], dst_ref=cotp.dst_ref, src_ref=cotp.src_ref,
            tpdu_size=cotp.tpdu_size,
            src_tsap=cotp.calling_tsap.hex() if cotp.calling_tsap is not None else None,
            dst_tsap=called.hex() if called is not None else None,
            src_tsap_text=tsap_text(cotp.calling_tsap), dst_tsap_text=tsap_text(called),
            connection_type=kind, rack=rack, slot=slot, reason=cotp.reason,
        )
        self.emit(event)

    # ---- stream events
    def data(self, direction: int, data: bytes, ts_ns: int, frame: int) -> None:
        super().data(direction, data, ts_ns, frame)
        self.s7.after_gap[direction] = False

    def gap(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        super().gap(direction, length, ts_ns, frame)
        self._tsdu[direction].clear()
        self._skip_to_eot[direction] = False
        self.s7.gap(direction)
        self.plus.gap(direction)

    def end(self) -> None:
        self._decide(self._app or self.proto)

"""IEC 60870-5-104 analyzer: frames APDUs, tracks each direction's sequence numbers, emits events.

Each side numbers its I-format APDUs N(S) = 0, 1, 2... (modulo 2^15) from connection set-up and
acknowledges the peer's with N(R). A jump in N(S) means lost or injected APDUs, a repeated N(S) a
duplicate or replay, an N(R) beyond what the peer sent an acknowledgement of APDUs that never passed
here: all three are anomalies. After a capture gap the expectations are forgotten and relearned.
"""

from __future__ import annotations

from zonewarden.errors import Malformed
from zonewarden.protocols.base import EventSink, FlowContext, PduStreamAnalyzer
from zonewarden.protocols.iec104.codes import (
    SELECT_EXECUTE_TYPES,
    cause_name,
    type_name,
    u_function_name,
)
from zonewarden.protocols.iec104.events import Iec104Event
from zonewarden.protocols.iec104.wire import (
    APCI_LEN,
    SEQ_MODULO,
    SPEC_MAX_APDU_LENGTH,
    START,
    Apci,
    Asdu,
    apdu_length,
    looks_like_iec104,
    parse_apci,
    parse_asdu,
)

_HALF = SEQ_MODULO // 2
# How far into a segment to look for an APDU start when joining a stream mid-APDU: one APDU's length.
MAX_RESYNC_SCAN = 2 + 255


def _ahead(a: int, b: int) -> int:
    """How far ``a`` is ahead of ``b`` modulo 2^15, as a signed distance in -2^14..2^14-1."""
    d = (a - b) % SEQ_MODULO
    return d - SEQ_MODULO if d >= _HALF else d


def _apdu_chain_start(data: bytes) -> int | None:
    """Where a chain of whole, well-formed APDUs running to the end of ``data`` begins (None: nowhere).

    Requiring the chain to end exactly with the segment keeps a stray 0x68 in other data from passing.
    """
    for skip in range(1, min(len(data), MAX_RESYNC_SCAN)):
        if data[skip] == START and looks_like_iec104(data[skip:]):
            return skip
    return None


class Iec104Analyzer(PduStreamAnalyzer):
    proto = "iec104"
    max_pdu = 2 + 255

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        # Per direction: the N(S) the next I-format APDU should carry (None until learned).
        self._next_send: list[int | None] = [None, None]
        # Per direction: the stream position is not known to be an APDU boundary (capture start, gap).
        self._realign = [True, True]
        self.skipped_octets = 0

    def pdu_length(self, head: bytes) -> int:
        return apdu_length(head)

    def data(self, direction: int, data: bytes, ts_ns: int, frame: int) -> None:
        if self._realign[direction] and data and not self._buf[direction]:
            if data[0] != START:
                skip = _apdu_chain_start(data)
                if skip is None:
                    if len(data) == 1:
                        # A capture that starts mid-connection can open a direction with a TCP keep-alive:
                        # one garbage octet below the next sequence number, which reassembly takes for data.
                        self.skipped_octets += 1
                    else:  # the base class decides: not IEC 104 at a flow's start, quiet drop after a gap
                        super().data(direction, data, ts_ns, frame)
                    return
                self.skipped_octets += skip  # joined mid-APDU: resume at the first chain of whole APDUs
                data = data[skip:]
            self._realign[direction] = False
        super().data(direction, data, ts_ns, frame)

    def gap(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        super().gap(direction, length, ts_ns, frame)
        self._realign[direction] = True
        self._next_send = [None, None]  # APDUs were lost in either order: relearn both sides

    def on_pdu(self, direction: int, pdu: bytes, ts_ns: int, frame: int) -> None:
        is_response = direction == 1
        apci = parse_apci(pdu)  # framing already checked the start and length octets
        if apci.problem is not None:
            self.anomaly(direction, ts_ns, frame, "malformed_apci", apci.problem, is_response)
        if apci.length > SPEC_MAX_APDU_LENGTH:
            self.anomaly(direction, ts_ns, frame, "oversized_apdu",
                         f"APDU length {apci.length} exceeds {SPEC_MAX_APDU_LENGTH}", is_response)
        self._track_sequence(direction, apci, ts_ns, frame)
        asdu = None
        if apci.format == "I" and len(pdu) > APCI_LEN:
            try:
                asdu = parse_asdu(pdu[APCI_LEN:])
            except Malformed as exc:
                self.anomaly(direction, ts_ns, frame, "truncated_asdu", str(exc), is_response)
            else:
                for reason, detail in asdu.problems:
                    self.anomaly(direction, ts_ns, frame, reason, detail, is_response)
        self.emit(self._event(direction, ts_ns, frame, apci, asdu))

    def _track_sequence(self, direction: int, apci: Apci, ts_ns: int, frame: int) -> None:
        is_response = direction == 1
        if apci.send_seq is not None:
            expected = self._next_send[direction]
            if expected is not None and apci.send_seq != expected:
                if _ahead(apci.send_seq, expected) < 0:
                    self.anomaly(direction, ts_ns, frame, "sequence_duplicate",
                                 f"N(S) {apci.send_seq} already used (expected {expected})", is_response)
                else:
                    self.anomaly(direction, ts_ns, frame, "sequence_gap",
                                 f"N(S) {apci.send_seq}, expected {expected}", is_response)
            self._next_send[direction] = (apci.send_seq + 1) % SEQ_MODULO
        peer_next = self._next_send[1 - direction]
        if apci.recv_seq is not None and peer_next is not None and _ahead(apci.recv_seq, peer_next) > 0:
            last = (peer_next - 1) % SEQ_MODULO
            self.anomaly(direction, ts_ns, frame, "ack_unsent",
                         f"N(R) {apci.recv_seq} acknowledges beyond the peer's last N(S) {last}", is_response)

    def _event(self, direction: int, ts_ns: int, frame: int, apci: Apci, asdu: Asdu | None) -> Iec104Event:
        event = Iec104Event(
            **self.ctx.header(direction, ts_ns, frame),
            is_response=direction == 1,
            apci=apci.format,
            send_seq=apci.send_seq,
            recv_seq=apci.recv_seq,
            u_function=u_function_name(apci.u_code) if apci.u_code is not None else None,
        )
        if asdu is None:
            return event
        objects = asdu.objects  # at most 127: the count is a 7-bit field
        first = objects[0] if objects else None
        event.type_id = asdu.type_id
        event.type_name = type_name(asdu.type_id)
        event.sq = asdu.sq
        event.num_objects = asdu.num_objects
        event.cot = asdu.cause
        event.cot_name = cause_name(asdu.cause)
        event.negative = asdu.negative
        event.test = asdu.test
        event.originator = asdu.originator
        event.common_address = asdu.common_address
        event.ioas = [o.ioa for o in objects]
        if any(o.value is not None for o in objects):
            event.values = [o.value for o in objects]
        if any(o.quality is not None for o in objects):
            event.quality = [o.quality for o in objects]
        if any(o.time is not None for o in objects):
            event.time_tags = [o.time for o in objects]
        if first is not None:
            event.select = first.select if asdu.type_id in SELECT_EXECUTE_TYPES else None
            event.qualifier = first.qualifier
        return event

"""What every analyzer shares: the flow it sits on, how it emits events, PDU framing over streams.

An analyzer turns bytes into typed events and decides nothing (inventory, detection and export
consume the events). It never raises: malformed input becomes an ``AnomalyEvent`` and the analyzer
resynchronises, or sets ``rejected`` so the dispatcher hands the flow back ("not this protocol").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.model.events import AnomalyEvent, Event

EventSink = Callable[[Event], None]
Transport = Literal["tcp", "udp", "ether"]

# How many consecutive malformed PDUs a stream tolerates before the analyzer gives the flow up.
MAX_CONSECUTIVE_MALFORMED = 8
# A stream analyzer never buffers more than this per direction while waiting for a PDU to complete.
MAX_PDU_BUFFER = 1 << 20
# pdu_length sees this many bytes of the PDU head: enough for every header we frame.
HEAD_BYTES = 64


@dataclass(frozen=True, slots=True)
class Resume:
    """What a compiled path (pipeline/fastlane.py) consumed of a flow before its analyzer takes over.

    ``messages``: whole messages (link frames for DNP3) counted; ``skipped``: bytes skipped before the first
    one; per direction (0 from orig): ``in_sync`` the last bytes were a good message, ``had_data`` bytes were
    seen at all; ``app``: the application protocol the bytes were recognised as."""

    messages: int
    skipped: int = 0
    in_sync: tuple[bool, bool] = (False, False)
    had_data: tuple[bool, bool] = (False, False)
    app: str | None = None


@dataclass(slots=True)
class FlowContext:
    """Who talks on this flow: the originator (client side) and the responder (server side)."""

    flow_id: str | None
    orig: str
    resp: str
    orig_port: int | None
    resp_port: int | None

    def header(self, direction: int, ts_ns: int, frame: int) -> dict[str, Any]:
        """The common event fields for a message sent in ``direction`` (0 from orig, 1 from resp)."""
        src, dst, sport, dport = self.ends(direction)
        return {"ts": ts_ns / 1e9, "src": src, "dst": dst, "sport": sport, "dport": dport,
                "flow_id": self.flow_id, "frame": frame}

    def ends(self, direction: int) -> tuple[str, str, int | None, int | None]:
        """``(src, dst, sport, dport)`` of a message sent in ``direction``.

        The analyzers of the busiest protocols build their events from these (with ``ts``, ``flow_id`` and
        ``frame``) rather than unpacking ``header``, and with at most 15 keyword arguments: the common and
        the required fields, the optional ones set after. Unpacking a dict into a call, or passing more than 15
        keywords (CPython then compiles the call to build a dict first), costs more than the rest of the event.
        """
        if direction == 0:
            return self.orig, self.resp, self.orig_port, self.resp_port
        return self.resp, self.orig, self.resp_port, self.orig_port


class Analyzer:
    """Base of all analyzers: one instance per flow (per frame source for layer 2)."""

    proto: ClassVar[str]

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        self.ctx = ctx
        self.emit = emit
        self.rejected = False
        self.messages = 0
        self.anomalies = 0

    def anomaly(self, direction: int, ts_ns: int, frame: int, reason: str, detail: str = "",
                is_response: bool | None = None) -> None:
        self.anomalies += 1
        self.emit(AnomalyEvent(**self.ctx.header(direction, ts_ns, frame), proto=self.proto,
                               is_response=direction == 1 if is_response is None else is_response,
                               anomaly=f"{self.proto}.{reason}", detail=detail))

    def end(self) -> None:
        """The flow ended (FIN/RST, timeout or end of input)."""

    def resume(self, state: Resume) -> None:
        """Continue a flow whose earlier messages a compiled path consumed: a bad message from here on is an
        anomaly, not "not this protocol". Analyzers with more state than a message count extend this."""
        self.messages = max(self.messages, state.messages)


class StreamAnalyzer(Analyzer):
    """An analyzer over a reassembled TCP byte stream, both directions."""

    def data(self, direction: int, data: bytes, ts_ns: int, frame: int) -> None:
        raise NotImplementedError

    def gap(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        """``length`` bytes of the stream were never captured."""


class DatagramAnalyzer(Analyzer):
    """An analyzer of UDP datagrams of one flow."""

    def datagram(self, direction: int, payload: bytes, ts_ns: int, frame: int) -> None:
        raise NotImplementedError


class FrameAnalyzer(Analyzer):
    """An analyzer of layer-2 frames (one instance for the whole run); ctx holds no flow."""

    def frame(self, src: str, dst: str, payload: bytes, ts_ns: int, frame: int) -> None:
        raise NotImplementedError


class PduStreamAnalyzer(StreamAnalyzer):
    """A stream analyzer for length-delimited PDUs (MBAP, TPKT, ENIP, APCI, OPC UA chunks...).

    Subclasses implement ``pdu_length`` (from the buffered head: the PDU's total length, or
    NeedMoreData / Malformed) and ``on_pdu``. Framing handles several PDUs per segment, PDUs across
    segments, bounded buffers, resynchronisation after gaps, and handing back a flow whose very first
    bytes are not this protocol.
    """

    max_pdu: ClassVar[int] = 65536

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self._buf = [bytearray(), bytearray()]
        self._resync = [False, False]
        self._bad_run = 0

    def pdu_length(self, head: bytes) -> int:
        """Total length of the PDU starting at ``head`` (at most HEAD_BYTES bytes of it)."""
        raise NotImplementedError

    def on_pdu(self, direction: int, pdu: bytes, ts_ns: int, frame: int) -> None:
        raise NotImplementedError

    def data(self, direction: int, data: bytes, ts_ns: int, frame: int) -> None:
        if self.rejected:
            return
        buf = self._buf[direction]
        if buf:  # a PDU was waiting for the rest of its bytes
            buf += data
            work = bytes(buf)
            buf.clear()
        else:  # the common case: the segment starts at a PDU boundary, parse it in place
            work = data
        pos, end = 0, len(work)
        max_pdu, pdu_length, on_pdu = self.max_pdu, self.pdu_length, self.on_pdu
        while pos < end:  # progress: every pass consumes bytes, waits for more, or stops
            try:
                length = pdu_length(work[pos : pos + HEAD_BYTES] if pos or end > HEAD_BYTES else work)
                if length <= 0 or length > max_pdu:
                    raise Malformed(f"PDU length {length} outside 1..{max_pdu}")
            except NeedMoreData:
                break
            except Malformed as exc:
                self._malformed(direction, ts_ns, frame, str(exc))
                return  # the rest of this chunk is dropped with the bad PDU
            if pos + length > end:
                break
            pdu = work if length == end else work[pos : pos + length]
            pos += length
            self._resync[direction] = False
            self._bad_run = 0
            self.messages += 1
            on_pdu(direction, pdu, ts_ns, frame)
            if self.rejected:
                return
        if pos < end:
            if end - pos > MAX_PDU_BUFFER:
                self.anomaly(direction, ts_ns, frame, "buffer_overflow",
                             f"{end - pos} bytes without a complete PDU")
                return
            buf += work[pos:]

    def _malformed(self, direction: int, ts_ns: int, frame: int, detail: str) -> None:
        if self._resync[direction]:
            return  # after a gap we expect to land mid-PDU: drop quietly until a PDU boundary
        if self.messages == 0:
            self.rejected = True  # the first bytes already do not fit: not this protocol
            return
        self._bad_run += 1
        self.anomaly(direction, ts_ns, frame, "malformed_framing", detail)
        if self._bad_run >= MAX_CONSECUTIVE_MALFORMED:
            self.rejected = True

    def gap(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        self._buf[direction].clear()
        self._resync[direction] = True


@dataclass(frozen=True, slots=True)
class AnalyzerSpec:
    """How the dispatcher finds an analyzer and how the conformance suite exercises it."""

    name: str
    transport: Transport
    factory: Callable[[FlowContext, EventSink], Analyzer]
    events: tuple[type[Event], ...]
    ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()
    # Recognise the protocol from a flow's first payload (any port); None: by port only.
    probe: Callable[[bytes], bool] | None = None
    # The pure wire parser entry point, fed random bytes by the fuzz tests: it may only raise DecodeError.
    wire_parse: Callable[[bytes], object] | None = None
    # A few valid payloads (a TCP stream's first bytes, a datagram, an L2 payload) for mutation fuzzing.
    samples: tuple[bytes, ...] = ()
    # For a TCP protocol that also runs over UDP on the same ports (DNP3, ENIP): its datagram analyzer.
    datagram_factory: Callable[[FlowContext, EventSink], Analyzer] | None = None
    # Event protos this analyzer emits when not just ``name`` (S7comm's port also carries S7comm-plus).
    protos: frozenset[str] = frozenset()

    @property
    def event_protos(self) -> frozenset[str]:
        return self.protos or frozenset({self.name})

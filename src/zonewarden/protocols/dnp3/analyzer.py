"""DNP3 analyzers: link frames (CRC checked) -> transport reassembly -> application fragments -> events.

Over TCP the byte stream is framed on the 0x0564 start bytes and the link length, resynchronising on
the next start bytes after garbage or a failed header CRC; over UDP each datagram holds whole frames.
Both share the same link/transport/application handling (``Dnp3Session``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.base import (
    Analyzer,
    DatagramAnalyzer,
    EventSink,
    FlowContext,
    Resume,
    StreamAnalyzer,
)
from zonewarden.protocols.dnp3.codes import (
    ATTR_DEVICE_NAME,
    ATTR_HARDWARE_VERSION,
    ATTR_LOCATION,
    ATTR_MANUFACTURER,
    ATTR_PRODUCT,
    ATTR_SERIAL_NUMBER,
    ATTR_SOFTWARE_VERSION,
    FC_CONFIRM,
    FC_UNSOLICITED,
    LINK_NO_DATA,
    SA_VARIATIONS,
    attribute_name,
    function_name,
    iin_names,
    link_function_name,
)
from zonewarden.protocols.dnp3.events import Dnp3Event
from zonewarden.protocols.dnp3.wire_app import Apdu, parse_apdu
from zonewarden.protocols.dnp3.wire_link import (
    MAX_FRAME,
    START,
    BadCrc,
    LinkFrame,
    LinkHeader,
    parse_link_frame,
    parse_transport,
)

# IEEE 1815's default maximum fragment size: devices may be configured for more, so passing it is
# reported once per fragment, and the reassembly goes on up to MAX_FRAGMENT, past which it is dropped.
DEFAULT_MAX_FRAGMENT = 2048
MAX_FRAGMENT = 65536
# Transport reassemblies in progress per flow (one per direction and link address pair).
MAX_REASSEMBLIES = 16
# Requests awaiting their response per flow.
MAX_PENDING = 64
# Bytes skipped before the first valid frame after which a flow is declared not DNP3.
MAX_UNSYNCED_SKIP = 1024


@dataclass(slots=True)
class _Reassembly:
    next_seq: int
    data: bytearray = field(default_factory=bytearray)
    segments: int = 0
    oversized: bool = False


@dataclass(slots=True)
class _Request:
    function_code: int
    frame: int


def _text(value: int | float | str | None) -> str | None:
    return None if value is None else str(value)


class Dnp3Session(Analyzer):
    """What TCP and UDP share: one flow's link frames, transport reassembly and request matching."""

    proto = "dnp3"

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self._reassembly: OrderedDict[tuple[int, int, int], _Reassembly] = OrderedDict()
        self._pending: OrderedDict[tuple[int, int, int, int], _Request] = OrderedDict()
        self._done: OrderedDict[tuple[int, int, int], int] = OrderedDict()
        self.frames = 0

    # ---- link layer
    def link_frame(self, direction: int, lf: LinkFrame, ts_ns: int, frame: int) -> None:
        self.frames += 1
        h = lf.header
        if not lf.user_data or h.function in LINK_NO_DATA:
            if lf.user_data:
                self.anomaly(direction, ts_ns, frame, "unexpected_link_data",
                             f"link function {h.function} carries {len(lf.user_data)} user data bytes", not h.prm)
            self.emit(self._event(direction, h, ts_ns, frame, None, 0, 0))
            return
        seg = parse_transport(lf.user_data)
        key = (direction, h.src, h.dst)
        r = self._reassembly.get(key)
        if r is not None and seg.seq == (r.next_seq - 1) % 64 and (not seg.fir or r.segments == 1):
            return  # a link-layer retry of the segment just received: already have it
        if seg.fir:
            if r is not None:
                del self._reassembly[key]
                self.anomaly(direction, ts_ns, frame, "transport_incomplete",
                             f"new first segment from {h.src} to {h.dst} before the last one of the previous "
                             f"fragment ({r.segments} segments dropped)", not h.prm)
            if seg.fin:
                self._completed(key, seg.seq)
                self._fragment(direction, h, seg.payload, 1, ts_ns, frame)
                return
            r = self._reassembly[key] = _Reassembly(seg.seq)
            if len(self._reassembly) > MAX_REASSEMBLIES:
                self._reassembly.popitem(last=False)
                self.anomaly(direction, ts_ns, frame, "too_many_reassemblies",
                             f"more than {MAX_REASSEMBLIES} transport reassemblies in progress", not h.prm)
        elif r is None:
            if self._done.get(key) != seg.seq:  # else a retry of the last segment of a completed fragment
                self.anomaly(direction, ts_ns, frame, "transport_sequence",
                             f"segment {seg.seq} from {h.src} to {h.dst} without a first segment", not h.prm)
            return
        elif seg.seq != r.next_seq:
            del self._reassembly[key]
            self.anomaly(direction, ts_ns, frame, "transport_sequence",
                         f"segment {seg.seq} from {h.src} to {h.dst}, expected {r.next_seq}", not h.prm)
            return
        r.data += seg.payload
        r.segments += 1
        r.next_seq = (seg.seq + 1) % 64
        if len(r.data) > DEFAULT_MAX_FRAGMENT and not r.oversized:
            r.oversized = True
            self.anomaly(direction, ts_ns, frame, "oversized_fragment",
                         f"transport reassembly from {h.src} to {h.dst} past {DEFAULT_MAX_FRAGMENT} bytes "
                         f"(the default maximum fragment size)", not h.prm)
        if len(r.data) > MAX_FRAGMENT:
            del self._reassembly[key]
            self.anomaly(direction, ts_ns, frame, "fragment_too_large",
                         f"transport reassembly past {MAX_FRAGMENT} bytes from {h.src} to {h.dst}: dropped", not h.prm)
            return
        if seg.fin:
            del self._reassembly[key]
            self._completed(key, seg.seq)
            self._fragment(direction, h, bytes(r.data), r.segments, ts_ns, frame)

    def _completed(self, key: tuple[int, int, int], seq: int) -> None:
        """Remember the last segment of each completed fragment, to recognise a link-layer retry of it."""
        self._done.pop(key, None)
        self._done[key] = seq
        if len(self._done) > MAX_REASSEMBLIES:
            self._done.popitem(last=False)

    # ---- application layer
    def _fragment(self, direction: int, h: LinkHeader, data: bytes, segments: int, ts_ns: int, frame: int) -> None:
        try:
            apdu = parse_apdu(data)
        except (NeedMoreData, Malformed) as exc:
            self.anomaly(direction, ts_ns, frame, "truncated_apdu", f"{len(data)} byte fragment: {exc}", not h.prm)
            return
        for kind, detail in apdu.problems:
            self.anomaly(direction, ts_ns, frame, kind, detail, apdu.is_response)
        request: _Request | None = None
        fc = apdu.function_code
        if apdu.is_response:
            if fc != FC_UNSOLICITED:
                request = self._pending.pop((1 - direction, h.dst, h.src, apdu.seq), None)
        elif fc != FC_CONFIRM:
            key = (direction, h.src, h.dst, apdu.seq)
            self._pending.pop(key, None)
            self._pending[key] = _Request(fc, frame)
            if len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)
                self.anomaly(direction, ts_ns, frame, "too_many_outstanding",
                             f"more than {MAX_PENDING} requests without response", False)
        self.emit(self._event(direction, h, ts_ns, frame, apdu, len(data), segments, request))

    def _event(self, direction: int, h: LinkHeader, ts_ns: int, frame: int, apdu: Apdu | None, size: int,
               segments: int, request: _Request | None = None) -> Dnp3Event:
        ctx, prm = self.ctx, h.prm
        src, dst, sport, dport = ctx.ends(direction)
        event = Dnp3Event(  # the common and link fields; at most 15 keywords (see FlowContext.ends)
            ts=ts_ns / 1e9, src=src, dst=dst, sport=sport, dport=dport,
            is_response=not prm if apdu is None else apdu.is_response, flow_id=ctx.flow_id, frame=frame,
            link_src=h.src, link_dst=h.dst, link_function=h.function,
            link_function_name=link_function_name(h.function, prm), link_primary=prm, link_dir=h.dir,
        )
        if apdu is None:  # a link-layer frame without user data
            return event
        fc = apdu.function_code
        event.function_code = fc
        event.function = function_name(fc)
        event.seq, event.fir, event.fin, event.con, event.uns = apdu.seq, apdu.fir, apdu.fin, apdu.con, apdu.uns
        event.unsolicited = fc == FC_UNSOLICITED
        if apdu.iin is not None:
            event.iin = apdu.iin
            event.iin_flags = iin_names(apdu.iin)
        event.objects = apdu.objects
        event.qualifiers = [o.qualifier for o in apdu.headers]
        event.ranges = [list(o.range) for o in apdu.headers]
        event.points = apdu.points or None
        event.points_total = apdu.points_total
        event.fragment_size = size
        event.segments = segments
        # The fields below are absent from most messages: set only when present (null otherwise, as declared).
        attrs = apdu.attributes
        if attrs:
            event.device_attributes = {attribute_name(k): v for k, v in sorted(attrs.items())}
            if apdu.is_response:
                # Identity comes from the outstation describing itself; a master writing g0 attributes (location,
                # device name) stays in device_attributes only, or the outstation's identity would land on the
                # master.
                event.vendor_name = _text(attrs.get(ATTR_MANUFACTURER))
                event.product_name = _text(attrs.get(ATTR_PRODUCT))
                event.software_version = _text(attrs.get(ATTR_SOFTWARE_VERSION))
                event.hardware_version = _text(attrs.get(ATTR_HARDWARE_VERSION))
                event.serial_number = _text(attrs.get(ATTR_SERIAL_NUMBER))
                event.device_name = _text(attrs.get(ATTR_DEVICE_NAME))
                event.location = _text(attrs.get(ATTR_LOCATION))
        if apdu.sa_variation is not None:
            event.secure_auth = SA_VARIATIONS.get(apdu.sa_variation, f"unknown-{apdu.sa_variation}")
            event.auth_user = apdu.auth_user
            event.auth_error = apdu.auth_error
        if apdu.file_name is not None:
            event.file_name = apdu.file_name
        if request is not None:
            event.request_function = request.function_code
            event.request_frame = request.frame
        return event

    # ---- framing of a run of bytes into link frames (a TCP buffer or a UDP datagram)
    def frames_in(self, direction: int, buf: bytes | bytearray, ts_ns: int, frame: int, final: bool) -> int:
        """Parse the link frames in ``buf``; returns the bytes consumed (the rest waits for more data unless
        ``final``, when it is reported as a truncated frame)."""
        pos = 0
        while len(buf) - pos >= 2:  # progress: every pass consumes at least one byte or stops
            if buf[pos : pos + 2] != START:
                idx = buf.find(START, pos + 1)
                end = idx if idx >= 0 else (len(buf) - 1 if buf[-1] == START[0] and not final else len(buf))
                self.garbage(direction, end - pos, ts_ns, frame)
                pos = end
                if self.rejected:
                    return pos
                continue
            try:
                lf = parse_link_frame(bytes(buf[pos : pos + MAX_FRAME]))
            except NeedMoreData:
                break
            except BadCrc as exc:
                if exc.frame_size is not None:  # the header is sound, a user data block is not: drop the frame
                    self.in_sync(direction)
                    self.anomaly(direction, ts_ns, frame, "bad_crc", str(exc))
                    pos += exc.frame_size
                elif self.syncing(direction) and not (pos == 0 and self.at_boundary(direction)):
                    self.garbage(direction, 2, ts_ns, frame)  # start bytes by chance, not a frame
                    pos += 2
                else:
                    self.anomaly(direction, ts_ns, frame, "bad_crc", str(exc))
                    pos += 2  # the length is not trustworthy: resynchronise on the next start bytes
                if self.rejected:
                    return pos
                continue
            except Malformed as exc:  # a sound header with a length below 5
                self.anomaly(direction, ts_ns, frame, "bad_length", str(exc))
                pos += 2
                continue
            pos += lf.size
            self.in_sync(direction)
            self.link_frame(direction, lf, ts_ns, frame)
        if final and pos < len(buf):
            self.anomaly(direction, ts_ns, frame, "truncated_frame",
                         f"{len(buf) - pos} bytes at the end of the datagram are not a whole link frame")
            pos = len(buf)
        return pos

    def garbage(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        """``length`` bytes that are not a link frame."""
        raise NotImplementedError

    def syncing(self, direction: int) -> bool:
        """True while looking for the first frame (stream start, after a gap or garbage)."""
        raise NotImplementedError

    def in_sync(self, direction: int) -> None:
        """A sound link header was found in ``direction``."""

    def at_boundary(self, direction: int) -> bool:
        """True when the bytes being framed start where a frame must start (a stream's first byte, a
        datagram): start bytes there with a failed CRC are a corrupt frame, not a chance match."""
        raise NotImplementedError


class Dnp3Analyzer(Dnp3Session, StreamAnalyzer):
    """DNP3 over TCP (port 20000, or recognised by a valid link header)."""

    def __init__(self, ctx: FlowContext, emit: EventSink) -> None:
        super().__init__(ctx, emit)
        self._buf = [bytearray(), bytearray()]
        self._quiet = [True, True]  # resynchronising (stream start, after a gap): skip garbage silently
        self._fresh = [True, True]  # nothing received yet in this direction
        self._skipped = 0

    def data(self, direction: int, data: bytes, ts_ns: int, frame: int) -> None:
        if self.rejected:
            return
        buf = self._buf[direction]
        if buf:  # part of a frame was waiting for the rest
            buf += data
            used = self.frames_in(direction, buf, ts_ns, frame, final=False)
            del buf[:used]
        else:  # the common case: frame the segment in place, keep only what is left over
            used = self.frames_in(direction, data, ts_ns, frame, final=False)
            buf += data[used:]
        self._fresh[direction] = False

    def resume(self, state: Resume) -> None:
        super().resume(state)
        self.frames = max(self.frames, state.messages)
        self._skipped = max(self._skipped, state.skipped)
        for d in range(2):
            if state.in_sync[d]:
                self._quiet[d] = False
            if state.had_data[d]:
                self._fresh[d] = False

    def syncing(self, direction: int) -> bool:
        return self._quiet[direction]

    def in_sync(self, direction: int) -> None:
        self._quiet[direction] = False

    def at_boundary(self, direction: int) -> bool:
        # A direction's first bytes start a frame unless the capture began mid-connection; 0564 there with
        # a bad CRC is far likelier a corrupt frame than a chance match inside one.
        return self._fresh[direction]

    def garbage(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        if self._quiet[direction]:
            if self.frames == 0:
                self._skipped += length
                if self._skipped > MAX_UNSYNCED_SKIP:
                    self.rejected = True  # no link frame in the first KiB: not DNP3
            return
        self._quiet[direction] = True  # one anomaly per run of garbage, until the next good frame
        self.anomaly(direction, ts_ns, frame, "garbage", f"{length}+ bytes that are not a DNP3 link frame")

    def gap(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        self._buf[direction].clear()
        self._quiet[direction] = True


class Dnp3DatagramAnalyzer(Dnp3Session, DatagramAnalyzer):
    """DNP3 over UDP (port 20000): each datagram carries whole link frames."""

    def datagram(self, direction: int, payload: bytes, ts_ns: int, frame: int) -> None:
        if self.rejected:
            return
        self.frames_in(direction, payload, ts_ns, frame, final=True)

    def syncing(self, direction: int) -> bool:
        return self.frames == 0

    def at_boundary(self, direction: int) -> bool:
        return True

    def garbage(self, direction: int, length: int, ts_ns: int, frame: int) -> None:
        if self.frames == 0:
            self.rejected = True  # the flow's first datagram does not start with a frame: not DNP3
            return
        self.anomaly(direction, ts_ns, frame, "garbage", f"{length} bytes that are not a DNP3 link frame")

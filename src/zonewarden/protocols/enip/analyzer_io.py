"""Connected (implicit) I/O over UDP 2222: one event per datagram with its connection id and sequence.

Class 0/1 I/O runs at the connection's packet interval (often every few milliseconds), so the
analyzer keeps no per-packet state; the data it reports is capped at MAX_IO_DATA bytes.
"""

from __future__ import annotations

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.base import DatagramAnalyzer
from zonewarden.protocols.enip.events import EnipIoEvent
from zonewarden.protocols.enip.wire_encap import parse_io_datagram

MAX_IO_DATA = 512


class EnipIoAnalyzer(DatagramAnalyzer):
    proto = "enip_io"

    def datagram(self, direction: int, payload: bytes, ts_ns: int, frame: int) -> None:
        if self.rejected:
            return
        try:
            io = parse_io_datagram(payload)
        except (Malformed, NeedMoreData) as exc:
            if self.messages == 0:
                self.rejected = True  # the flow's first datagram is not CIP I/O
            else:
                self.anomaly(direction, ts_ns, frame, "malformed_datagram", str(exc))
            return
        self.messages += 1
        self.emit(EnipIoEvent(**self.ctx.header(direction, ts_ns, frame), is_response=direction == 1,
                              connection_id=io.connection_id, sequence=io.sequence, data_length=len(io.data),
                              data=io.data[:MAX_IO_DATA].hex()))

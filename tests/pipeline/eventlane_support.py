"""Driving one event-lane encoder by hand, against the Python analyzer of the same protocol.

``Pair`` feeds the same payloads to a Python analyzer (events encoded by msgspec, as `zonewarden events`
writes them) and to a compiled encoder (through a header row as the lane builds it), so a test compares
the two byte for byte, or checks that the encoder refuses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from zonewarden.flow.table import flow_id_text
from zonewarden.pipeline import eventlane_layout as E
from zonewarden.pipeline.eventlane_kernel import write_header
from zonewarden.protocols.base import FlowContext

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
FID = 0x1234ABCD5678EF90
TS = 1_600_000_000_123_456_000


class Pair:
    def __init__(self, proto: int, analyzer: Callable[[FlowContext, Callable[[Any], None]], Any],
                 encoder: Callable[..., tuple[int, int]], client_port: int, server_port: int) -> None:
        self.events: list[Any] = []
        self.analyzer = analyzer(FlowContext(flow_id_text(FID), CLIENT, SERVER, client_port, server_port),
                                 self.events.append)
        self.encoder = encoder
        self.hdr = np.zeros(E.N_UBYTES, np.uint8)
        write_header(self.hdr, proto, int(ipaddress.IPv4Address(CLIENT)), int(ipaddress.IPv4Address(SERVER)),
                     client_port, server_port, np.uint64(FID))
        self.st = np.zeros(E.ST_COLS, np.int64)
        self.sb = np.zeros(E.SB_BYTES, np.uint8)
        self.out = np.zeros(1 << 20, np.uint8)
        self.frame = 0

    def python(self, side: int, payload: bytes) -> bytes:
        self.events.clear()
        self.analyzer.data(side, payload, TS + self.frame, self.frame)
        return msgspec.json.Encoder().encode_lines(self.events) if self.events else b""

    def lane(self, side: int, payload: bytes) -> tuple[int, bytes]:
        data = np.frombuffer(b"\0\0" + payload, np.uint8)  # (not at offset 0, as in a frame)
        status, pos = self.encoder(data, 2, data.shape[0], side, TS + self.frame, self.frame, self.hdr, self.st,
                                   self.sb, self.out, 0)
        return status, self.out[:pos].tobytes()

    def both(self, side: int, payload: bytes) -> tuple[bytes, tuple[int, bytes]]:
        """The frame's events from each side (the encoder's state is kept only when it accepted)."""
        self.frame += 1
        st, sb = self.st.copy(), self.sb.copy()
        lane = self.lane(side, payload)
        if lane[0] != E.ENC_OK:
            self.st, self.sb = st, sb
        return self.python(side, payload), lane

    def same(self, side: int, payload: bytes) -> bytes:
        """Assert the encoder writes what the analyzer emits for ``payload``; returns those bytes."""
        python, (status, lane) = self.both(side, payload)
        assert status == E.ENC_OK
        assert lane == python
        return lane

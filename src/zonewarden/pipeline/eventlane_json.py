"""Writing Event JSON in compiled code: what the event lane's encoders share beyond json_bytes.

``zonewarden events`` writes each event as msgspec encodes the event's Struct. The byte-level helpers
(literals, integers, names, hex, addresses, timestamps) are json_bytes', shared with the Flow JSONL
writer; here are the pieces every event shares. The parity tests compare the lane's output with msgspec's
byte for byte.
"""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.json_bytes import UNCOUNTED, lit, write_bool, write_bytes, write_slice, write_ts, write_uint
from zonewarden.pipeline.eventlane_layout import FLOW_BYTES, H_ANOMALY, H_FLOW, H_SIDE, H_SIDE_BYTES

__all__ = ["ANOMALY", "TS_OPEN", "be16", "begin_anomaly", "begin_event"]


@njit(**UNCOUNTED)
def be16(data, k):  # type: ignore[no-untyped-def]
    """The big-endian 16-bit unsigned integer at data[k]."""
    return (np.int64(data[k]) << 8) | data[k + 1]


TS_OPEN = lit('{"ts":')


@njit(**UNCOUNTED)
def begin_event(out, pos, hdr, side, ts_ns, is_response, frame):  # type: ignore[no-untyped-def]
    """An event's common fields, from ``{`` through ``"frame":<frame>`` (the encoder goes on with
    ``,"<its first field>":...`` and ends with ``}`` and a newline). ``hdr``: the flow's header row
    (eventlane_layout H_*), ``side`` who sent the message (0 the flow's client, 1 its server)."""
    pos = write_bytes(out, pos, TS_OPEN)
    pos = write_ts(out, pos, ts_ns)
    start = H_SIDE + side * H_SIDE_BYTES
    pos = write_slice(out, pos, hdr, start + 1, start + 1 + hdr[start])
    pos = write_bool(out, pos, is_response)
    pos = write_slice(out, pos, hdr, H_FLOW, H_FLOW + FLOW_BYTES)
    return write_uint(out, pos, frame)


ANOMALY = lit("anomaly")


@njit(**UNCOUNTED)
def begin_anomaly(out, pos, hdr, side, ts_ns, is_response, frame):  # type: ignore[no-untyped-def]
    """begin_event for an AnomalyEvent: the same fields with ``"kind":"anomaly"`` (the encoder goes on with
    ``,"anomaly":"<proto>.<reason>","detail":"..."}`` and a newline). Marks the flow (hdr[H_ANOMALY])."""
    hdr[H_ANOMALY] = 1
    start = pos
    pos = begin_event(out, pos, hdr, side, ts_ns, is_response, frame)
    # The header piece says "kind":"message"; "anomaly" has as many letters. Its place: after the proto name.
    piece = H_SIDE + side * H_SIDE_BYTES + 1
    p = piece + 10  # ,"proto":"
    while hdr[p] != 34:
        p += 1
    ts_end = start + 6
    while out[ts_end] != 44:  # the comma after the ts digits
        ts_end += 1
    at = ts_end + (p - piece) + 10  # ","kind":"
    for k in range(7):
        out[at + k] = ANOMALY[k]
    return pos

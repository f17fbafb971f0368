"""DNP3 (IEEE 1815-2012) over TCP: link frames with their CRCs, transport segments, application fragments.

Object encoders cover what a master and an outstation exchange in a substation: class polls, static and
event data, CROB controls, restarts, unsolicited control and device attributes (group 0).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

PORT = 20000
CONFIRM, READ, WRITE, SELECT, OPERATE, DIRECT_OPERATE = 0, 1, 2, 3, 4, 5
COLD_RESTART, ENABLE_UNSOLICITED, DISABLE_UNSOLICITED = 13, 20, 21
RESPONSE, UNSOLICITED_RESPONSE = 129, 130
LINK_UNCONFIRMED_DATA, LINK_REQUEST_STATUS, LINK_STATUS = 4, 9, 11
IIN_DEVICE_RESTART = 0x8000
IIN_CLASS1, IIN_CLASS2 = 0x0200, 0x0400
QUAL_ALL, QUAL_RANGE8, QUAL_COUNT8, QUAL_INDEX16 = 0x06, 0x00, 0x07, 0x28
VSTR = 1  # group 0 data type code: visible string


def _crc_table() -> list[int]:
    # CRC-16/DNP: polynomial 0x3D65, processed LSB first (reflected 0xA6BC), result complemented.
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc(data: bytes) -> int:
    value = 0
    for byte in data:
        value = (value >> 8) ^ _TABLE[(value ^ byte) & 0xFF]
    return ~value & 0xFFFF


def _with_crc(block: bytes) -> bytes:
    return block + struct.pack("<H", crc(block))


def link_frame(control: int, dst: int, src: int, user_data: bytes = b"") -> bytes:
    """One FT3 frame: header block (start 0x0564, length, control, addresses) and 16-byte data blocks, each
    followed by its CRC. ``length`` counts control, addresses and user data, not the CRCs."""
    if len(user_data) > 250:
        raise ValueError("a link frame carries at most 250 octets of user data")
    header = _with_crc(struct.pack("<BBBBHH", 0x05, 0x64, 5 + len(user_data), control, dst, src))
    return header + b"".join(_with_crc(user_data[i : i + 16]) for i in range(0, len(user_data), 16))


def link_control(*, from_master: bool, primary: bool, function: int) -> int:
    return (0x80 if from_master else 0) | (0x40 if primary else 0) | function


def frames(app: bytes, dst: int, src: int, *, from_master: bool, transport_seq: int) -> bytes:
    """An application fragment split into transport segments (249 octets each), one link frame per segment."""
    control = link_control(from_master=from_master, primary=True, function=LINK_UNCONFIRMED_DATA)
    chunks = [app[i : i + 249] for i in range(0, len(app), 249)] or [b""]
    out = b""
    for n, chunk in enumerate(chunks):
        th = (0x40 if n == 0 else 0) | (0x80 if n == len(chunks) - 1 else 0) | ((transport_seq + n) & 0x3F)
        out += link_frame(control, dst, src, bytes([th]) + chunk)
    return out


def app_control(seq: int, *, fir: bool = True, fin: bool = True, con: bool = False, uns: bool = False) -> int:
    return (0x80 if fir else 0) | (0x40 if fin else 0) | (0x20 if con else 0) | (0x10 if uns else 0) | (seq & 0x0F)


def request(seq: int, function: int, objects: bytes = b"", *, uns: bool = False) -> bytes:
    return bytes([app_control(seq, uns=uns), function]) + objects


def response(seq: int, iin: int, objects: bytes = b"", *, con: bool = False, unsolicited: bool = False) -> bytes:
    function = UNSOLICITED_RESPONSE if unsolicited else RESPONSE
    return bytes([app_control(seq, con=con, uns=unsolicited), function]) + struct.pack(">H", iin) + objects


# --- object headers and objects ---


def all_objects(group: int, variation: int) -> bytes:
    return bytes([group, variation, QUAL_ALL])


def class_poll(classes: Sequence[int]) -> bytes:
    """Read class 1-3 events and/or class 0 (static data), e.g. ``(1, 2, 3, 0)`` for an integrity poll."""
    return b"".join(all_objects(60, 1 if c == 0 else c + 1) for c in classes)


def binary_inputs(start: int, states: Sequence[bool]) -> bytes:
    """g1v2 binary input with flags: ONLINE (0x01), state in bit 7."""
    body = bytes(0x81 if s else 0x01 for s in states)
    return bytes([1, 2, QUAL_RANGE8, start, start + len(states) - 1]) + body


def binary_outputs(start: int, states: Sequence[bool]) -> bytes:
    """g10v2 binary output status with flags."""
    body = bytes(0x81 if s else 0x01 for s in states)
    return bytes([10, 2, QUAL_RANGE8, start, start + len(states) - 1]) + body


def analog_inputs(start: int, values: Sequence[int]) -> bytes:
    """g30v1 32-bit analog input with flags (ONLINE)."""
    body = b"".join(struct.pack("<Bi", 0x01, v) for v in values)
    return bytes([30, 1, QUAL_RANGE8, start, start + len(values) - 1]) + body


def analog_inputs_float(start: int, values: Sequence[float]) -> bytes:
    """g30v5 single-precision analog input with flags."""
    body = b"".join(struct.pack("<Bf", 0x01, v) for v in values)
    return bytes([30, 5, QUAL_RANGE8, start, start + len(values) - 1]) + body


def counters(start: int, values: Sequence[int]) -> bytes:
    """g20v1 32-bit counter with flags."""
    body = b"".join(struct.pack("<BI", 0x01, v & 0xFFFFFFFF) for v in values)
    return bytes([20, 1, QUAL_RANGE8, start, start + len(values) - 1]) + body


def _time48(ms: int) -> bytes:
    return (ms & 0xFFFFFFFFFFFF).to_bytes(6, "little")


def binary_events(events: Sequence[tuple[int, bool, int]]) -> bytes:
    """g2v2 binary input events with absolute time, ``(index, state, epoch ms)``, 16-bit index prefix."""
    body = b"".join(struct.pack("<HB", i, 0x81 if s else 0x01) + _time48(t) for i, s, t in events)
    return struct.pack("<BBBH", 2, 2, QUAL_INDEX16, len(events)) + body


def analog_events(events: Sequence[tuple[int, int, int]]) -> bytes:
    """g32v3 32-bit analog input events with time, ``(index, value, epoch ms)``."""
    body = b"".join(struct.pack("<HBi", i, 0x01, v) + _time48(t) for i, v, t in events)
    return struct.pack("<BBBH", 32, 3, QUAL_INDEX16, len(events)) + body


def crob(index: int, close: bool, *, status: int = 0, on_ms: int = 1000) -> bytes:
    """g12v1 control relay output block: pulse on, trip/close pairs (0x41 close, 0x81 trip)."""
    code = 0x41 if close else 0x81
    return struct.pack("<BBBHHBBIIB", 12, 1, QUAL_INDEX16, 1, index, code, 1, on_ms, 0, status)


def time_delay_fine(ms: int) -> bytes:
    """g52v2 time delay (fine), the answer to a restart request."""
    return struct.pack("<BBBBH", 52, 2, QUAL_COUNT8, 1, ms)


def write_time(epoch_ms: int) -> bytes:
    """g50v1 absolute time, count qualifier 1: the master setting the outstation clock."""
    return bytes([50, 1, QUAL_COUNT8, 1]) + _time48(epoch_ms)


def clear_restart() -> bytes:
    """g80v1 internal indications, index 7 (device restart) written to 0."""
    return bytes([80, 1, QUAL_RANGE8, 7, 7, 0x00])


def device_attribute_request() -> bytes:
    """Read g0v254: all device attributes of set 0."""
    return bytes([0, 254, QUAL_ALL])


def device_attributes(attributes: Sequence[tuple[int, str]]) -> bytes:
    """Group 0 objects (variation = attribute number), each: set 0 range, data type, length, value."""
    out = b""
    for variation, text in attributes:
        value = text.encode()
        out += bytes([0, variation, QUAL_RANGE8, 0, 0, VSTR, len(value)]) + value
    return out


# Group 0 attribute numbers (IEEE 1815-2012 table 11-1).
ATTR_SOFTWARE_VERSION = 242
ATTR_HARDWARE_VERSION = 243
ATTR_LOCATION = 245
ATTR_DEVICE_NAME = 247
ATTR_SERIAL_NUMBER = 248
ATTR_PRODUCT_NAME = 250
ATTR_MANUFACTURER = 252

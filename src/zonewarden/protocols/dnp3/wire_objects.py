"""DNP3 data objects: how many bytes each group/variation takes, and what its points say.

Pure tables and decoders (IEEE 1815-2012 annex A). A fixed-size object is described by a layout string,
one letter per field:

    f flags octet            q flags octet whose bit 7 is the binary state     d flags, state in bits 6-7
    c command status, state in bit 7      s control status octet               B unsigned 8-bit value
    u unsigned 16-bit value  i signed 16-bit value   U unsigned 32-bit value   I signed 32-bit value
    F 32-bit float value     D 64-bit float value    T 48-bit absolute time    R 16-bit relative time
    C control relay output block (11 octets)         x an octet not decoded

Packed objects (one or two bits per point), octet strings (the variation is the length), device
attributes (g0: type, length, value) and size-prefixed objects are handled by the walker in wire_app.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from zonewarden.protocols.dnp3.events import Dnp3Point

_FIELD_SIZE = {"f": 1, "q": 1, "d": 1, "c": 1, "s": 1, "B": 1, "x": 1, "u": 2, "i": 2, "R": 2, "U": 4, "I": 4,
               "F": 4, "D": 8, "T": 6, "C": 11}

_COUNTER = {1: "fU", 2: "fu", 3: "fU", 4: "fu", 5: "fUT", 6: "fuT", 7: "fUT", 8: "fuT"}
_ANALOG_EVENT = {1: "fI", 2: "fi", 3: "fIT", 4: "fiT", 5: "fF", 6: "fD", 7: "fFT", 8: "fDT"}

LAYOUTS: dict[tuple[int, int], str] = {
    (1, 2): "q",
    (2, 1): "q", (2, 2): "qT", (2, 3): "qR",
    (3, 2): "d",
    (4, 1): "d", (4, 2): "dT", (4, 3): "dR",
    (10, 2): "q",
    (11, 1): "q", (11, 2): "qT",
    (12, 1): "C", (12, 2): "C",
    (13, 1): "c", (13, 2): "cT",
    **{(20, v): layout for v, layout in {1: "fU", 2: "fu", 3: "fU", 4: "fu", 5: "U", 6: "u", 7: "U",
                                          8: "u"}.items()},
    **{(21, v): layout for v, layout in {**_COUNTER, 9: "U", 10: "u", 11: "U", 12: "u"}.items()},
    **{(22, v): layout for v, layout in _COUNTER.items()},
    **{(23, v): layout for v, layout in _COUNTER.items()},
    **{(30, v): layout for v, layout in {1: "fI", 2: "fi", 3: "I", 4: "i", 5: "fF", 6: "fD"}.items()},
    **{(31, v): layout for v, layout in {1: "fI", 2: "fi", 3: "fIT", 4: "fiT", 5: "I", 6: "i", 7: "fF",
                                          8: "fD"}.items()},
    **{(32, v): layout for v, layout in _ANALOG_EVENT.items()},
    **{(33, v): layout for v, layout in _ANALOG_EVENT.items()},
    (34, 1): "u", (34, 2): "U", (34, 3): "F",
    (40, 1): "fI", (40, 2): "fi", (40, 3): "fF", (40, 4): "fD",
    (41, 1): "Is", (41, 2): "is", (41, 3): "Fs", (41, 4): "Ds",
    **{(42, v): layout for v, layout in _ANALOG_EVENT.items()},
    **{(43, v): layout for v, layout in {1: "sI", 2: "si", 3: "sIT", 4: "siT", 5: "sF", 6: "sD", 7: "sFT",
                                          8: "sDT"}.items()},
    (50, 1): "T", (50, 2): "TU", (50, 3): "T", (50, 4): "TUB",
    (51, 1): "T", (51, 2): "T",
    (52, 1): "u", (52, 2): "u",
    (101, 1): "xx", (101, 2): "xxxx", (101, 3): "xxxxxxxx",
    (102, 1): "B",
    (120, 3): "Uu", (120, 4): "u",
    (121, 1): "fuU",
    (122, 1): "fuU", (122, 2): "fuUT",
}

SIZES: dict[tuple[int, int], int] = {gv: sum(_FIELD_SIZE[c] for c in layout) for gv, layout in LAYOUTS.items()}

# One bit per point: binary input/output, pattern mask, internal indications.
PACKED_1BIT = frozenset({(1, 1), (10, 1), (12, 3), (80, 1)})
# Two bits per point: double-bit binary input.
PACKED_2BIT = frozenset({(3, 1)})
# Groups whose variation is the length of each point's octet string.
OCTET_GROUPS = frozenset({110, 111, 112, 113})
CLASS_GROUP = 60
# "Any variation" headers that name points without carrying data even in a response or write (as
# Wireshark reads them); any other variation 0 in a data-carrying message has no known size.
_EMPTY_V0_GROUPS = frozenset({1, 2, 3, 4, 11, 20, 22, 30, 32, 34, 42})
DEVICE_ATTRIBUTES_GROUP = 0
SA_GROUP = 120
FILE_GROUP = 70

# Device attribute data types (g0).
DA_VSTR, DA_UINT, DA_INT, DA_FLT, DA_OSTR, DA_BSTR, DA_TIME, DA_UNCD = 1, 2, 3, 4, 5, 6, 7, 8


def is_empty(group: int, variation: int) -> bool:
    """Objects that only name points (class data, "any variation") and never carry values."""
    return group == CLASS_GROUP or (variation == 0 and group in _EMPTY_V0_GROUPS)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _bit7(b: int) -> int:
    return b >> 7


def _bits67(b: int) -> int:
    return (b >> 6) & 3


def _low7(b: int) -> int:
    return b & 0x7F


def _u48(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


# Per layout letter: its struct code, how many values that unpacks to, and what it sets as
# (attribute, which of its values, conversion or None). Value letters (B and the numbers) set ``value`` only
# when no earlier letter did; q, d and c set it always.
_Sets = tuple[tuple[str, int, Callable[[Any], Any] | None], ...]
_LETTERS: dict[str, tuple[str, int, _Sets]] = {
    "f": ("B", 1, (("flags", 0, None),)),
    "q": ("B", 1, (("flags", 0, None), ("value", 0, _bit7))),
    "d": ("B", 1, (("flags", 0, None), ("value", 0, _bits67))),
    "c": ("B", 1, (("status", 0, _low7), ("value", 0, _bit7))),
    "s": ("B", 1, (("status", 0, _low7),)),
    "B": ("B", 1, (("value", 0, None),)),
    "x": ("x", 0, ()),
    "u": ("H", 1, (("value", 0, None),)),
    "i": ("h", 1, (("value", 0, None),)),
    "U": ("I", 1, (("value", 0, None),)),
    "I": ("i", 1, (("value", 0, None),)),
    "F": ("f", 1, (("value", 0, _finite),)),
    "D": ("d", 1, (("value", 0, _finite),)),
    "T": ("6s", 1, (("time", 0, _u48),)),
    "R": ("2x", 0, ()),
    "C": ("BBIIB", 5, (("control_code", 0, None), ("count", 1, None), ("on_time", 2, None), ("off_time", 3, None),
                       ("status", 4, _low7))),
}
_VALUE_IF_UNSET = frozenset("BuiUIFD")


class _FixedLayout:
    """A layout compiled once: one struct unpack per point, then each value to its attribute."""

    __slots__ = ("_converted", "_plain", "_unpack_from")

    def __init__(self, layout: str) -> None:
        fmt, n = "<", 0
        chosen: dict[str, tuple[int, Callable[[Any], Any] | None]] = {}
        for c in layout:
            code, count, sets = _LETTERS[c]
            for attr, k, convert in sets:
                if attr == "value" and c in _VALUE_IF_UNSET and "value" in chosen:
                    if chosen["value"][1] is _finite:
                        # A float that is not finite leaves value unset, for this letter to set at decode
                        # time: a compiled layout cannot follow that (no layout of the table needs it).
                        raise ValueError(f"layout {layout!r}: a value field after a float")
                    continue
                chosen[attr] = (n + k, convert)
            fmt += code
            n += count
        st = struct.Struct(fmt)
        if st.size != sum(_FIELD_SIZE[c] for c in layout):
            raise ValueError(f"layout {layout!r} unpacks {st.size} bytes")
        self._unpack_from = st.unpack_from
        self._plain = tuple((attr, k) for attr, (k, convert) in chosen.items() if convert is None)
        self._converted = tuple((attr, k, convert) for attr, (k, convert) in chosen.items() if convert is not None)

    def point(self, name: str, data: bytes, pos: int, index: int | None) -> Dnp3Point:
        values = self._unpack_from(data, pos)
        p = Dnp3Point(object=name, index=index)
        for attr, k in self._plain:
            setattr(p, attr, values[k])
        for attr, k, convert in self._converted:
            setattr(p, attr, convert(values[k]))
        return p


# Every layout of the table, and "B" (packed points with an index prefix: one octet each), compiled.
_COMPILED = {layout: _FixedLayout(layout) for layout in {*LAYOUTS.values(), "B"}}


def fixed_layout(layout: str) -> _FixedLayout:
    """The compiled form of ``layout``."""
    return _COMPILED.get(layout) or _FixedLayout(layout)


def decode_fixed(name: str, layout: str, data: bytes, pos: int, index: int | None) -> Dnp3Point:
    """One fixed-size point at ``pos`` (the caller checked the bytes are there)."""
    return fixed_layout(layout).point(name, data, pos, index)


def packed_bits(data: bytes, pos: int, count: int, bits: int) -> list[int]:
    """The first ``count`` values of a packed bit string (``bits`` = 1 or 2 per point), LSB first."""
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    return [(data[pos + i // per_byte] >> ((i % per_byte) * bits)) & mask for i in range(count)]


def decode_attribute(dtype: int, value: bytes) -> int | float | str | None:
    """A g0 device attribute value from its data type code."""
    if dtype == DA_VSTR:
        return value.decode("utf-8", "replace")
    if dtype in (DA_UINT, DA_INT) and value:
        return int.from_bytes(value, "little", signed=dtype == DA_INT)
    if dtype == DA_FLT and len(value) in (4, 8):
        (v,) = struct.unpack("<f" if len(value) == 4 else "<d", value)
        return _finite(v)
    if dtype == DA_TIME and len(value) == 6:
        return int.from_bytes(value, "little")
    if dtype == DA_UNCD:
        return value.decode("utf-16-le", "replace")
    return value.hex()

"""DNP3 application layer: the fragment header, internal indications and the object headers.

Pure: an application fragment (transport reassembled) in, a typed ``Apdu`` out. Raises NeedMoreData
when the header itself is cut short and Malformed never for content: problems inside the object list
(truncated data, an object whose size is unknown, reserved qualifiers, limits) stop the walk and are
reported in ``Apdu.problems`` so the analyzer can still emit what was understood.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zonewarden.errors import NeedMoreData
from zonewarden.protocols.dnp3.codes import DATA_REQUESTS, FREEZE_AT_TIME, RESPONSE_FUNCTIONS
from zonewarden.protocols.dnp3.events import Dnp3Point
from zonewarden.protocols.dnp3.wire_objects import (
    DEVICE_ATTRIBUTES_GROUP,
    FILE_GROUP,
    LAYOUTS,
    OCTET_GROUPS,
    PACKED_1BIT,
    PACKED_2BIT,
    SA_GROUP,
    SIZES,
    decode_attribute,
    fixed_layout,
    is_empty,
    packed_bits,
)

AC_FIR = 0x80
AC_FIN = 0x40
AC_CON = 0x20
AC_UNS = 0x10
AC_SEQ = 0x0F

MAX_OBJECTS = 256  # object headers walked per fragment
MAX_POINTS = 64  # points decoded into the event per fragment
MAX_PROBLEMS = 4  # problems reported per fragment

# Objects carrying data even inside header-only requests (Secure Authentication aggressive mode and MAC).
_ALWAYS_DATA = frozenset({(120, 3), (120, 9)})
# Qualifier range codes: bytes of the range field, and whether it holds start/stop, an address or a count.
_RANGE = {0: (2, "ss"), 1: (4, "ss"), 2: (8, "ss"), 3: (1, "addr"), 4: (2, "addr"), 5: (4, "addr"),
          6: (0, "all"), 7: (1, "count"), 8: (2, "count"), 9: (4, "count"), 11: (1, "count")}
# Qualifier prefix codes: bytes of each point's prefix, and whether it is an index or the object size.
_PREFIX = {0: (0, ""), 1: (1, "index"), 2: (2, "index"), 3: (4, "index"), 4: (1, "size"), 5: (2, "size"),
           6: (4, "size")}


@dataclass(slots=True)
class ObjectHeader:
    group: int
    variation: int
    qualifier: int
    range: tuple[int, ...]  # (start, stop), (count,) or () for "all points"
    count: int
    name: str  # g<group>v<variation>


@dataclass(slots=True)
class Apdu:
    control: int
    function_code: int
    iin: int | None = None
    objects: list[str] = field(default_factory=list)  # every header started, complete or not
    headers: list[ObjectHeader] = field(default_factory=list)  # complete headers
    points: list[Dnp3Point] = field(default_factory=list)
    points_total: int = 0
    attributes: dict[int, int | float | str] = field(default_factory=dict)
    sa_variation: int | None = None
    auth_user: int | None = None
    auth_error: int | None = None
    file_name: str | None = None
    # What went wrong in the object list: (anomaly reason, detail); the last one may have stopped the walk.
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def fir(self) -> bool:
        return bool(self.control & AC_FIR)

    @property
    def fin(self) -> bool:
        return bool(self.control & AC_FIN)

    @property
    def con(self) -> bool:
        return bool(self.control & AC_CON)

    @property
    def uns(self) -> bool:
        return bool(self.control & AC_UNS)

    @property
    def seq(self) -> int:
        return self.control & AC_SEQ

    @property
    def is_response(self) -> bool:
        return self.function_code in RESPONSE_FUNCTIONS


class _Stop(Exception):
    """Internal: the object walk cannot go on (kind, detail)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def parse_apdu(data: bytes, max_objects: int = MAX_OBJECTS, max_points: int = MAX_POINTS) -> Apdu:
    """One application fragment: control, function code, IIN (responses) and the object headers."""
    if len(data) < 2:
        raise NeedMoreData("application header incomplete")
    apdu = Apdu(data[0], data[1])
    pos = 2
    if apdu.is_response:
        if len(data) < 4:
            raise NeedMoreData("response without internal indications")
        apdu.iin = data[2] << 8 | data[3]
        pos = 4
    walker = _Walker(apdu, data, max_objects, max_points)
    try:
        walker.walk(pos)
    except _Stop as stop:
        apdu.problems.append((stop.kind, str(stop)))
    return apdu


class _Walker:
    def __init__(self, apdu: Apdu, data: bytes, max_objects: int, max_points: int) -> None:
        self.apdu = apdu
        self.data = data
        self.max_objects = max_objects
        self.max_points = max_points
        fc = apdu.function_code
        self.data_function = fc in DATA_REQUESTS or fc in RESPONSE_FUNCTIONS

    def need(self, pos: int, n: int, name: str, what: str) -> None:
        """Stop unless ``n`` bytes are left at ``pos`` (``what`` of object ``name`` needs them)."""
        if pos + n > len(self.data):
            raise _Stop("truncated_object",
                        f"{name} {what}: needs {n} bytes at offset {pos}, {len(self.data) - pos} left")

    def walk(self, pos: int) -> None:
        data, apdu = self.data, self.apdu
        while len(data) - pos >= 2:  # progress: every pass consumes a header (>= 3 bytes) or stops
            if len(apdu.objects) >= self.max_objects:
                raise _Stop("too_many_objects", f"more than {self.max_objects} object headers")
            group, variation = data[pos], data[pos + 1]
            name = f"g{group}v{variation}"
            apdu.objects.append(name)
            self.need(pos, 3, name, "qualifier")
            qualifier = data[pos + 2]
            pos += 3
            header, pos = self.range(group, variation, qualifier, name, pos)
            apdu.headers.append(header)
            pos = self.points(header, pos)
        if pos < len(data):
            raise _Stop("truncated_object", f"{len(data) - pos} trailing byte after the object headers")

    def problem(self, kind: str, detail: str) -> None:
        if len(self.apdu.problems) < MAX_PROBLEMS:
            self.apdu.problems.append((kind, detail))

    def range(self, group: int, variation: int, qualifier: int, name: str, pos: int) -> tuple[ObjectHeader, int]:
        prefix_code, range_code = (qualifier >> 4) & 7, qualifier & 0x0F
        if prefix_code not in _PREFIX or range_code not in _RANGE:
            # Reserved codes: read as no prefix / no range field (no points), as Wireshark does, and go on.
            self.problem("bad_qualifier", f"{name}: reserved qualifier 0x{qualifier:02x}")
        width, kind = _RANGE.get(range_code, (0, "all"))
        self.need(pos, width, name, "range")
        raw = self.data[pos : pos + width]
        if kind == "ss":
            start = int.from_bytes(raw[: width // 2], "little")
            stop = int.from_bytes(raw[width // 2 :], "little")
            rng: tuple[int, ...] = (start, stop)
            count = stop - start + 1
            if count < 0:
                raise _Stop("bad_qualifier", f"{name}: range stop {stop} before start {start}")
            if count == 0:  # stop = start - 1: no points, the next header follows (as Wireshark reads it)
                self.problem("bad_qualifier", f"{name}: range stop {stop} before start {start}")
        elif kind == "addr":
            rng, count = (int.from_bytes(raw, "little"),) * 2, 1
        elif kind == "count":
            count = int.from_bytes(raw, "little")
            rng = (count,)
        else:
            rng, count = (), 0
        return ObjectHeader(group, variation, qualifier, rng, count, name), pos + width

    def carries_data(self, h: ObjectHeader) -> bool:
        if (h.group, h.variation) in _ALWAYS_DATA:
            return True
        if self.data_function:
            return not is_empty(h.group, h.variation)
        return self.apdu.function_code in FREEZE_AT_TIME and h.group == 50

    def points(self, h: ObjectHeader, pos: int) -> int:
        """Walk the points of header ``h`` starting at ``pos``; returns the offset after them."""
        prefix_len, prefix_kind = _PREFIX.get((h.qualifier >> 4) & 7, (0, ""))
        gv = (h.group, h.variation)
        count = h.count
        self.apdu.points_total += count
        if count == 0:
            return pos
        if prefix_kind == "size":
            return self.sized(h, pos, prefix_len)
        if not self.carries_data(h):
            size = count * prefix_len  # a request naming points by index: the indexes, no values
            self.need(pos, size, h.name, "indexes")
            return pos + size
        if h.group == DEVICE_ATTRIBUTES_GROUP:
            return self.attributes(h, pos, prefix_len)
        if gv in PACKED_1BIT or gv in PACKED_2BIT:
            bits = 1 if gv in PACKED_1BIT else 2
            if prefix_len:  # one octet per indexed point, the state in its low bits (as Wireshark reads it)
                return self.fixed(h, pos, prefix_len, 1, "B", mask=(1 << bits) - 1)
            size = (count * bits + 7) // 8
            self.need(pos, size, h.name, "packed values")
            keep = min(count, self.budget())
            for i, v in enumerate(packed_bits(self.data, pos, keep, bits)):
                self.apdu.points.append(Dnp3Point(object=h.name, index=self.index(h, i), value=v))
            return pos + size
        if h.group in OCTET_GROUPS:
            return self.fixed(h, pos, prefix_len, h.variation, "")
        layout = LAYOUTS.get(gv)
        if layout is None:
            raise _Stop("unknown_object", f"{h.name}: unknown object, its size is not known")
        return self.fixed(h, pos, prefix_len, SIZES[gv], layout)

    def budget(self) -> int:
        return max(self.max_points - len(self.apdu.points), 0)

    def index(self, h: ObjectHeader, i: int) -> int | None:
        return h.range[0] + i if len(h.range) == 2 else None

    def fixed(self, h: ObjectHeader, pos: int, prefix_len: int, size: int, layout: str, mask: int = 0) -> int:
        step = prefix_len + size
        total = h.count * step
        self.need(pos, total, h.name, f"x{h.count}")
        if not layout:
            return pos + total
        data, name, decode = self.data, h.name, fixed_layout(layout).point
        if h.group == SA_GROUP:  # the object tells what the message is; no points
            for i in range(min(h.count, self.budget())):
                at = pos + i * step + prefix_len
                self.secure_auth(h.variation, data[at : at + size])
            return pos + total
        first = h.range[0] if len(h.range) == 2 else None  # index of the first point, when the range says
        points = self.apdu.points
        index: int | None
        for i in range(min(h.count, self.budget())):
            at = pos + i * step
            if prefix_len:
                index = int.from_bytes(data[at : at + prefix_len], "little")
            else:
                index = None if first is None else first + i
            p = decode(name, data, at + prefix_len, index)
            if mask and isinstance(p.value, int):
                p.value &= mask
            points.append(p)
        return pos + total

    def sized(self, h: ObjectHeader, pos: int, prefix_len: int) -> int:
        """Points each preceded by their own size (Secure Authentication, files, data sets...)."""
        for _ in range(h.count):  # progress: each pass consumes at least the prefix
            self.need(pos, prefix_len, h.name, "object size")
            size = int.from_bytes(self.data[pos : pos + prefix_len], "little")
            pos += prefix_len
            self.need(pos, size, h.name, f"object of {size} bytes")
            body = self.data[pos : pos + size]
            if h.group == SA_GROUP:
                self.secure_auth(h.variation, body)
            elif h.group == FILE_GROUP:
                self.file(h.variation, body)
            pos += size
        return pos

    def attributes(self, h: ObjectHeader, pos: int, prefix_len: int) -> int:
        """g0 device attributes: each point is data type, length, value."""
        for i in range(h.count):  # progress: each pass consumes at least two bytes
            pos += prefix_len
            self.need(pos, 2, h.name, "attribute header")
            dtype, length = self.data[pos], self.data[pos + 1]
            self.need(pos + 2, length, h.name, "attribute value")
            value = decode_attribute(dtype, self.data[pos + 2 : pos + 2 + length])
            if value is not None and i == 0:
                self.apdu.attributes[h.variation] = value
            pos += 2 + length
        return pos

    def secure_auth(self, variation: int, body: bytes) -> None:
        apdu = self.apdu
        if apdu.sa_variation is not None:
            return  # the first one says what the message is (an aggressive mode request before its MAC)
        apdu.sa_variation = variation
        if variation in (1, 2, 3, 6) and len(body) >= 6:  # sequence number, user number...
            apdu.auth_user = int.from_bytes(body[4:6], "little")
        elif variation == 4 and len(body) >= 2:
            apdu.auth_user = int.from_bytes(body[:2], "little")
        elif variation == 5 and len(body) >= 6:
            apdu.auth_user = int.from_bytes(body[4:6], "little")
        elif variation == 7 and len(body) >= 9:
            apdu.auth_user = int.from_bytes(body[4:6], "little")
            apdu.auth_error = body[8]

    def file(self, variation: int, body: bytes) -> None:
        if variation == 3 and len(body) >= 26:  # file command: name offset, name length, ..., name
            length = int.from_bytes(body[2:4], "little")
            self.apdu.file_name = body[26 : 26 + length].decode("utf-8", "replace")

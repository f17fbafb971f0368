"""BACnet tag encoding (ASHRAE 135 clause 20.2): tags, application values, constructed values. Pure.

A datagram (or a reassembled APDU) is complete, so running out of bytes inside it is ``Malformed``,
never ``NeedMoreData``.
"""

from __future__ import annotations

import codecs
import math
import struct
from dataclasses import dataclass

from zonewarden.errors import Malformed
from zonewarden.protocols.bacnet.codes import object_type_name

# A decoded application value, JSON-ready: null, boolean, integer, real, or text (strings, octet strings
# as hex, bit strings as "0101", dates "2024-03-01", times "13:05:00.00", object ids "analog_input:3").
Value = None | bool | int | float | str

# Bounds on what one message may put into an event.
MAX_STRING = 1024  # characters of a character string
MAX_OCTETS = 512  # octets of an octet string (shown as hex)
MAX_BITS = 1024  # bits of a bit string
MAX_INT_OCTETS = 8  # unsigned, signed and enumerated values are at most 64 bits on real devices

APP_NULL, APP_BOOLEAN, APP_UNSIGNED, APP_SIGNED, APP_REAL, APP_DOUBLE, APP_OCTETS, APP_CHARS, APP_BITS, \
    APP_ENUMERATED, APP_DATE, APP_TIME, APP_OBJECT_ID = range(13)


@dataclass(frozen=True, slots=True)
class Tag:
    """One tag: its number and class, and where its value octets lie."""

    number: int
    context: bool
    lvt: int  # length/value/type: a boolean's value, 6/7 for opening/closing context tags
    start: int
    end: int

    @property
    def opening(self) -> bool:
        return self.context and self.lvt == 6

    @property
    def closing(self) -> bool:
        return self.context and self.lvt == 7

    @property
    def length(self) -> int:
        return self.end - self.start


def read_tag(data: bytes, pos: int) -> Tag:
    """The tag at ``pos``; its value must lie inside ``data``."""
    if pos >= len(data):
        raise Malformed(f"tag expected at offset {pos}, data ends")
    first = data[pos]
    number, context, lvt = first >> 4, bool(first & 0x08), first & 0x07
    pos += 1
    if number == 15:  # extended tag number in the next octet
        if pos >= len(data):
            raise Malformed("extended tag number missing")
        number = data[pos]
        pos += 1
    if context and lvt in (6, 7):
        return Tag(number, context, lvt, pos, pos)
    if not context and number == APP_BOOLEAN:
        return Tag(number, context, lvt, pos, pos)  # the value is the LVT itself
    length = lvt
    if lvt == 5:  # extended length
        if pos >= len(data):
            raise Malformed("extended length missing")
        length = data[pos]
        pos += 1
        if length == 254:
            if pos + 2 > len(data):
                raise Malformed("16-bit extended length truncated")
            (length,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif length == 255:
            if pos + 4 > len(data):
                raise Malformed("32-bit extended length truncated")
            (length,) = struct.unpack_from("!I", data, pos)
            pos += 4
    if pos + length > len(data):
        raise Malformed(f"tag {number} value of {length} octets runs past the end at offset {pos}")
    return Tag(number, context, lvt, pos, pos + length)


def unsigned(data: bytes, tag: Tag) -> int:
    if not 1 <= tag.length <= MAX_INT_OCTETS:
        raise Malformed(f"integer of {tag.length} octets")
    return int.from_bytes(data[tag.start : tag.end], "big")


def signed(data: bytes, tag: Tag) -> int:
    if not 1 <= tag.length <= MAX_INT_OCTETS:
        raise Malformed(f"integer of {tag.length} octets")
    return int.from_bytes(data[tag.start : tag.end], "big", signed=True)


def object_id(data: bytes, tag: Tag) -> tuple[int, int]:
    """(object type, instance) of a 4-octet BACnetObjectIdentifier."""
    if tag.length != 4:
        raise Malformed(f"object identifier of {tag.length} octets")
    (raw,) = struct.unpack_from("!I", data, tag.start)
    return raw >> 22, raw & 0x3FFFFF


def _real(raw: bytes) -> float | str:
    value: float = struct.unpack("!f", raw)[0]
    if not math.isfinite(value):
        return str(value)  # JSON has no NaN/Infinity: "nan", "inf", "-inf"
    for digits in range(6, 10):  # the shortest decimal that is this float32 (0.1, not 0.10000000149)
        text = f"{value:.{digits}g}"
        if struct.pack("!f", float(text)) == raw:
            return float(text)
    return value


def _double(raw: bytes) -> float | str:
    value: float = struct.unpack("!d", raw)[0]
    return value if math.isfinite(value) else str(value)


def char_string(data: bytes, tag: Tag) -> str:
    """A CharacterString: the first octet names the character set."""
    if tag.length < 1:
        raise Malformed("character string without character set")
    charset, raw = data[tag.start], data[tag.start + 1 : tag.end]
    if charset == 0:  # ISO 10646 UTF-8 (ANSI X3.4 before 135-2008)
        text = raw.decode("utf-8", "replace")
    elif charset == 1:  # IBM/Microsoft DBCS: a two-octet code page, then the text
        page = int.from_bytes(raw[:2], "big")
        try:
            text = raw[2:].decode(codecs.lookup(f"cp{page}").name, "replace")
        except LookupError:
            text = raw[2:].decode("latin-1")
    elif charset == 2:  # JIS X 0208: its EUC-JP form has the high bit set on every octet
        text = bytes(b | 0x80 for b in raw).decode("euc_jp", "replace")
    elif charset == 3:
        text = raw[: len(raw) // 4 * 4].decode("utf-32-be", "replace")
    elif charset == 4:
        text = raw[: len(raw) // 2 * 2].decode("utf-16-be", "replace")
    else:  # 5: ISO 8859-1; unknown sets are shown octet for octet
        text = raw.decode("latin-1")
    return text[:MAX_STRING]


def _bits(raw: bytes) -> str:
    if not raw:
        return ""
    unused = raw[0] & 0x07
    bits = "".join(f"{b:08b}" for b in raw[1 : 1 + MAX_BITS // 8])
    return bits[: len(bits) - unused] if unused and len(raw) - 1 <= MAX_BITS // 8 else bits


def _date(raw: bytes) -> str:
    if len(raw) != 4:
        raise Malformed(f"date of {len(raw)} octets")
    year, month, day, weekday = raw
    text = "-".join(("*" if year == 255 else str(1900 + year), "*" if month == 255 else f"{month:02d}",
                     "*" if day == 255 else f"{day:02d}"))
    return text if weekday == 255 else f"{text} w{weekday}"  # weekday 1 (Monday) .. 7


def _time(raw: bytes) -> str:
    if len(raw) != 4:
        raise Malformed(f"time of {len(raw)} octets")
    return ":".join("*" if v == 255 else f"{v:02d}" for v in raw[:3]) + ("" if raw[3] == 255 else f".{raw[3]:02d}")


def app_value(data: bytes, tag: Tag) -> Value:
    """The value of an application-tagged primitive."""
    raw = data[tag.start : tag.end]
    n = tag.number
    if n == APP_NULL:
        return None
    if n == APP_BOOLEAN:
        return tag.lvt != 0
    if n in (APP_UNSIGNED, APP_ENUMERATED):
        return unsigned(data, tag)
    if n == APP_SIGNED:
        return signed(data, tag)
    if n == APP_REAL:
        if len(raw) != 4:
            raise Malformed(f"real of {len(raw)} octets")
        return _real(raw)
    if n == APP_DOUBLE:
        if len(raw) != 8:
            raise Malformed(f"double of {len(raw)} octets")
        return _double(raw)
    if n == APP_OCTETS:
        return raw[:MAX_OCTETS].hex()
    if n == APP_CHARS:
        return char_string(data, tag)
    if n == APP_BITS:
        return _bits(raw)
    if n == APP_DATE:
        return _date(raw)
    if n == APP_TIME:
        return _time(raw)
    if n == APP_OBJECT_ID:
        kind, instance = object_id(data, tag)
        return f"{object_type_name(kind)}:{instance}"
    raise Malformed(f"reserved application tag {n}")


class ValueBudget:
    """How many more values one message may still put into its event (shared by all its properties)."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.exhausted = False

    def take(self) -> bool:
        if self.left <= 0:
            self.exhausted = True
            return False
        self.left -= 1
        return True


def constructed(data: bytes, pos: int, number: int, budget: ValueBudget | None) -> tuple[list[Value], int]:
    """The values inside the opening tag ``number`` (``pos`` just after it), flattened in order, and the
    offset after its closing tag. Application-tagged primitives are decoded; a context-tagged primitive,
    whose type only its service's grammar knows, is shown as ``"[N]hex"``. Without a budget the content
    is only skipped."""
    values: list[Value] = []
    depth = 0
    while True:  # progress: a tag is at least one octet, so tag.end > pos
        tag = read_tag(data, pos)
        pos = tag.end
        if tag.opening:
            depth += 1
        elif tag.closing:
            if depth == 0:
                if tag.number != number:
                    raise Malformed(f"closing tag {tag.number} where {number} was open")
                return values, pos
            depth -= 1
        elif budget is not None and budget.take():
            values.append(app_value(data, tag) if not tag.context
                          else f"[{tag.number}]{data[tag.start : tag.end][:MAX_OCTETS].hex()}")

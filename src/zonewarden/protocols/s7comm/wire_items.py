"""S7comm variable items: the specifications of read/write var requests (and cyclic-data subscriptions)
and the result items of their responses. Pure."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from zonewarden.protocols.s7comm.codes import DATA_SIZE_IN_BITS, SYNTAX_DBREAD, SYNTAX_S7ANY

# Items kept per message: a PDU of at most 960 bytes holds about 80 S7ANY items; more is an attack or a bug.
MAX_ITEMS = 128
VARSPEC = 0x12
AREA_DATA_BLOCK = 0x84
# Item return codes after which a read result carries a transport size, length and data.
_ITEM_WITH_DATA = frozenset({0x00, 0x0A, 0xFF})


@dataclass(slots=True)
class Item:
    """One variable specification (S7ANY and DBREAD addressing; other syntaxes carry only the syntax id)."""

    syntax_id: int
    transport_size: int | None = None
    length: int | None = None
    db_number: int | None = None
    area: int | None = None
    address: int | None = None  # bit address: byte offset * 8 + bit


def parse_items(raw: bytes, count: int, problems: list[str], *, pad_odd: bool = False) -> list[Item]:
    """``count`` variable specifications; ``pad_odd``: a fill byte follows odd-length ones (cyclic data)."""
    items: list[Item] = []
    pos = 0
    for n in range(count):  # progress: each pass consumes the 2-byte spec head plus its length
        if len(items) >= MAX_ITEMS:
            problems.append(f"item count {count} above {MAX_ITEMS}: the rest is not listed")
            break
        if pos + 3 > len(raw):
            problems.append(f"item {n + 1} of {count} truncated")
            break
        spec, spec_len, syntax = raw[pos], raw[pos + 1], raw[pos + 2]
        if spec != VARSPEC:
            problems.append(f"item {n + 1}: variable specification 0x{spec:02x} is not 0x12")
        body = raw[pos + 3 : pos + 2 + spec_len]
        if syntax == SYNTAX_S7ANY and len(body) >= 9:
            tsize, length, db, area = struct.unpack_from("!BHHB", body)
            items.append(Item(syntax, tsize, length, db, area, int.from_bytes(body[6:9], "big")))
        elif syntax == SYNTAX_DBREAD and body:
            # number of areas, then per area: byte length (1), DB number (2), start byte (2)
            for k in range(body[0]):
                area = body[1 + 5 * k : 6 + 5 * k]
                if len(area) < 5 or len(items) >= MAX_ITEMS:
                    break
                length, db, start = struct.unpack_from("!BHH", area)
                items.append(Item(syntax, None, length, db, AREA_DATA_BLOCK, start * 8))
        else:
            items.append(Item(syntax))
        size = 2 + max(spec_len, 1)
        pos += size + (size % 2 if pad_odd else 0)
    return items


def parse_read_results(data: bytes, count: int, problems: list[str]) -> list[int]:
    """Return codes of ``count`` read results (return code, transport size, length, data, fill byte)."""
    codes: list[int] = []
    pos = 0
    for n in range(min(count, MAX_ITEMS)):  # progress: each pass consumes at least the 4-byte item head
        if pos + 4 > len(data):
            problems.append(f"read result {n + 1} of {count} truncated")
            break
        code = data[pos]
        codes.append(code)
        length = 0
        if code in _ITEM_WITH_DATA:
            tsize, length = data[pos + 1], struct.unpack_from("!H", data, pos + 2)[0]
            if tsize in DATA_SIZE_IN_BITS:
                length = (length + 7) // 8
            if length % 2 and n < count - 1:
                length += 1  # fill byte after odd-length results, except the last
        pos += 4 + length
    return codes

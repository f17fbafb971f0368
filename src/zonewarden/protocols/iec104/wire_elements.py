"""IEC 60870-5-101 information elements (clause 7.2.6): one information object's value, quality and time.

Pure: bytes in, an ``InfoObject`` out. Each element field has a fixed size (except a file segment,
whose first octet is its length) and contributes to the object's value, quality, time tag, select
bit or qualifier. Multi-octet fields are little-endian (IEC 60870-5-4).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class InfoObject:
    """One information object: its address and what its element says (absent parts stay None)."""

    ioa: int
    value: int | float | None = None
    quality: int | None = None
    time: str | None = None
    select: bool | None = None
    qualifier: int | None = None


# Field code -> size in octets; "segment" (F_SG_NA_1) is a length octet plus that many octets.
FIELD_SIZES: dict[str, int] = {
    "siq": 1, "diq": 1, "vti": 1, "qds": 1, "qdp": 1, "bsi": 4, "nva": 2, "sva": 2, "flt": 4, "bcr": 5,
    "sep": 1, "spe": 1, "oci": 1, "scd": 4, "cp16": 2, "cp24": 3, "cp56": 7, "aid": 2, "sco": 1, "dco": 1,
    "rco": 1, "qos": 1, "coi": 1, "qoi": 1, "qcc": 1, "fbp": 2, "qrp": 1, "tsc": 2, "qpm": 1, "qpa": 1,
    "nof": 2, "lof": 3, "frq": 1, "nos": 1, "srq": 1, "scq": 1, "lsq": 1, "chs": 1, "afq": 1, "sof": 1,
}

# Quality bits kept from SIQ/DIQ/SEP (the low bits there are the value): BL, SB, NT, IV (and SEP's EI).
_POINT_QUALITY = 0xF0
_SEP_QUALITY = 0xF8
# BCR's last octet: sequence number in bits 0-4, then CY, CA, IV.
_BCR_QUALITY = 0xE0


def cp56_text(c: bytes) -> str:
    """CP56Time2a as ``YYYY-MM-DDTHH:MM:SS.mmm`` (the standard carries no time zone).

    Two-digit years below 70 are 20xx, others 19xx (as Wireshark reads them). Out-of-range fields are
    printed as sent rather than rejected: a bad clock is evidence, not a parse error.
    """
    ms = c[0] | c[1] << 8
    year = c[6] & 0x7F
    year += 2000 if year < 70 else 1900
    return (f"{year:04d}-{c[5] & 0x0F:02d}-{c[4] & 0x1F:02d}T{c[3] & 0x1F:02d}:{c[2] & 0x3F:02d}:"
            f"{ms // 1000:02d}.{ms % 1000:03d}")


def _i16(c: bytes) -> int:
    return int.from_bytes(c[:2], "little", signed=True)


def _u(c: bytes) -> int:
    return int.from_bytes(c, "little")


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # NaN/inf cannot round-trip through JSON


def _siq(o: InfoObject, c: bytes) -> None:
    o.value, o.quality = c[0] & 0x01, c[0] & _POINT_QUALITY


def _diq(o: InfoObject, c: bytes) -> None:
    o.value, o.quality = c[0] & 0x03, c[0] & _POINT_QUALITY


def _vti(o: InfoObject, c: bytes) -> None:
    v = c[0] & 0x7F  # 7-bit two's complement step position; bit 7 is the transient flag
    o.value = v - 0x80 if v & 0x40 else v


def _quality(o: InfoObject, c: bytes) -> None:
    o.quality = c[0]


def _nva(o: InfoObject, c: bytes) -> None:
    o.value = _i16(c) / 32768


def _sva(o: InfoObject, c: bytes) -> None:
    o.value = _i16(c)


def _flt(o: InfoObject, c: bytes) -> None:
    o.value = _finite(struct.unpack("<f", c)[0])


def _unsigned_value(o: InfoObject, c: bytes) -> None:
    o.value = _u(c)


def _bcr(o: InfoObject, c: bytes) -> None:
    o.value, o.quality = int.from_bytes(c[:4], "little", signed=True), c[4] & _BCR_QUALITY


def _sep(o: InfoObject, c: bytes) -> None:
    o.value, o.quality = c[0] & 0x03, c[0] & _SEP_QUALITY


def _cp56(o: InfoObject, c: bytes) -> None:
    if o.time is None:  # F_SC_NB_1 carries a start and a stop time: the start is the object's time
        o.time = cp56_text(c)


def _command(o: InfoObject, c: bytes, state_mask: int) -> None:
    o.value, o.select, o.qualifier = c[0] & state_mask, bool(c[0] & 0x80), (c[0] >> 2) & 0x1F


def _qos(o: InfoObject, c: bytes) -> None:
    o.select, o.qualifier = bool(c[0] & 0x80), c[0] & 0x7F


def _coi(o: InfoObject, c: bytes) -> None:
    o.value = c[0] & 0x7F  # cause of initialisation; bit 7: local parameters changed


def _qualifier(o: InfoObject, c: bytes) -> None:
    o.qualifier = c[0]


def _ignore(o: InfoObject, c: bytes) -> None:
    """Relative times, lengths, checksums and association ids: kept out of the event."""


DECODERS: dict[str, Callable[[InfoObject, bytes], None]] = {
    "siq": _siq, "diq": _diq, "vti": _vti, "qds": _quality, "qdp": _quality, "bsi": _unsigned_value,
    "nva": _nva, "sva": _sva, "flt": _flt, "bcr": _bcr, "sep": _sep, "spe": _unsigned_value,
    "oci": _unsigned_value, "scd": _unsigned_value, "cp16": _ignore, "cp24": _ignore, "cp56": _cp56,
    "aid": _ignore, "sco": lambda o, c: _command(o, c, 0x01), "dco": lambda o, c: _command(o, c, 0x03),
    "rco": lambda o, c: _command(o, c, 0x03), "qos": _qos, "coi": _coi, "qoi": _qualifier, "qcc": _qualifier,
    "fbp": _unsigned_value, "qrp": _qualifier, "tsc": _unsigned_value, "qpm": _qualifier, "qpa": _qualifier,
    "nof": _unsigned_value, "lof": _ignore, "frq": _qualifier, "nos": _ignore, "srq": _qualifier,
    "scq": _qualifier, "lsq": _qualifier, "chs": _ignore, "afq": _qualifier, "sof": _ignore, "segment": _ignore,
}


def field_size(code: str, data: bytes, pos: int) -> int | None:
    """Octets the field at ``pos`` occupies, or None when even its length octet is missing."""
    if code == "segment":
        return 1 + data[pos] if pos < len(data) else None
    return FIELD_SIZES[code]


def decode_element(obj: InfoObject, fields: tuple[str, ...], data: bytes, pos: int) -> int | None:
    """Decode one element into ``obj`` starting at ``pos``; the position after it, None if truncated."""
    for code in fields:
        size = field_size(code, data, pos)
        if size is None or pos + size > len(data):
            return None
        DECODERS[code](obj, data[pos : pos + size])
        pos += size
    return pos

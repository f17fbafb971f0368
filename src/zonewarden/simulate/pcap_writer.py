"""Capture-file writers for fixtures: classic pcap and pcapng, with the awkward corners readers must handle.

Written from the file-format specs (pcap: tcpdump.org pcap-savefile; pcapng: draft-ietf-opsawg-pcapng),
independently of ``zonewarden.capture``. pcapng is described with small frozen dataclasses: a file is a list
of ``Section``s, each with its own byte order, interfaces and blocks in file order. Timestamps are always
integer nanoseconds since the epoch; each writer converts them to the file's resolution by truncation.
"""

from __future__ import annotations

import io
import ipaddress
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from zonewarden.model.frames import LINKTYPE_ETHERNET

Destination = str | os.PathLike[str] | BinaryIO

PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
DEFAULT_SNAPLEN = 262144
_NS = 1_000_000_000

# pcapng block types.
BT_SHB = 0x0A0D0D0A
BT_IDB = 0x00000001
BT_OPB = 0x00000002  # obsolete Packet Block
BT_SPB = 0x00000003
BT_NRB = 0x00000004
BT_ISB = 0x00000005
BT_EPB = 0x00000006
BT_CUSTOM_COPY = 0x00000BAD
BT_CUSTOM_NOCOPY = 0x40000BAD
BYTE_ORDER_MAGIC = 0x1A2B3C4D

# Option codes used below.
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
IF_NAME = 2
IF_TSRESOL = 9
IF_TSOFFSET = 14
SHB_USERAPPL = 4
ISB_IFRECV = 4
ISB_IFDROP = 5
NRB_RECORD_END = 0
NRB_RECORD_IPV4 = 1
NRB_RECORD_IPV6 = 2

TSRESOL_USEC = 6
TSRESOL_NSEC = 9


def _write(dest: Destination, data: bytes) -> None:
    if isinstance(dest, str | os.PathLike):
        with open(dest, "wb") as fh:
            fh.write(data)
    else:
        dest.write(data)


# --- classic pcap ---


def pcap_bytes(
    frames: Iterable[tuple[int, bytes]],
    linktype: int = LINKTYPE_ETHERNET,
    *,
    big_endian: bool = False,
    nanosecond: bool = False,
    snaplen: int = DEFAULT_SNAPLEN,
    wirelen_override: Mapping[int, int] | None = None,
) -> bytes:
    """A classic pcap file in memory; see ``write_pcap``."""
    order = ">" if big_endian else "<"
    magic = PCAP_MAGIC_NSEC if nanosecond else PCAP_MAGIC_USEC
    out = io.BytesIO()
    out.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    overrides = wirelen_override or {}
    for index, (ts_ns, data) in enumerate(frames):
        if ts_ns < 0:
            raise ValueError(f"frame {index}: negative timestamp")
        secs, frac_ns = divmod(ts_ns, _NS)
        frac = frac_ns if nanosecond else frac_ns // 1000
        captured = data[:snaplen]
        wirelen = overrides.get(index, len(data))
        out.write(struct.pack(order + "IIII", secs, frac, len(captured), wirelen))
        out.write(captured)
    return out.getvalue()


def write_pcap(
    dest: Destination,
    frames: Iterable[tuple[int, bytes]],
    linktype: int = LINKTYPE_ETHERNET,
    *,
    big_endian: bool = False,
    nanosecond: bool = False,
    snaplen: int = DEFAULT_SNAPLEN,
    wirelen_override: Mapping[int, int] | None = None,
) -> None:
    """Write ``(ts_ns, frame)`` pairs as classic pcap (version 2.4).

    Frames longer than ``snaplen`` are cut to it (caplen < wirelen). ``wirelen_override`` maps a frame's
    index to the original length to record instead of ``len(frame)``, e.g. to claim a frame was truncated
    by the capturing host, or to write an impossible wirelen < caplen.
    """
    _write(
        dest,
        pcap_bytes(
            frames,
            linktype,
            big_endian=big_endian,
            nanosecond=nanosecond,
            snaplen=snaplen,
            wirelen_override=wirelen_override,
        ),
    )


# --- pcapng ---


def timestamp_units_per_second(tsresol: int | None) -> int:
    """Units per second for an ``if_tsresol`` value: 10**n, or 2**n when the top bit is set; absent = µs."""
    resol = TSRESOL_USEC if tsresol is None else tsresol
    return 1 << (resol & 0x7F) if resol & 0x80 else 10**resol


def encode_timestamp(ts_ns: int, tsresol: int | None = None, tsoffset: int = 0) -> int:
    """The 64-bit value stored in an EPB/OPB/ISB for ``ts_ns`` on an interface (truncated, like pcap µs)."""
    units = (ts_ns - tsoffset * _NS) * timestamp_units_per_second(tsresol) // _NS
    if not 0 <= units < 1 << 64:
        raise ValueError(f"timestamp {ts_ns} not representable with tsresol={tsresol} tsoffset={tsoffset}")
    return units


@dataclass(frozen=True, slots=True)
class Option:
    """A raw option; values are written as given and padded to 32 bits."""

    code: int
    value: bytes


@dataclass(frozen=True, slots=True)
class Interface:
    """An Interface Description Block. ``tsresol`` is the raw ``if_tsresol`` byte (6 = µs, 9 = ns,
    ``0x80 | n`` = 2**-n s); ``None`` omits the option so readers must default to µs. ``tsoffset`` is whole
    seconds added to every timestamp (``if_tsoffset``)."""

    linktype: int = LINKTYPE_ETHERNET
    snaplen: int = 0  # 0 = unlimited in pcapng
    tsresol: int | None = None
    tsoffset: int | None = None
    name: str | None = None
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True)
class EnhancedPacket:
    """EPB. ``wirelen`` defaults to ``len(data)``; data is cut to the interface's snaplen when set."""

    ts_ns: int
    data: bytes
    interface: int = 0
    wirelen: int | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class SimplePacket:
    """SPB: no timestamp and no interface id; it always belongs to the section's interface 0."""

    data: bytes
    wirelen: int | None = None


@dataclass(frozen=True, slots=True)
class ObsoletePacket:
    """Packet Block (type 2), superseded by the EPB but still produced by old writers."""

    ts_ns: int
    data: bytes
    interface: int = 0
    drops: int = 0
    wirelen: int | None = None


@dataclass(frozen=True, slots=True)
class NameResolution:
    """NRB with IPv4/IPv6 records ``(address, name)``."""

    records: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class InterfaceStatistics:
    """ISB for ``interface`` with optional received/dropped counters."""

    interface: int
    ts_ns: int
    received: int | None = None
    dropped: int | None = None


@dataclass(frozen=True, slots=True)
class CustomBlock:
    """Custom block (0xBAD copyable, 0x40000BAD not) with a Private Enterprise Number."""

    pen: int
    data: bytes
    copyable: bool = True


@dataclass(frozen=True, slots=True)
class RawBlock:
    """Any block type with an opaque body (padded to 32 bits): unknown types readers must skip."""

    block_type: int
    body: bytes


Block = EnhancedPacket | SimplePacket | ObsoletePacket | NameResolution | InterfaceStatistics | CustomBlock | RawBlock
PACKET_BLOCKS = (EnhancedPacket, SimplePacket, ObsoletePacket)


@dataclass(frozen=True, slots=True)
class Section:
    """One Section Header Block and everything up to the next.

    ``interfaces`` are written right after the SHB and get ids 0, 1, ...; an ``Interface`` placed in
    ``blocks`` is written there (IDBs may follow packets) and takes the next id.
    """

    interfaces: tuple[Interface, ...] = (Interface(),)
    blocks: tuple[Block | Interface, ...] = ()
    big_endian: bool = False
    userappl: str | None = "zonewarden.simulate"
    section_length: int = -1  # -1 = "not specified", which the spec allows and readers must accept


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _options(order: str, options: Sequence[Option]) -> bytes:
    if not options:
        return b""
    out = b"".join(struct.pack(order + "HH", o.code, len(o.value)) + _pad(o.value) for o in options)
    return out + struct.pack(order + "HH", OPT_ENDOFOPT, 0)


def _block(order: str, block_type: int, body: bytes) -> bytes:
    body = _pad(body)
    total = 12 + len(body)
    return struct.pack(order + "II", block_type, total) + body + struct.pack(order + "I", total)


def _ts_words(order: str, units: int) -> bytes:
    return struct.pack(order + "II", units >> 32, units & 0xFFFFFFFF)


def _captured(data: bytes, snaplen: int) -> bytes:
    return data[:snaplen] if snaplen else data


def _interface_block(order: str, iface: Interface) -> bytes:
    opts: list[Option] = []
    if iface.name is not None:
        opts.append(Option(IF_NAME, iface.name.encode()))
    if iface.tsresol is not None:
        opts.append(Option(IF_TSRESOL, bytes([iface.tsresol])))
    if iface.tsoffset is not None:
        opts.append(Option(IF_TSOFFSET, struct.pack(order + "q", iface.tsoffset)))
    opts.extend(iface.options)
    body = struct.pack(order + "HHI", iface.linktype, 0, iface.snaplen) + _options(order, opts)
    return _block(order, BT_IDB, body)


def _interface(known: Sequence[Interface], index: int) -> Interface:
    if not 0 <= index < len(known):
        raise ValueError(f"block refers to interface {index}, only {len(known)} defined before it")
    return known[index]


def _units(known: Sequence[Interface], index: int, ts_ns: int) -> int:
    iface = _interface(known, index)
    return encode_timestamp(ts_ns, iface.tsresol, iface.tsoffset or 0)


def _encode_block(order: str, known: Sequence[Interface], blk: Block) -> bytes:
    """Encode one non-IDB block; ``known`` are the section's interfaces defined so far."""
    if isinstance(blk, EnhancedPacket):
        data = _captured(blk.data, _interface(known, blk.interface).snaplen)
        opts = [Option(OPT_COMMENT, blk.comment.encode())] if blk.comment is not None else []
        wirelen = len(blk.data) if blk.wirelen is None else blk.wirelen
        body = (
            struct.pack(order + "I", blk.interface)
            + _ts_words(order, _units(known, blk.interface, blk.ts_ns))
            + struct.pack(order + "II", len(data), wirelen)
            + _pad(data)
            + _options(order, opts)
        )
        return _block(order, BT_EPB, body)
    if isinstance(blk, SimplePacket):
        # The SPB has no caplen field: readers derive it from the block length and interface 0's snaplen.
        data = _captured(blk.data, _interface(known, 0).snaplen)
        wirelen = len(blk.data) if blk.wirelen is None else blk.wirelen
        return _block(order, BT_SPB, struct.pack(order + "I", wirelen) + data)
    if isinstance(blk, ObsoletePacket):
        data = _captured(blk.data, _interface(known, blk.interface).snaplen)
        wirelen = len(blk.data) if blk.wirelen is None else blk.wirelen
        body = (
            struct.pack(order + "HH", blk.interface, blk.drops)
            + _ts_words(order, _units(known, blk.interface, blk.ts_ns))
            + struct.pack(order + "II", len(data), wirelen)
            + data
        )
        return _block(order, BT_OPB, body)
    if isinstance(blk, NameResolution):
        return _block(order, BT_NRB, _name_records(order, blk.records))
    if isinstance(blk, InterfaceStatistics):
        opts = []
        if blk.received is not None:
            opts.append(Option(ISB_IFRECV, struct.pack(order + "Q", blk.received)))
        if blk.dropped is not None:
            opts.append(Option(ISB_IFDROP, struct.pack(order + "Q", blk.dropped)))
        body = (
            struct.pack(order + "I", blk.interface)
            + _ts_words(order, _units(known, blk.interface, blk.ts_ns))
            + _options(order, opts)
        )
        return _block(order, BT_ISB, body)
    if isinstance(blk, CustomBlock):
        kind = BT_CUSTOM_COPY if blk.copyable else BT_CUSTOM_NOCOPY
        return _block(order, kind, struct.pack(order + "I", blk.pen) + blk.data)
    return _block(order, blk.block_type, blk.body)


def _name_records(order: str, records: Iterable[tuple[str, str]]) -> bytes:
    out = b""
    for address, name in records:
        addr = ipaddress.ip_address(address)
        kind = NRB_RECORD_IPV4 if addr.version == 4 else NRB_RECORD_IPV6
        value = addr.packed + name.encode() + b"\x00"
        out += struct.pack(order + "HH", kind, len(value)) + _pad(value)
    return out + struct.pack(order + "HH", NRB_RECORD_END, 0)


def _section_bytes(section: Section) -> bytes:
    order = ">" if section.big_endian else "<"
    opts = [Option(SHB_USERAPPL, section.userappl.encode())] if section.userappl is not None else []
    shb = _block(
        order,
        BT_SHB,
        struct.pack(order + "IHHq", BYTE_ORDER_MAGIC, 1, 0, section.section_length) + _options(order, opts),
    )
    parts = [shb]
    known = list(section.interfaces)
    parts += [_interface_block(order, iface) for iface in known]
    for blk in section.blocks:
        if isinstance(blk, Interface):
            known.append(blk)
            parts.append(_interface_block(order, blk))
        else:
            parts.append(_encode_block(order, known, blk))
    return b"".join(parts)


def pcapng_bytes(sections: Iterable[Section]) -> bytes:
    """A pcapng file in memory; see ``write_pcapng``."""
    return b"".join(_section_bytes(s) for s in sections)


def write_pcapng(dest: Destination, sections: Iterable[Section]) -> None:
    """Write sections as pcapng: SHB, IDBs, then the section's blocks in order, all in its byte order."""
    _write(dest, pcapng_bytes(sections))


def packet_count(sections: Iterable[Section]) -> int:
    """Packets a correct reader must return (EPB, SPB and OPB; other blocks are not packets)."""
    return sum(isinstance(b, PACKET_BLOCKS) for s in sections for b in s.blocks)


# --- streaming writers: frames written as they come, for captures bigger than memory ---


class PcapStreamWriter:
    """Classic pcap (µs, little-endian) written frame by frame; ``ts_us`` is integer microseconds."""

    def __init__(self, fh: BinaryIO, linktype: int = LINKTYPE_ETHERNET, snaplen: int = DEFAULT_SNAPLEN) -> None:
        self._fh = fh
        self._snaplen = snaplen
        self._pack = struct.Struct("<IIII").pack
        fh.write(struct.pack("<IHHiIII", PCAP_MAGIC_USEC, 2, 4, 0, 0, snaplen, linktype))

    def write(self, ts_us: int, data: bytes) -> None:
        secs, usec = divmod(ts_us, 1_000_000)
        captured = data[: self._snaplen]
        self._fh.write(self._pack(secs, usec, len(captured), len(data)) + captured)


class PcapngStreamWriter:
    """pcapng with one section and one Ethernet interface at µs resolution (the pcapng default), written
    block by block; the section length is left "not specified" because it is not known in advance."""

    def __init__(self, fh: BinaryIO, linktype: int = LINKTYPE_ETHERNET, name: str | None = None) -> None:
        self._fh = fh
        order = "<"
        shb_body = struct.pack(order + "IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(
            order, [Option(SHB_USERAPPL, b"zonewarden simulate")]
        )
        fh.write(_block(order, BT_SHB, shb_body))
        fh.write(_interface_block(order, Interface(linktype=linktype, name=name)))
        self._head = struct.Struct("<IIIIIII").pack

    def write(self, ts_us: int, data: bytes) -> None:
        padded = data + bytes(-len(data) % 4)
        total = 32 + len(padded)
        self._fh.write(
            self._head(BT_EPB, total, 0, ts_us >> 32, ts_us & 0xFFFFFFFF, len(data), len(data))
            + padded
            + struct.pack("<I", total)
        )

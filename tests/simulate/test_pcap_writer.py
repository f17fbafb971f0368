"""The capture-file writers checked against peers: capinfos and tshark must read back every packet, time and
length we wrote (classic pcap in both byte orders and resolutions; pcapng with several sections,
interfaces, timestamp resolutions and blocks a reader must skip), tshark's pcapng file dissector must find
the block structure valid, and dpkt must agree where it can read the file. The demo capture is checked here
too, since it is the biggest file the writers produce."""

from __future__ import annotations

import io
import re
import struct
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import dpkt
import pytest

from zonewarden.model.frames import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
)
from zonewarden.simulate import demo_capture
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import (
    CustomBlock,
    EnhancedPacket,
    Interface,
    InterfaceStatistics,
    NameResolution,
    ObsoletePacket,
    RawBlock,
    Section,
    SimplePacket,
    packet_count,
    pcap_bytes,
    pcapng_bytes,
    write_pcap,
    write_pcapng,
)

peer = pytest.mark.peer

T0 = 1_767_592_800 * 1_000_000_000  # 2026-01-05 06:00:00 UTC
TS = T0 + 123_456_789
C4, S4 = "10.30.0.1", "10.30.0.2"
MAC_C, MAC_S = "00:1b:1b:00:00:01", "00:00:bc:00:00:02"
GOOD = "1"  # Wireshark's PROTO_CHECKSUM_E_GOOD


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


FIELDS_FORMAT = ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]


def tshark_fields(path: Path, fields: Sequence[str], *args: str) -> list[dict[str, str]]:
    """One dict per record; repeated fields are comma-joined, absent ones are ''."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", "udp.check_checksum:TRUE", *args, *FIELDS_FORMAT]
    for name in fields:
        cmd += ["-e", name]
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in run(*cmd).splitlines()]


def capinfos(path: Path) -> dict[str, str]:
    """capinfos' ``Key: value`` lines (first occurrence of each key)."""
    out: dict[str, str] = {}
    for line in run("capinfos", "-M", str(path)).splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith(" "):
            out.setdefault(key.strip(), value.strip())
    return out


def epoch(ts_ns: int, units_per_second: int = 10**9, offset_s: int = 0) -> str:
    """``frame.time_epoch`` tshark must print: the time truncated to the interface's resolution."""
    units = (Fraction(ts_ns, 10**9) - offset_s) * units_per_second // 1
    ns = (offset_s * units_per_second + units) * 10**9 // units_per_second
    return f"{ns // 10**9}.{ns % 10**9:09d}"


UDP4 = f.ipv4(C4, S4, f.IPPROTO_UDP, f.udp(C4, S4, 40000, 9999, b"pcap writer test"))
ETH = f.ethernet(MAC_S, MAC_C, f.ETH_P_IP, UDP4)
ETH_LONG = f.ethernet(MAC_S, MAC_C, f.ETH_P_IP, f.ipv4(C4, S4, f.IPPROTO_UDP, f.udp(C4, S4, 1, 2, bytes(400))))


# --- classic pcap ---


@peer
@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
@pytest.mark.parametrize("nanosecond", [False, True], ids=["usec", "nsec"])
def test_classic_pcap_read_back_by_peers(tmp_path: Path, big_endian: bool, nanosecond: bool) -> None:
    frames = [(TS, ETH), (T0 + 1_000_000_001, ETH_LONG), (T0 + 2 * 10**9 + 999, ETH)]
    path = tmp_path / "classic.pcap"
    write_pcap(path, frames, big_endian=big_endian, nanosecond=nanosecond, snaplen=128, wirelen_override={2: 1514})
    magic = {
        (False, False): "d4c3b2a1",
        (False, True): "4d3cb2a1",
        (True, False): "a1b2c3d4",
        (True, True): "a1b23c4d",
    }[(big_endian, nanosecond)]
    assert path.read_bytes()[:4].hex() == magic

    info = capinfos(path)
    assert (info["File type"], info["File encapsulation"], info["Number of packets"]) == (
        "nsecpcap" if nanosecond else "pcap",
        "ether",
        "3",
    )

    rows = tshark_fields(path, ("frame.time_epoch", "frame.len", "frame.cap_len", "udp.checksum.status"))
    units = 10**9 if nanosecond else 10**6
    assert [r["frame.time_epoch"] for r in rows] == [epoch(ts, units) for ts, _ in frames]
    assert [(r["frame.len"], r["frame.cap_len"]) for r in rows] == [
        (str(len(ETH)), str(len(ETH))),
        (str(len(ETH_LONG)), "128"),
        ("1514", str(len(ETH))),
    ]
    assert rows[0]["udp.checksum.status"] == GOOD

    with path.open("rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        assert (reader.datalink(), reader.snaplen) == (dpkt.pcap.DLT_EN10MB, 128)
        assert [buf for _, buf in reader] == [ETH, ETH_LONG[:128], ETH]


def test_classic_pcap_to_file_object_matches_path(tmp_path: Path) -> None:
    frames = [(TS, ETH)]
    sink = io.BytesIO()
    write_pcap(sink, frames, LINKTYPE_RAW, nanosecond=True)
    write_pcap(tmp_path / "x.pcap", frames, LINKTYPE_RAW, nanosecond=True)
    assert sink.getvalue() == (tmp_path / "x.pcap").read_bytes() == pcap_bytes(frames, LINKTYPE_RAW, nanosecond=True)
    # Record header: seconds, nanoseconds, caplen, wirelen right after the 24-byte file header.
    assert struct.unpack("<IIII", sink.getvalue()[24:40]) == (TS // 10**9, TS % 10**9, len(ETH), len(ETH))


def test_classic_pcap_refuses_negative_time() -> None:
    with pytest.raises(ValueError):
        pcap_bytes([(-1, ETH)])


# --- pcapng: one file exercising every block and interface feature ---

SLL = f.sll(UDP4, f.ETH_P_IP, f.PACKET_OUTGOING, MAC_C)
SLL2 = f.sll2(UDP4, f.ETH_P_IP, 3)
NULL_LE = f.null_header(UDP4, f.AF_INET)
NULL_BE = f.null_header(UDP4, f.AF_INET, big_endian=True)
TSOFFSET = 1_700_000_000


def rich_sections() -> list[Section]:
    first = Section(
        interfaces=(
            Interface(LINKTYPE_ETHERNET, tsresol=9, name="eth0"),
            Interface(LINKTYPE_LINUX_SLL),  # no if_tsresol: readers must assume microseconds
            Interface(LINKTYPE_RAW, tsresol=0x80 | 20),  # 2**-20 s
            Interface(LINKTYPE_NULL, tsresol=0x80 | 10, tsoffset=TSOFFSET),
            Interface(LINKTYPE_ETHERNET, snaplen=64, tsresol=3),
        ),
        blocks=(
            EnhancedPacket(TS, ETH, 0, comment="first packet"),
            RawBlock(0x0000_0B0B, b"a block type nobody registered"),
            EnhancedPacket(TS + 1, SLL, 1),
            NameResolution((("10.30.0.1", "plc.plant.local"), ("fd00::1", "ews.plant.local"))),
            EnhancedPacket(TS + 2, UDP4, 2),
            CustomBlock(32473, b"copy me"),
            CustomBlock(32473, b"never copy me", copyable=False),
            EnhancedPacket(TS + 3, NULL_LE, 3),
            InterfaceStatistics(0, TS + 10, received=5, dropped=0),
            EnhancedPacket(TS + 4, ETH_LONG, 4),  # cut to the interface's 64-byte snaplen
            SimplePacket(ETH),
            ObsoletePacket(TS + 5, ETH, 0, drops=2),
            Interface(LINKTYPE_LINUX_SLL2, tsresol=6),  # id 5: an IDB after packets is legal
            EnhancedPacket(TS + 6, SLL2, 5),
        ),
    )
    second = Section(
        big_endian=True,
        interfaces=(Interface(LINKTYPE_NULL, tsresol=9), Interface(LINKTYPE_ETHERNET, tsresol=0x80 | 30)),
        blocks=(
            EnhancedPacket(TS + 7, NULL_BE, 0),
            RawBlock(0x8000_7A11, b"local use"),  # not 0x80000001: that one is Apple's
            EnhancedPacket(TS + 8, ETH, 1),
            SimplePacket(NULL_BE),
            ObsoletePacket(TS + 9, ETH, 1),
        ),
    )
    third = Section(interfaces=(Interface(LINKTYPE_RAW, tsresol=9),), blocks=(EnhancedPacket(TS + 10, UDP4, 0),))
    return [first, second, third]


# (section, interface id, wiretap encapsulation, time_epoch, len, cap_len) for every packet record, in order.
WTAP_ETHER, WTAP_RAW, WTAP_NULL, WTAP_SLL, WTAP_SLL2 = "1", "7", "15", "25", "210"
EXPECTED_PACKETS = [
    ("1", "0", WTAP_ETHER, epoch(TS), len(ETH), len(ETH)),
    ("1", "1", WTAP_SLL, epoch(TS + 1, 10**6), len(SLL), len(SLL)),
    ("1", "2", WTAP_RAW, epoch(TS + 2, 2**20), len(UDP4), len(UDP4)),
    ("1", "3", WTAP_NULL, epoch(TS + 3, 2**10, TSOFFSET), len(NULL_LE), len(NULL_LE)),
    ("1", "4", WTAP_ETHER, epoch(TS + 4, 10**3), len(ETH_LONG), 64),
    ("1", "0", WTAP_ETHER, "", len(ETH), len(ETH)),  # SPB: no timestamp
    ("1", "0", WTAP_ETHER, epoch(TS + 5), len(ETH), len(ETH)),
    ("1", "5", WTAP_SLL2, epoch(TS + 6, 10**6), len(SLL2), len(SLL2)),
    ("2", "0", WTAP_NULL, epoch(TS + 7), len(NULL_BE), len(NULL_BE)),
    ("2", "1", WTAP_ETHER, epoch(TS + 8, 2**30), len(ETH), len(ETH)),
    ("2", "0", WTAP_NULL, "", len(NULL_BE), len(NULL_BE)),
    ("2", "1", WTAP_ETHER, epoch(TS + 9, 2**30), len(ETH), len(ETH)),
    ("3", "0", WTAP_RAW, epoch(TS + 10), len(UDP4), len(UDP4)),
]
BLOCK_TYPES = {
    EnhancedPacket: 6,
    SimplePacket: 3,
    ObsoletePacket: 2,
    NameResolution: 4,
    InterfaceStatistics: 5,
    Interface: 1,
}


@pytest.fixture(scope="module")
def rich_pcapng(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pcapng") / "rich.pcapng"
    write_pcapng(path, rich_sections())
    return path


@peer
def test_pcapng_packets_times_and_interfaces(rich_pcapng: Path) -> None:
    fields = (
        "frame.section_number",
        "frame.interface_id",
        "frame.encap_type",
        "frame.time_epoch",
        "frame.len",
        "frame.cap_len",
        "frame.cb_pen",
        "frame.comment",
        "frame.interface_name",
        "udp.checksum.status",
    )
    rows = tshark_fields(rich_pcapng, fields)
    # tshark lists custom blocks as records of their own; every other non-packet block must vanish.
    custom = [r for r in rows if r["frame.cb_pen"]]
    packets = [r for r in rows if not r["frame.cb_pen"]]
    assert [r["frame.cb_pen"] for r in custom] == ["32473", "32473"]
    got = [tuple(r[k] for k in fields[:6]) for r in packets]
    assert got == [tuple(str(v) for v in p) for p in EXPECTED_PACKETS]
    assert packets[0]["frame.comment"] == "first packet" and packets[0]["frame.interface_name"] == "eth0"
    assert {r["udp.checksum.status"] for i, r in enumerate(packets) if i != 4} == {GOOD}  # 4 is truncated


@peer
def test_pcapng_counts_agree_with_capinfos(rich_pcapng: Path) -> None:
    info = capinfos(rich_pcapng)
    assert info["File type"] == "pcapng"
    assert int(info["Number of packets"]) == packet_count(rich_sections()) == len(EXPECTED_PACKETS)
    assert int(info["Number of interfaces in file"]) == 6 + 2 + 1
    # capinfos numbers interfaces across the whole file and prints no resolution when if_tsresol is absent.
    report = run("capinfos", "-M", str(rich_pcapng)).split("Section 1:")[0]
    chunks = report.split("Interface #")[1:]
    resolutions = [m.group(1) if (m := re.search(r"Time resolution = (0x[0-9a-f]+)", c)) else None for c in chunks]
    assert resolutions == ["0x09", None, "0x94", "0x8a", "0x03", "0x06", "0x09", "0x9e", "0x09"]


@peer
def test_pcapng_block_structure_valid_for_tshark_file_dissector(rich_pcapng: Path) -> None:
    """Read the file as a file (tshark's MIME pcapng dissector): every block's trailer repeats its length,
    lengths are 32-bit multiples, and options parse without expert complaints."""
    rows = tshark_fields(
        rich_pcapng,
        (
            "pcapng.block.type",
            "pcapng.block.length",
            "pcapng.block.length_trailer",
            "_ws.expert.message",
            "_ws.malformed",
        ),
        "-X",
        "read_format:MIME Files Format",
    )
    (row,) = rows
    types = [int(t, 16) for t in row["pcapng.block.type"].split(",")]
    expected: list[int] = []
    for section in rich_sections():
        expected += [0x0A0D0D0A] + [1] * len(section.interfaces)
        for blk in section.blocks:
            if isinstance(blk, RawBlock):
                expected.append(blk.block_type)
            elif isinstance(blk, CustomBlock):
                expected.append(0x00000BAD if blk.copyable else 0x40000BAD)
            else:
                expected.append(BLOCK_TYPES[type(blk)])
    assert types == expected
    assert row["pcapng.block.length"] == row["pcapng.block.length_trailer"]
    assert all(int(n) % 4 == 0 for n in row["pcapng.block.length"].split(","))
    assert sum(int(n) for n in row["pcapng.block.length"].split(",")) == rich_pcapng.stat().st_size
    assert (row["_ws.expert.message"], row["_ws.malformed"]) == ("", "")


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_pcapng_read_by_dpkt(big_endian: bool) -> None:
    """dpkt reads one section with one interface: EPB and the obsolete PB, skipping everything else."""
    section = Section(
        big_endian=big_endian,
        interfaces=(Interface(LINKTYPE_ETHERNET, tsresol=9, tsoffset=TSOFFSET),),
        blocks=(
            EnhancedPacket(TS, ETH),
            InterfaceStatistics(0, TS, 1, 0),
            RawBlock(0xB0B, b"?"),
            NameResolution((("10.0.0.1", "x"),)),
            CustomBlock(1, b"c"),
            ObsoletePacket(TS + 500, ETH_LONG),
        ),
    )
    reader = dpkt.pcapng.Reader(io.BytesIO(pcapng_bytes([section])))
    assert reader.datalink() == dpkt.pcap.DLT_EN10MB
    got = list(reader)
    assert [buf for _, buf in got] == [ETH, ETH_LONG]
    # dpkt returns float seconds, so compare to well under a microsecond.
    assert [round(ts, 6) for ts, _ in got] == [round(TS / 1e9, 6), round((TS + 500) / 1e9, 6)]


def test_pcapng_refuses_undefined_interface_and_unrepresentable_time() -> None:
    with pytest.raises(ValueError):
        pcapng_bytes([Section(blocks=(EnhancedPacket(TS, ETH, interface=1),))])
    with pytest.raises(ValueError):  # 10**-12 s units overflow 64 bits in 2026 without an offset
        pcapng_bytes([Section(interfaces=(Interface(tsresol=12),), blocks=(EnhancedPacket(TS, ETH),))])


def test_pcapng_options_and_blocks_are_32_bit_aligned() -> None:
    data = pcapng_bytes([Section(interfaces=(Interface(name="x"),), blocks=(EnhancedPacket(TS, b"abc", comment="c"),))])
    offset = 0
    while offset < len(data):
        _, length = struct.unpack_from("<II", data, offset)
        assert length % 4 == 0 and struct.unpack_from("<I", data, offset + length - 4)[0] == length
        offset += length
    assert offset == len(data)


# --- the demo capture ---


@pytest.fixture(scope="module")
def demo_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.pcap"
    demo_capture.main([str(path)])
    return path


def test_demo_is_deterministic_per_seed() -> None:
    assert demo_capture.demo_frames(1) == demo_capture.demo_frames(1)
    assert demo_capture.demo_frames(1) != demo_capture.demo_frames(2)


def test_demo_cli_prints_summary(demo_pcap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo_capture.main([str(demo_pcap.with_name("again.pcap")), "--seed", "1"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "frames" in out
    assert demo_pcap.with_name("again.pcap").read_bytes() == demo_pcap.read_bytes()


@peer
def test_demo_capture_decodes_cleanly(demo_pcap: Path) -> None:
    fields = (
        "frame.time_epoch",
        "frame.protocols",
        "_ws.expert.severity",
        "_ws.malformed",
        "ip.checksum.status",
        "tcp.checksum.status",
        "udp.checksum.status",
        "icmp.checksum.status",
        "tcp.analysis.flags",
        "modbus.func_code",
        "vlan.id",
        "ip.fragment.count",
        "icmp.type",
        "eth.src",
        "tcp.flags.syn",
        "tcp.flags.fin",
        "s7comm.param.func",
    )
    rows = tshark_fields(demo_pcap, fields, "-2", "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE")
    assert len(rows) == len(demo_capture.demo_frames(1))
    assert rows[0]["frame.time_epoch"] == "1767592800.000000000"  # 2026-01-05 06:00:00 UTC
    warn = 0x00600000
    for row in rows:
        assert row["_ws.malformed"] == "" and row["tcp.analysis.flags"] == "", row
        assert all(int(s) < warn for s in row["_ws.expert.severity"].split(",") if s), row
        for status in (
            "ip.checksum.status",
            "tcp.checksum.status",
            "udp.checksum.status",
            "icmp.checksum.status",
        ):
            assert set(filter(None, row[status].split(","))) <= {GOOD}, row

    def count(field: str, value: str) -> int:
        return sum(value in r[field].split(",") for r in rows)

    assert count("modbus.func_code", "3") == 3 * 60 * 2  # every poll answered, for a minute, three PLCs
    assert count("modbus.func_code", "6") == 2  # the operator's write and its echo
    assert count("tcp.flags.syn", "1") == 5 * 2  # 3 Modbus + S7 + SSH over IPv6, SYN and SYN/ACK
    assert count("tcp.flags.fin", "1") == 5 * 2
    assert count("vlan.id", "10") == 6
    assert count("ip.fragment.count", "3") == 1
    assert sorted(r["icmp.type"] for r in rows if r["icmp.type"]) == ["0", "8"]
    assert count("s7comm.param.func", "0xf0") == 2  # setup communication job + ack
    assert sum("ipv6" in r["frame.protocols"] for r in rows) >= 8
    assert {"arp", "dns", "syslog", "s7comm", "ssh"} <= {p for r in rows for p in r["frame.protocols"].split(":")}
    ouis = {r["eth.src"][:8] for r in rows}
    assert {"00:1b:1b", "00:00:bc", "00:80:f4"} <= ouis

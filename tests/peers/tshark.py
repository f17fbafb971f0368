"""tshark and capinfos as peers: what they count per capture, parsed into plain data.

One tshark run per capture gives both views used by the flow tests:

- the named peer, the TCP/UDP conversation tables (``-z conv,tcp -z conv,udp``): exact frame counts,
  but tshark 4.0 prints byte counts of 10,000 and more scaled and truncated ("4028 kB"), so they only
  bound the true value;
- the per-frame list (``-T fields``): frame length, protocol stack and every IP/TCP/UDP header's
  addresses and ports. Re-aggregated it must reproduce the conversation table (frames exactly, bytes
  within the printed precision); it then supplies the exact byte counts, and lets the tests name the
  frames behind a difference (tunnelled, fragmented, ...) instead of ignoring a whole key.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

# Order matters: parse_fields_line indexes by position.
FIELDS = (
    "frame.number",
    "frame.len",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ip.flags.mf",
    "ip.frag_offset",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.fraghdr.more",
    "ipv6.fraghdr.offset",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.hdr_len",
    "udp.srcport",
    "udp.dstport",
    "udp.length.bad",
    "ip.fragment",
    "ipv6.fragment",
    "_ws.short",
    "_ws.malformed",
)
# Per protocol layer named in frame.protocols: the fields each occurrence of that layer contributes.
LAYER_FIELDS = {
    "ip": ("ip.src", "ip.dst", "ip.flags.mf", "ip.frag_offset"),
    "ipv6": ("ipv6.src", "ipv6.dst"),
    "ipv6.fraghdr": ("ipv6.fraghdr.more", "ipv6.fraghdr.offset"),
    "tcp": ("tcp.srcport", "tcp.dstport", "tcp.hdr_len"),
    "udp": ("udp.srcport", "udp.dstport"),
}
CONV_PROTOCOLS = ("tcp", "udp")  # the conversation tables compared
ICMP_LAYERS = ("icmp", "icmpv6")
SEPARATOR = "=" * 80
# format_size() in tshark 4.0: below 10,000 the exact count with "bytes", else a truncated SI multiple.
UNITS = {"bytes": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_SIZE = r"(\d+) (bytes|kB|MB|GB|TB)"
CONV_ROW = re.compile(
    rf"^(?P<a>\S+)\s+<->\s+(?P<b>\S+)\s+\d+ {_SIZE}\s+\d+ {_SIZE}\s+(?P<frames>\d+) (?P<size>\d+) "
    rf"(?P<unit>bytes|kB|MB|GB|TB)\s+\S+\s+\S+\s*$"
)
# "[Packet size limited during capture: TCP truncated]", "[Malformed Packet: TCP]" (not "Modbus/TCP]").
EXCEPTION_IN = re.compile(r": TCP(?: truncated)?\]")
CONV_TITLES = {"TCP Conversations": "tcp", "UDP Conversations": "udp"}
# tshark prints this when run as root; it is not a problem with the capture.
ROOT_WARNING = re.compile(r'^Running as user "root" and group "root"\. This could be dangerous\.$')


class Endpoint(NamedTuple):
    addr: str
    port: int


class ConvKey(NamedTuple):
    """An undirected, VLAN-agnostic 5-tuple: the protocol and its two endpoints, lower first."""

    proto: str
    low: Endpoint
    high: Endpoint

    def __str__(self) -> str:
        return f"{self.proto} {self.low.addr}:{self.low.port} <-> {self.high.addr}:{self.high.port}"


def normalize_address(text: str) -> str:
    """Canonical text of an IPv4/IPv6 address, so both tools' spellings compare equal."""
    return str(ipaddress.ip_address(text))


def conv_key(proto: str, a_addr: str, a_port: int, b_addr: str, b_port: int) -> ConvKey:
    a = Endpoint(normalize_address(a_addr), a_port)
    b = Endpoint(normalize_address(b_addr), b_port)
    low, high = sorted((a, b))
    return ConvKey(proto, low, high)


def split_endpoint(text: str) -> tuple[str, int]:
    """'10.0.0.1:502' or '2001:db8::1:502' (tshark joins address and port with ':')."""
    addr, _, port = text.rpartition(":")
    return addr, int(port)


@dataclass(frozen=True)
class ConvTotal:
    """One key's totals as tshark prints them: frames exact, bytes within [bytes_min, bytes_max]."""

    frames: int
    bytes_min: int
    bytes_max: int

    def __add__(self, other: ConvTotal) -> ConvTotal:
        return ConvTotal(self.frames + other.frames, self.bytes_min + other.bytes_min,
                         self.bytes_max + other.bytes_max)

    def admits(self, frames: int, nbytes: int) -> bool:
        return frames == self.frames and self.bytes_min <= nbytes <= self.bytes_max

    def __str__(self) -> str:
        if self.bytes_min == self.bytes_max:
            return f"{self.frames} frames, {self.bytes_min} bytes"
        return f"{self.frames} frames, {self.bytes_min}..{self.bytes_max} bytes"


def parse_size(value: str, unit: str) -> tuple[int, int]:
    scale = UNITS[unit]
    low = int(value) * scale
    return low, low + scale - 1


@dataclass(frozen=True)
class L4Layer:
    """One TCP or UDP header in a frame, with where it sits in the protocol stack."""

    key: ConvKey
    sender: Endpoint  # the source address and port of this header
    stack: tuple[str, ...]  # frame.protocols up to and including this layer
    ip_fragment: bool  # the IP header right above it says "fragment" (MF set or offset > 0)
    header_ok: bool  # TCP: data offset >= 20 bytes (tshark stops at a bogus one); UDP: always
    cut_short: bool  # TCP: tshark's dissection ended in an exception inside this header (truncated options)

    @property
    def in_icmp_error(self) -> bool:
        return any(p in ICMP_LAYERS for p in self.stack)


@dataclass(frozen=True)
class TsharkFrame:
    number: int
    length: int  # frame.len: the wire length
    protocols: tuple[str, ...]
    layers: tuple[L4Layer, ...]
    reassembled_from: tuple[int, ...]  # other frames whose IP fragments tshark reassembled into this one
    udp_length_bad: bool  # a UDP length field larger than its IP payload ("Bad length value")
    aligned: bool  # every layer in frame.protocols found its fields (False: layers are a best effort)


@dataclass
class TsharkRun:
    path: Path
    returncode: int
    errors: list[str]  # stderr lines other than the run-as-root warning
    frames: list[TsharkFrame] = field(default_factory=list)
    conv: dict[ConvKey, ConvTotal] = field(default_factory=dict)
    conv_rows: int = 0
    scaled_rows: int = 0  # rows whose byte count tshark printed in kB/MB (bounds, not exact)

    def frame_lengths(self) -> dict[int, int]:
        return {f.number: f.length for f in self.frames}


def require_tool(name: str) -> str:
    """The tool's path; a clear error (never a skip) when it is missing: CI always installs it."""
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not on PATH: the peer tests need Wireshark's command-line tools "
                           "(apt-get install tshark)")
    return found


def tshark_command(path: Path) -> list[str]:
    args = [require_tool("tshark"), "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a",
            "-E", "aggregator=,"]
    for name in FIELDS:
        args += ["-e", name]
    return [*args, "-z", "conv,tcp", "-z", "conv,udp"]


def run_tshark(path: Path, timeout: float = 300.0) -> TsharkRun:
    """One tshark run: per-frame fields, then the conversation tables (printed after the frames)."""
    proc = subprocess.run(tshark_command(path), capture_output=True, text=True, errors="replace",
                          timeout=timeout, check=False)
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ROOT_WARNING.match(ln)]
    run = TsharkRun(path, proc.returncode, errors)
    lines = proc.stdout.splitlines()
    split = next((i for i, ln in enumerate(lines) if ln.startswith(SEPARATOR)), len(lines))
    run.frames = [parse_fields_line(ln) for ln in lines[:split]]
    parse_conv_tables(lines[split:], run)
    return run


def _values(text: str) -> list[str]:
    return text.split(",") if text else []


def parse_fields_line(line: str) -> TsharkFrame:
    cols = line.split("\t")
    if len(cols) != len(FIELDS):
        raise ValueError(f"tshark fields line has {len(cols)} columns, expected {len(FIELDS)}: {line!r}")
    raw = dict(zip(FIELDS, cols, strict=True))
    queues = {name: _values(raw[name]) for name in FIELDS}
    protocols = tuple(raw["frame.protocols"].split(":"))
    layers: list[L4Layer] = []
    aligned = True
    addr: tuple[str, str] | None = None
    fragment = False
    for depth, proto in enumerate(protocols):
        wanted = LAYER_FIELDS.get(proto)
        if wanted is None:
            continue
        if any(not queues[name] for name in wanted):
            aligned = False  # a truncated header: tshark shows the layer without all its fields
            continue
        vals = [queues[name].pop(0) for name in wanted]
        if proto in ("ip", "ipv6"):
            addr = (vals[0], vals[1])
            fragment = proto == "ip" and (vals[2] in ("1", "True") or vals[3] not in ("0", ""))
        elif proto == "ipv6.fraghdr":
            fragment = vals[0] in ("1", "True") or vals[1] not in ("0", "")
        elif addr is not None:
            key = conv_key(proto, addr[0], int(vals[0]), addr[1], int(vals[1]))
            sender = Endpoint(normalize_address(addr[0]), int(vals[0]))
            header_ok = proto != "tcp" or int(vals[2]) >= 20
            layers.append(L4Layer(key, sender, protocols[: depth + 1], fragment, header_ok, False))
        else:
            aligned = False
    # An exception ended the frame's dissection inside its last TCP header, before the tap (which TCP
    # queues after the options; UDP queues its tap before it touches the payload, so a short UDP frame
    # still counts).
    failed = EXCEPTION_IN.search(raw["_ws.short"] + raw["_ws.malformed"])
    if failed and layers and layers[-1].key.proto == "tcp":
        layers[-1] = replace(layers[-1], cut_short=True)
    if any(queues[name] for wanted in LAYER_FIELDS.values() for name in wanted):
        aligned = False  # values no layer claimed
    number = int(raw["frame.number"])
    pieces = {int(v) for v in _values(raw["ip.fragment"]) + _values(raw["ipv6.fragment"])}
    return TsharkFrame(number, int(raw["frame.len"]), protocols, tuple(layers),
                       tuple(sorted(pieces - {number})), bool(raw["udp.length.bad"]), aligned)


def parse_conv_tables(lines: Iterable[str], run: TsharkRun) -> None:
    proto: str | None = None
    for line in lines:
        title = CONV_TITLES.get(line.strip())
        if title is not None:
            proto = title
            continue
        if "<->" not in line:
            continue
        m = CONV_ROW.match(line)
        if m is None or proto is None:
            raise ValueError(f"unparsed tshark conversation row in {run.path}: {line!r}")
        a_addr, a_port = split_endpoint(m["a"])
        b_addr, b_port = split_endpoint(m["b"])
        key = conv_key(proto, a_addr, a_port, b_addr, b_port)
        low, high = parse_size(m["size"], m["unit"])
        total = ConvTotal(int(m["frames"]), low, high)
        run.conv[key] = run.conv[key] + total if key in run.conv else total
        run.conv_rows += 1
        run.scaled_rows += m["unit"] != "bytes"


def tapped(layer: L4Layer) -> bool:
    """Whether tshark's conversation tap counts this header.

    Every TCP/UDP header counts (tunnels included: a VXLAN frame counts for the outer UDP and for
    the inner conversation) except the copy of the offending packet quoted inside an ICMP error, a
    TCP header with a bogus data offset, and a header whose dissection raised an exception before
    the tap (options cut off by the snap length).
    """
    return not layer.in_icmp_error and layer.header_ok and not layer.cut_short


def derived_conv(frames: Sequence[TsharkFrame]) -> dict[ConvKey, tuple[int, int]]:
    """Per key (frames, exact bytes), re-aggregated from the per-frame view."""
    totals: dict[ConvKey, list[int]] = defaultdict(lambda: [0, 0])
    for f in frames:
        for layer in f.layers:
            if tapped(layer):
                t = totals[layer.key]
                t[0] += 1
                t[1] += f.length
    return {k: (v[0], v[1]) for k, v in totals.items()}


def derivation_disagreements(run: TsharkRun) -> list[str]:
    """Keys where the per-frame view does not reproduce tshark's own conversation table."""
    derived = derived_conv(run.frames)
    out = []
    for key in sorted(set(derived) | set(run.conv)):
        frames, nbytes = derived.get(key, (0, 0))
        total = run.conv.get(key, ConvTotal(0, 0, 0))
        if not total.admits(frames, nbytes):
            out.append(f"{key}: conversation table {total}, per-frame view {frames} frames, {nbytes} bytes")
    unaligned = [f.number for f in run.frames if not f.aligned]
    if out and unaligned:
        out.append(f"frames whose layers could not all be matched with their fields: {unaligned[:20]}")
    return out


def capinfos_counts(paths: Sequence[Path], cwd: Path) -> dict[str, int]:
    """Packet counts from one capinfos run over many files (relative to cwd), keyed as given.

    capinfos keeps going after a damaged file and reports the packets it read before the damage.
    """
    if not paths:
        return {}
    proc = subprocess.run([require_tool("capinfos"), "-c", "-M", "-T", "-r", *map(str, paths)], cwd=cwd,
                          capture_output=True, text=True, errors="replace", check=False, timeout=300)
    counts: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        name, _, count = line.rpartition("\t")
        if name and count.strip().isdigit():
            counts[name] = int(count)
    return counts

"""``zonewarden flows`` agrees with tshark on every capture of the shared corpus.

1. Frame counts equal capinfos' (and tshark's) for every capture.
2. Per undirected, VLAN-agnostic 5-tuple, our flows' packets and wire bytes equal tshark's TCP/UDP
   conversation tables. A difference passes only when EXCEPTIONS (a real difference in what the two
   tools count) or KNOWN_BUGS (ours is wrong; the entry goes when the fix lands) names the file and
   matches the very frames behind it; an entry that no longer matches anything fails too.
3. The CLI on damaged input (the corpus' robustness captures and variants made here): never a
   traceback, exit 1 with one ``problem:`` line naming the byte offset, and the flows of the
   undamaged part, again equal to tshark's reading of the same file.

tshark runs once per capture, in a background pool started when the session begins; our side runs
in-process (PacketPipeline), and a handful of cases go through the real CLI.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.peers.flows_peer import OurRun, PeerDifference, Predicate, compare, our_totals, run_ours
from tests.peers.tshark import (
    L4Layer,
    TsharkFrame,
    TsharkRun,
    capinfos_counts,
    derivation_disagreements,
    require_tool,
    run_tshark,
)
from zonewarden.flow.records import flow_dicts
from zonewarden.pipeline.packets import PacketPipeline

pytestmark = pytest.mark.peer

CORPUS_MISSING = "corpus-missing"  # conftest's parameter when the manifest cannot be read
IP_LAYERS = ("ip", "ipv6")

# ----------------------------------------------------------------------------------------------------
# Known differences (see flows_peer.PeerDifference): a predicate sees one TCP/UDP header tshark's
# conversation tap counted and says whether the entry explains it.


def inside(*protocols: str) -> Predicate:
    """The header sits inside an encapsulation zonewarden does not decode."""
    wanted = set(protocols)
    return lambda _frame, layer: bool(wanted.intersection(layer.stack))


def ip_in_ip(_frame: TsharkFrame, layer: L4Layer) -> bool:
    """An IP header directly inside another (4in6, 6in4, IP-in-IP): the tunnel's inner conversation."""
    ips = [p for p in layer.stack if not p.startswith("ipv6.")]
    return any(a in IP_LAYERS and b in IP_LAYERS for a, b in pairwise(ips))


def unreassembled_fragment(frame: TsharkFrame, layer: L4Layer) -> bool:
    """A fragment's L4 header that tshark read without reassembling the datagram (the rest is missing
    or the fragment was cut by the snap length)."""
    return layer.ip_fragment and not frame.reassembled_from


def reassembled_datagram(frame: TsharkFrame, _layer: L4Layer) -> bool:
    return bool(frame.reassembled_from)


EXCEPTIONS: tuple[PeerDifference, ...] = (
    PeerDifference(
        "gre-tunnel",
        "tshark decodes the conversation inside GRE (here PPTP's GRE+PPP); zonewarden keeps the GRE flow "
        "(proto gre) and does not decode inside it",
        frozenset({"encapsulation/ndpi/gre.pcapng"}),
        inside("gre"),
    ),
    PeerDifference(
        "vxlan-tunnel",
        "tshark counts a VXLAN frame twice: for the outer UDP/4789 conversation (which we match) and for the "
        "inner one; zonewarden does not decode VXLAN",
        frozenset({"encapsulation/ndpi/vxlan.pcap"}),
        inside("vxlan"),
    ),
    PeerDifference(
        "ip-in-ip-tunnel",
        "tshark decodes the inner conversation of 4in6/6in4 tunnels; zonewarden reports the tunnel itself "
        "(proto ip-4 / ip-41) and does not decode inside it",
        frozenset({"encapsulation/ndpi/4in6tunnel.pcap", "it/ndpi/syslog.pcap"}),
        ip_in_ip,
    ),
    PeerDifference(
        "unreassembled-first-fragment",
        "a first IP fragment whose datagram never completes (here: cut by the snap length) still shows its "
        "UDP header, which tshark dissects and counts; zonewarden (like Zeek) counts a fragmented datagram "
        "only once it is reassembled",
        frozenset({"robustness/ndpi/badpackets.pcap"}),
        unreassembled_fragment,
    ),
    PeerDifference(
        "reassembled-datagram-bytes",
        "a reassembled IP datagram is one packet for both tools, but tshark counts only the frame length of "
        "the fragment that completed it, while zonewarden counts the wire bytes of all its fragments",
        frozenset({"encapsulation/zeek/ipv6-fragmented-dns.pcap", "robustness/ndpi/ip_fragmented_garbage.pcap"}),
        reassembled_datagram,
        adds_fragment_bytes=True,
    ),
)

KNOWN_BUGS: tuple[PeerDifference, ...] = ()  # ours is wrong: none known
# Frame-count differences that are bugs: strict xfail, so the fix makes the test fail until removed.
FRAME_COUNT_BUGS: dict[str, str] = {}  # capture -> reason
ALL_RULES = KNOWN_BUGS + EXCEPTIONS  # known bugs first: a bug's drop wins over a byte adjustment


# ----------------------------------------------------------------------------------------------------
# Fixtures


class PeerRuns:
    """tshark runs in a thread pool, started for every capture this session will compare."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tshark")
        self._runs: dict[Path, Future[TsharkRun]] = {}

    def prefetch(self, paths: Iterable[Path]) -> None:
        for p in paths:
            if p not in self._runs:
                self._runs[p] = self._pool.submit(run_tshark, p)

    def get(self, path: Path) -> TsharkRun:
        self.prefetch([path])
        return self._runs[path].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _session_captures(session: pytest.Session) -> list[str]:
    seen: dict[str, None] = {}
    for item in session.items:
        params = getattr(item, "callspec", None)
        if params is None:
            continue
        for name in ("corpus_capture", "robustness_capture"):
            capture = params.params.get(name)
            if isinstance(capture, str) and capture != CORPUS_MISSING:
                seen.setdefault(capture)
    return list(seen)


@pytest.fixture(scope="session")
def tools() -> None:
    for name in ("tshark", "capinfos"):
        try:
            require_tool(name)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def peer_runs(request: pytest.FixtureRequest, corpus_dir: Path, tools: None) -> Iterator[PeerRuns]:
    runs = PeerRuns(max(2, os.cpu_count() or 2))
    runs.prefetch(corpus_dir / c for c in _session_captures(request.session))
    yield runs
    runs.close()


@pytest.fixture(scope="session")
def capinfos(request: pytest.FixtureRequest, corpus_dir: Path, tools: None) -> dict[str, int]:
    return capinfos_counts([Path(c) for c in _session_captures(request.session)], cwd=corpus_dir)


@pytest.fixture(scope="session")
def our_runs() -> Callable[[Path], OurRun]:
    cache: dict[Path, OurRun] = {}

    def get(path: Path) -> OurRun:
        if path not in cache:
            cache[path] = run_ours(path)
        return cache[path]

    return get


def _capture_path(corpus_dir: Path, capture: str) -> Path:
    path = corpus_dir / capture
    assert path.is_file(), f"capture listed in MANIFEST.tsv is missing: {path}"
    return path


# ----------------------------------------------------------------------------------------------------
# 1 and 2: the whole corpus


def test_frame_count_matches_capinfos(corpus_capture: str, corpus_dir: Path, peer_runs: PeerRuns,
                                      capinfos: dict[str, int], our_runs: Callable[[Path], OurRun],
                                      request: pytest.FixtureRequest) -> None:
    if corpus_capture in FRAME_COUNT_BUGS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=FRAME_COUNT_BUGS[corpus_capture]))
    path = _capture_path(corpus_dir, corpus_capture)
    ours = our_runs(path)
    theirs = peer_runs.get(path)
    assert corpus_capture in capinfos, f"capinfos reported no packet count for {corpus_capture}"
    assert (ours.frames, len(theirs.frames)) == (capinfos[corpus_capture], capinfos[corpus_capture]), (
        f"frames: ours {ours.frames}, tshark {len(theirs.frames)}, capinfos {capinfos[corpus_capture]}")
    damaged = theirs.returncode != 0 or bool(theirs.errors)
    assert bool(ours.problems) == damaged, f"problems: ours {ours.problems}, tshark {theirs.errors}"


def test_conversations_match_tshark(corpus_capture: str, corpus_dir: Path, peer_runs: PeerRuns,
                                    our_runs: Callable[[Path], OurRun]) -> None:
    path = _capture_path(corpus_dir, corpus_capture)
    theirs = peer_runs.get(path)
    # The per-frame view must reproduce tshark's own conversation table before it can stand in for it.
    unexplained = derivation_disagreements(theirs)
    assert not unexplained, "tshark's per-frame fields do not add up to its conversation table:\n" + "\n".join(
        unexplained)
    result = compare(corpus_capture, theirs, our_runs(path).totals, ALL_RULES)
    assert not result.failures, f"{len(result.failures)} difference(s) from tshark:\n" + "\n".join(result.failures)


def test_difference_tables_are_specific(corpus_dir: Path) -> None:
    """Every entry names a reason and real corpus files; names are unique; no entry is a blanket."""
    with (corpus_dir / "MANIFEST.tsv").open(newline="", encoding="utf-8") as f:
        listed = {row["relative_path"] for row in csv.DictReader(f, delimiter="\t")}
    names = [r.name for r in ALL_RULES]
    assert len(names) == len(set(names)), "duplicate entry names"
    for r in ALL_RULES:
        assert r.reason and r.files, r.name
        assert r.files <= listed, f"{r.name}: not in MANIFEST.tsv: {sorted(r.files - listed)}"
        assert len(r.files) <= 3, f"{r.name}: more than 3 files; split it or find the cause"
    for capture in FRAME_COUNT_BUGS:
        assert capture in listed, capture


# ----------------------------------------------------------------------------------------------------
# 3: the CLI on damaged and unusual input

ANSI = re.compile(r"\x1b\[[0-9;]*m")
OFFSET = re.compile(r" at byte offset (\d+)$")
PCAP_BASE = "enip-cip/cisagov-icsnpp-enip/enip_cip_example.pcap"  # TCP and UDP, 776 frames
PCAPNG_BASE = "beckhoff-ads/iti-ics-security-tools/addroute.pcapng"  # TCP, UDP and IPv6, 246 frames
CLI_SAMPLE = (
    PCAP_BASE,
    PCAPNG_BASE,
    "iec61850/emreekin-ics-pcaps/iedscout.pcap",  # pcapng content, VLAN tags, GOOSE
    "opcua/cisagov-icsnpp-opcua-binary/open62541_client-server_mainloop.pcap",  # link type null, IPv6
    "encapsulation/zeek/vlan-qinqinq.pcap",
)


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def flows(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def problems(self) -> list[str]:
        return [ln for ln in ANSI.sub("", self.stderr).splitlines() if ln.startswith("problem:")]


def run_cli(*args: str, stdin: bytes | None = None) -> CliRun:
    proc = subprocess.run([sys.executable, "-m", "zonewarden", "flows", "--format", "jsonl", *args],
                          input=stdin, capture_output=True, timeout=300, check=False)
    return CliRun(proc.returncode, proc.stdout.decode(), proc.stderr.decode(errors="replace"))


def check_exit(cli: CliRun, damage_offsets: set[int] | None) -> None:
    """No traceback; exit 0 and no problem, or (damaged) exit 1 and one problem naming the offset."""
    assert "Traceback" not in cli.stderr, cli.stderr
    if damage_offsets is None:
        assert (cli.returncode, cli.problems) == (0, []), cli.stderr
        return
    assert cli.returncode == 1, cli.stderr
    assert len(cli.problems) == 1, cli.stderr
    m = OFFSET.search(cli.problems[0])
    assert m is not None, f"problem line names no byte offset: {cli.problems[0]}"
    assert int(m[1]) in damage_offsets, f"offset {m[1]} is not where the damage is ({sorted(damage_offsets)})"


def assert_flows_match_tshark(path: Path, flows: list[dict[str, Any]]) -> None:
    theirs = run_tshark(path)
    unexplained = derivation_disagreements(theirs)
    assert not unexplained, "tshark's per-frame fields do not add up to its conversation table:\n" + "\n".join(
        unexplained)
    result = compare(path.name, theirs, our_totals(flows), rules=())
    assert not result.failures, "\n".join(result.failures)
    assert result.keys, "nothing compared"


def pcap_records(data: bytes) -> list[tuple[int, int]]:
    """(offset, captured length) of each complete record of a little-endian microsecond pcap."""
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "base capture must be a little-endian pcap"
    out, pos = [], 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        if pos + 16 + incl > len(data):
            break
        out.append((pos, incl))
        pos += 16 + incl
    return out


def pcapng_blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of each block of a little-endian pcapng file."""
    assert data[:4] == b"\x0a\x0d\x0d\x0a" and data[8:12] == b"\x4d\x3c\x2b\x1a", "little-endian pcapng"
    out, pos = [], 0
    while pos + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        out.append((pos, btype, blen))
        pos += blen
    return out


def write_pcap(path: Path, header: bytes, records: list[bytes]) -> Path:
    path.write_bytes(header + b"".join(records))
    return path


def sort_flows(flows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(flows, key=lambda f: (f["ts_start"], f["flow_id"]))


@pytest.fixture(scope="module")
def pcap_base(corpus_dir: Path) -> bytes:
    return _capture_path(corpus_dir, PCAP_BASE).read_bytes()


@pytest.fixture(scope="module")
def pcap_base_flows(corpus_dir: Path) -> list[dict[str, Any]]:
    cli = run_cli(str(_capture_path(corpus_dir, PCAP_BASE)), "-q")
    check_exit(cli, None)
    return cli.flows


@pytest.mark.parametrize("capture", CLI_SAMPLE)
def test_cli_matches_in_process_pipeline(capture: str, corpus_dir: Path) -> None:
    path = _capture_path(corpus_dir, capture)
    cli = run_cli(str(path))
    check_exit(cli, None)
    pipeline = PacketPipeline([str(path)])
    expected = [row for records in pipeline.flow_batches() for row in flow_dicts(records)]
    assert cli.flows == json.loads(json.dumps(expected))
    assert f"{pipeline.summary.frames} frames" in cli.stderr


def test_cli_robustness_capture(robustness_capture: str, corpus_dir: Path, peer_runs: PeerRuns,
                                our_runs: Callable[[Path], OurRun]) -> None:
    """The corpus' robustness captures through the CLI: exit status follows tshark's verdict on the file."""
    path = _capture_path(corpus_dir, robustness_capture)
    cli = run_cli(str(path))
    theirs = peer_runs.get(path)
    if theirs.returncode != 0 or theirs.errors:
        assert cli.returncode == 1 and len(cli.problems) == 1, cli.stderr
        assert OFFSET.search(cli.problems[0]), cli.problems[0]
        assert "Traceback" not in cli.stderr
    else:
        check_exit(cli, None)
    assert our_totals(cli.flows) == our_runs(path).totals


def test_truncated_mid_record(tmp_path: Path, pcap_base: bytes) -> None:
    records = pcap_records(pcap_base)
    offset, incl = records[len(records) // 2]
    path = tmp_path / "truncated.pcap"
    path.write_bytes(pcap_base[: offset + 16 + incl // 2])
    cli = run_cli(str(path))
    check_exit(cli, {offset})
    assert_flows_match_tshark(path, cli.flows)


def test_truncated_inside_record_header(tmp_path: Path, pcap_base: bytes) -> None:
    offset, _ = pcap_records(pcap_base)[100]
    path = tmp_path / "cut-header.pcap"
    path.write_bytes(pcap_base[: offset + 7])
    cli = run_cli(str(path))
    check_exit(cli, {offset})
    assert_flows_match_tshark(path, cli.flows)


def test_impossible_captured_length(tmp_path: Path, pcap_base: bytes) -> None:
    offset, _ = pcap_records(pcap_base)[300]
    damaged = bytearray(pcap_base)
    struct.pack_into("<I", damaged, offset + 8, 0x7FFFFFF0)  # incl_len far beyond any snap length
    path = tmp_path / "bad-caplen.pcap"
    path.write_bytes(bytes(damaged))
    cli = run_cli(str(path))
    check_exit(cli, {offset})
    assert_flows_match_tshark(path, cli.flows)
    assert sum(f["packets_orig"] + f["packets_resp"] for f in cli.flows) > 0


def test_pcapng_truncated_mid_block(tmp_path: Path, corpus_dir: Path) -> None:
    data = _capture_path(corpus_dir, PCAPNG_BASE).read_bytes()
    packets = [(o, n) for o, t, n in pcapng_blocks(data) if t == 6]
    offset, blen = packets[len(packets) // 2]
    path = tmp_path / "truncated.pcapng"
    path.write_bytes(data[: offset + blen // 2])
    cli = run_cli(str(path))
    check_exit(cli, {offset})
    assert_flows_match_tshark(path, cli.flows)


def test_pcapng_impossible_block_length(tmp_path: Path, corpus_dir: Path) -> None:
    data = bytearray(_capture_path(corpus_dir, PCAPNG_BASE).read_bytes())
    offset = [o for o, t, _ in pcapng_blocks(bytes(data)) if t == 6][50]
    struct.pack_into("<I", data, offset + 4, 13)  # not a multiple of 4: no valid block has it
    path = tmp_path / "bad-block.pcapng"
    path.write_bytes(bytes(data))
    cli = run_cli(str(path))
    check_exit(cli, {offset})
    assert_flows_match_tshark(path, cli.flows)


@pytest.mark.parametrize(("name", "content"), [
    ("empty.pcap", b""),
    ("cut-global-header.pcap", b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00"),
    ("notes.pcap", b"not a capture, just some text that happens to end in .pcap\n"),
])
def test_unreadable_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    cli = run_cli(str(path))
    check_exit(cli, {0})
    assert cli.flows == []


def test_gzip_capture(tmp_path: Path, pcap_base: bytes, pcap_base_flows: list[dict[str, Any]]) -> None:
    path = tmp_path / "capture.pcap.gz"
    path.write_bytes(gzip.compress(pcap_base, mtime=0))
    cli = run_cli(str(path))
    check_exit(cli, None)
    assert cli.flows == pcap_base_flows
    assert_flows_match_tshark(path, cli.flows)


def test_truncated_gzip(tmp_path: Path, pcap_base: bytes) -> None:
    compressed = gzip.compress(pcap_base, mtime=0)
    cut = compressed[: len(compressed) // 2]
    path = tmp_path / "truncated.pcap.gz"
    path.write_bytes(cut)
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    records = pcap_records(readable)
    end = records[-1][0] + 16 + records[-1][1]
    cli = run_cli(str(path))
    # The damage may be named in the decompressed stream (the first incomplete record, or where the
    # stream ends) or in the file (where the compressed data ends).
    check_exit(cli, {end, len(readable), len(cut)})
    assert_flows_match_tshark(path, cli.flows)
    piped = run_cli("-", stdin=cut)
    check_exit(piped, {end, len(readable), len(cut)})
    assert piped.flows == cli.flows


def test_directory_replays_in_time_order(tmp_path: Path, pcap_base: bytes,
                                         pcap_base_flows: list[dict[str, Any]]) -> None:
    records = pcap_records(pcap_base)
    half = len(records) // 2
    chunks = [pcap_base[o : o + 16 + n] for o, n in records]
    folder = tmp_path / "rotated"
    folder.mkdir()
    write_pcap(folder / "a-later.pcap", pcap_base[:24], chunks[half:])  # name order is the reverse
    write_pcap(folder / "b-earlier.pcap", pcap_base[:24], chunks[:half])
    (folder / "README.txt").write_text("not a capture: skipped, not a problem\n")
    cli = run_cli(str(folder))
    check_exit(cli, None)
    assert sort_flows(cli.flows) == sort_flows(pcap_base_flows)
    assert f"{len(records)} frames" in cli.stderr


def test_stdin(pcap_base: bytes, pcap_base_flows: list[dict[str, Any]]) -> None:
    cli = run_cli("-", stdin=pcap_base)
    check_exit(cli, None)
    assert cli.flows == pcap_base_flows
    gz = run_cli("-", stdin=gzip.compress(pcap_base, mtime=0))
    check_exit(gz, None)
    assert gz.flows == pcap_base_flows


def test_stdin_truncated(pcap_base: bytes) -> None:
    offset, incl = pcap_records(pcap_base)[200]
    cli = run_cli("-", stdin=pcap_base[: offset + 16 + incl - 1])
    check_exit(cli, {offset})
    assert cli.flows

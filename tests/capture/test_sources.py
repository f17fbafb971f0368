"""What the user names: gzip-compressed files, directories (replayed in time order), stdin, missing paths."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.strategies import NS, T0_NS, eth, read_capture, v4
from zonewarden.capture.source import CaptureRun
from zonewarden.errors import CaptureError
from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import EnhancedPacket, Interface, Section, pcap_bytes, pcapng_bytes

ZONEWARDEN = [sys.executable, "-m", "zonewarden"]


def udp_frame(sport: int, payload: bytes = b"") -> bytes:
    return eth(f.ipv4(v4(1), v4(2), f.IPPROTO_UDP, f.udp(v4(1), v4(2), sport, 2000, payload)))


def frames_at(start_ns: int, n: int, sport: int = 1000) -> list[tuple[int, bytes]]:
    return [(start_ns + i * NS, udp_frame(sport, bytes(i))) for i in range(n)]


def many_frames(n: int) -> list[tuple[int, bytes]]:
    return [(T0_NS + i * 1000, udp_frame(1000 + i % 50, bytes(i % 300))) for i in range(n)]


# --- gzip ---


def test_gzip_pcap_reads_like_the_plain_file(tmp_path: Path) -> None:
    frames = many_frames(3000)
    raw = pcap_bytes(frames, nanosecond=True)
    (tmp_path / "plain.pcap").write_bytes(raw)
    (tmp_path / "packed.pcap.gz").write_bytes(gzip.compress(raw))
    plain, _ = read_capture(tmp_path / "plain.pcap")
    packed, run = read_capture(tmp_path / "packed.pcap.gz")
    assert packed == plain
    assert [(g.ts_ns, g.data) for g in packed] == frames
    assert run.problems == []


def test_gzip_pcapng_reads_like_the_plain_file(tmp_path: Path) -> None:
    blocks = tuple(EnhancedPacket(ts, fr) for ts, fr in many_frames(500))
    raw = pcapng_bytes([Section(interfaces=(Interface(tsresol=9),), blocks=blocks)])
    path = tmp_path / "capture.pcapng.gz"  # the name does not matter, the magic number does
    path.write_bytes(gzip.compress(raw))
    got, run = read_capture(path)
    assert [(g.ts_ns, g.data) for g in got] == [(b.ts_ns, b.data) for b in blocks]
    assert run.problems == []


def test_gzip_of_garbage_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "garbage.gz"
    path.write_bytes(gzip.compress(b"this is no capture at all"))
    got, run = read_capture(path)
    assert got == []
    assert len(run.problems) == 1
    assert "not a pcap or pcapng" in run.problems[0].message


def test_gzip_cut_inside_its_header_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "stub.pcap.gz"
    path.write_bytes(gzip.compress(pcap_bytes(many_frames(3)))[:5])
    got, run = read_capture(path)
    assert got == []
    assert len(run.problems) == 1


def test_gzip_missing_its_trailer_still_yields_every_frame(tmp_path: Path) -> None:
    frames = many_frames(3000)
    path = tmp_path / "cut.pcap.gz"
    raw = pcap_bytes(frames)
    path.write_bytes(gzip.compress(raw)[:-8])
    got, run = read_capture(path)
    assert [(g.ts_ns, g.data) for g in got] == [(ts - ts % 1000, fr) for ts, fr in frames]
    # Reported where the decompressed stream ended: after every byte of the capture.
    assert [p.offset for p in run.problems] == [len(raw)]
    assert "read error" in run.problems[0].message


def test_gzip_cut_in_the_middle_yields_frames_up_to_the_cut(tmp_path: Path) -> None:
    frames = many_frames(3000)
    raw = pcap_bytes(frames)
    packed = gzip.compress(raw)
    path = tmp_path / "half.pcap.gz"
    path.write_bytes(packed[: len(packed) // 2])
    readable = len(zlib.decompressobj(31).decompress(packed[: len(packed) // 2]))
    got, run = read_capture(path)
    whole_records = 0
    pos = 24
    for _, fr in frames:
        if pos + 16 + len(fr) > readable:
            break
        pos += 16 + len(fr)
        whole_records += 1
    assert [(g.ts_ns, g.data) for g in got] == [(ts - ts % 1000, fr) for ts, fr in frames[:whole_records]]
    assert [p.offset for p in run.problems] == [readable]


def test_gzip_corrupt_deflate_data_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(pcap_bytes(many_frames(2000)), mtime=0))
    packed[20] ^= 0x55  # inside the first deflate block: an invalid code table
    path = tmp_path / "corrupt.pcap.gz"
    path.write_bytes(bytes(packed))
    got, run = read_capture(path)
    assert got == []  # the damage is in the first deflate block: nothing decompresses before it
    assert len(run.problems) == 1
    assert "read error" in run.problems[0].message


def test_gzip_bad_crc_keeps_every_frame_and_reports_the_end(tmp_path: Path) -> None:
    frames = many_frames(3000)
    raw = pcap_bytes(frames)
    packed = bytearray(gzip.compress(raw))
    packed[-8] ^= 0xFF  # the CRC-32 of the trailer: found wrong only after the last byte was decompressed
    path = tmp_path / "bad-crc.pcap.gz"
    path.write_bytes(bytes(packed))
    got, run = read_capture(path)
    assert [(g.ts_ns, g.data) for g in got] == [(ts - ts % 1000, fr) for ts, fr in frames]
    assert [p.offset for p in run.problems] == [len(raw)]
    assert "CRC" in run.problems[0].message


# --- directories ---


def test_directory_replays_in_first_packet_time_order_not_name_order(tmp_path: Path) -> None:
    d = tmp_path / "captures"
    (d / "sub").mkdir(parents=True)
    (d / "a-latest.pcap").write_bytes(pcap_bytes(frames_at(T0_NS + 300 * NS, 2, 1), nanosecond=True))
    ng = Section(interfaces=(Interface(tsresol=9),),
                 blocks=tuple(EnhancedPacket(ts, fr) for ts, fr in frames_at(T0_NS, 2, 2)))
    (d / "b-earliest.bin").write_bytes(pcapng_bytes([ng]))
    (d / "c-middle.pcap.gz").write_bytes(gzip.compress(pcap_bytes(frames_at(T0_NS + 200 * NS, 2, 3),
                                                                  nanosecond=True)))
    (d / "sub" / "d-second.pcap").write_bytes(pcap_bytes(frames_at(T0_NS + 100 * NS, 2, 4), nanosecond=True))
    (d / "README.txt").write_text("captures from the plant floor\n")
    (d / "empty.pcap").write_bytes(b"")
    (d / "no-packets.pcap").write_bytes(pcap_bytes([]))
    run = CaptureRun([str(d)])
    assert run.inputs == [
        str(d / "b-earliest.bin"),
        str(d / "sub" / "d-second.pcap"),
        str(d / "c-middle.pcap.gz"),
        str(d / "a-latest.pcap"),
        str(d / "no-packets.pcap"),
    ]
    assert sorted(run.stats.skipped_files) == [str(d / "README.txt"), str(d / "empty.pcap")]
    got, run = read_capture(d)
    times = [g.ts_ns for g in got]
    assert times == sorted(times)
    assert len(times) == 8
    assert run.problems == []
    assert run.stats.files == 5


def test_directory_and_file_arguments_keep_argument_order(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    (d / "x.pcap").write_bytes(pcap_bytes(frames_at(T0_NS, 1, 1), nanosecond=True))
    late = tmp_path / "late.pcap"
    late.write_bytes(pcap_bytes(frames_at(T0_NS + 5 * NS, 1, 2), nanosecond=True))
    got, _ = read_capture(late, d)
    assert [g.ts_ns for g in got] == [T0_NS + 5 * NS, T0_NS]


def test_missing_path_raises_capture_error() -> None:
    with pytest.raises(CaptureError, match="no such file"):
        CaptureRun(["/nonexistent/zonewarden/capture.pcap"])


def test_frame_numbers_continue_across_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(pcap_bytes(frames_at(T0_NS, 3)))
    b.write_bytes(pcap_bytes(frames_at(T0_NS + 10 * NS, 2)))
    batches = list(CaptureRun([str(a), str(b)]))
    assert [(x.first_frame, len(x)) for x in batches] == [(1, 3), (4, 2)]


# --- stdin and the CLI ---


def run_flows(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*ZONEWARDEN, "flows", *args], input=stdin, capture_output=True, timeout=120,
                          check=False)


def test_stdin_dash_reads_pcap_and_gzip_like_a_file(tmp_path: Path) -> None:
    raw = pcap_bytes(many_frames(400), nanosecond=True)
    path = tmp_path / "f.pcap"
    path.write_bytes(raw)
    from_file = run_flows([str(path), "-q"])
    from_stdin = run_flows(["-", "-q"], stdin=raw)
    from_gzip_stdin = run_flows(["-", "-q"], stdin=gzip.compress(raw))
    assert from_file.returncode == from_stdin.returncode == from_gzip_stdin.returncode == 0
    records = [json.loads(line) for line in from_stdin.stdout.splitlines()]
    assert len(records) == 50
    assert sum(r["packets_orig"] for r in records) == 400
    assert from_stdin.stdout == from_file.stdout == from_gzip_stdin.stdout
    assert from_stdin.stderr == b""


def test_cli_truncated_input_keeps_results_and_exits_1(tmp_path: Path) -> None:
    raw = pcap_bytes(frames_at(T0_NS, 4))
    path = tmp_path / "cut.pcap"
    path.write_bytes(raw[:-10])
    done = run_flows([str(path)])
    assert done.returncode == 1
    (record,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["packets_orig"] == 3
    offset = len(raw) - (16 + len(frames_at(T0_NS, 4)[3][1]))
    assert f"at byte offset {offset}" in done.stderr.decode()


def test_cli_missing_file_is_one_clean_error_line() -> None:
    done = run_flows(["/nonexistent/zonewarden.pcap"])
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert lines == ["error: /nonexistent/zonewarden.pcap: no such file or directory"]
    assert done.stdout == b""

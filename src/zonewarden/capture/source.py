"""Open what the user named (files, directories, ``-`` for stdin, gzip or not) as one stream of batches."""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import numpy.typing as npt

from zonewarden.capture.batching import BatchArrays
from zonewarden.capture.chunks import STREAM_ERRORS, ChunkReader, ReadFailed
from zonewarden.capture.pcap import PCAP_MAGICS, read_pcap
from zonewarden.capture.pcapng import read_pcapng
from zonewarden.errors import CaptureError
from zonewarden.model.frames import FrameBatch

GZIP_MAGIC = b"\x1f\x8b"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
STDIN = "-"


@dataclass(frozen=True, slots=True)
class CaptureProblem:
    """Damage found in an input; everything before it was processed."""

    path: str
    offset: int | None
    message: str

    def __str__(self) -> str:
        where = f" at byte offset {self.offset}" if self.offset is not None else ""
        return f"{self.path}: {self.message}{where}"


@dataclass
class CaptureStats:
    files: int = 0
    frames: int = 0
    skipped_blocks: int = 0
    skipped_files: list[str] = field(default_factory=list)


class ReadContext:
    """What one file's reader reports into: frame numbering, problems, counters."""

    def __init__(self, path: str, run: CaptureRun) -> None:
        self.path = path
        self._run = run
        self.skipped_blocks = 0

    def batch(self, buf: npt.NDArray[np.uint8], out: BatchArrays, n: int) -> FrameBatch:
        first = self._run.stats.frames + 1
        self._run.stats.frames += n
        return FrameBatch(buf, out.off[:n], out.cap[:n], out.wire[:n], out.ts[:n], out.lt[:n], first)

    def problem(self, offset: int | None, message: str) -> None:
        self._run.problems.append(CaptureProblem(self.path, offset, message))


class _PrefixedStream(io.RawIOBase):
    """A stream that first returns bytes already peeked from another stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._rest.readinto(b)  # type: ignore[attr-defined,no-any-return]


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts = []
    while n > 0:
        got = stream.read(n)
        if not got:
            break
        parts.append(got)
        n -= len(got)
    return b"".join(parts)


def _unwrap_gzip(stream: BinaryIO) -> tuple[BinaryIO, bytes, bool]:
    """Return (stream positioned after the peeked bytes, the first 4 bytes, whether it was gzip)."""
    head = _read_exact(stream, 4)
    if head[:2] != GZIP_MAGIC:
        return stream, head, False
    inner = cast(BinaryIO, gzip.GzipFile(fileobj=_PrefixedStream(head, stream), mode="rb"))
    return inner, _read_exact(inner, 4), True


def capture_kind(path: Path) -> str | None:
    """'pcap', 'pcapng' (possibly gzip-compressed) or None, from the file's magic number."""
    try:
        with open(path, "rb") as f:
            _stream, head, _ = _unwrap_gzip(f)
            if head in PCAP_MAGICS:
                return "pcap"
            if head == PCAPNG_MAGIC:
                return "pcapng"
    except STREAM_ERRORS:
        return None
    return None


class CaptureRun:
    """All frames of the named inputs, in order, as batches; problems are collected, not raised.

    A directory contributes every capture file below it (by magic number, not name), ordered by the
    time of each file's first packet so rotated captures replay in order.
    """

    def __init__(self, inputs: Sequence[str]) -> None:
        self.problems: list[CaptureProblem] = []
        self.stats = CaptureStats()
        self.inputs = self._expand(inputs)
        self._current: ChunkReader | None = None
        self._done_bytes = 0

    @property
    def total_bytes(self) -> int | None:
        """Total input size on disk, for progress; None when reading stdin."""
        if STDIN in self.inputs:
            return None
        return sum(os.path.getsize(p) for p in self.inputs if os.path.isfile(p))

    @property
    def bytes_done(self) -> int:
        """Stored (possibly compressed) bytes consumed so far, approximate within a chunk."""
        current = 0
        if self._current is not None:
            current = self._current.base
        return self._done_bytes + current

    def _expand(self, inputs: Sequence[str]) -> list[str]:
        files: list[str] = []
        for item in inputs:
            if item == STDIN:
                files.append(STDIN)
                continue
            path = Path(item)
            if path.is_dir():
                found = [p for p in sorted(path.rglob("*")) if p.is_file()]
                captures = [p for p in found if capture_kind(p) is not None]
                self.stats.skipped_files.extend(str(p) for p in found if p not in captures)
                files.extend(self._time_order([str(p) for p in captures]))
            elif path.exists():
                files.append(item)
            else:
                raise CaptureError(f"{item}: no such file or directory")
        return files

    def _time_order(self, paths: list[str]) -> list[str]:
        def first_ts(p: str) -> tuple[int, str]:
            probe = CaptureRun.__new__(CaptureRun)
            probe.problems, probe.stats, probe._current, probe._done_bytes = [], CaptureStats(), None, 0
            for batch in probe._read_one(p):
                if len(batch):
                    return int(batch.ts_ns[0]), p
            return 2**63 - 1, p

        return [p for _, p in sorted(first_ts(p) for p in paths)]

    def __iter__(self) -> Iterator[FrameBatch]:
        for path in self.inputs:
            yield from self._read_one(path)

    def _read_one(self, path: str) -> Iterator[FrameBatch]:
        ctx = ReadContext(path, self)
        self.stats.files += 1
        try:
            raw: BinaryIO = sys.stdin.buffer if path == STDIN else open(path, "rb")  # noqa: SIM115
        except OSError as exc:
            ctx.problem(None, f"cannot open: {exc.strerror}")
            return
        try:
            yield from self._read_stream(raw, path, ctx)
        except ReadFailed as exc:
            # Every frame before the damage was delivered; the offset is in the decompressed stream.
            ctx.problem(exc.offset, f"read error: {exc.cause}")
        except STREAM_ERRORS as exc:  # in the first bytes, before the chunked reading started
            ctx.problem(None, f"read error: {exc}")
        finally:
            self.stats.skipped_blocks += ctx.skipped_blocks
            if self._current is not None:
                self._current.close()
                self._done_bytes += self._current.base
                self._current = None
            if path != STDIN:
                raw.close()

    def _read_stream(self, raw: BinaryIO, path: str, ctx: ReadContext) -> Iterator[FrameBatch]:
        stream, head, _gz = _unwrap_gzip(raw)
        if head in PCAP_MAGICS:
            header = head + _read_exact(stream, 20)
            if len(header) < 24:
                ctx.problem(0, "capture truncated inside the file header")
                return
            reader = ChunkReader(stream, 24)
            self._current = reader
            yield from read_pcap(reader, header, ctx)
        elif head == PCAPNG_MAGIC:
            reader = ChunkReader(stream, 0, prefix=head)
            self._current = reader
            yield from read_pcapng(reader, ctx)
        elif not head:
            ctx.problem(0, "empty file")
        else:
            ctx.problem(0, f"not a pcap or pcapng capture (starts with {head.hex()})")


def open_captures(inputs: Sequence[str]) -> CaptureRun:
    """Open the inputs; raises CaptureError only for names that do not exist."""
    return CaptureRun(inputs)

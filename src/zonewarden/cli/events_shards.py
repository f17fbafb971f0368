"""``zonewarden events --workers N``: the flows shared between worker processes, the output as with one.

Each worker is forked, reads the whole capture (decoding and the flow table are cheap and the same in every
process) and analyses its share of the flows (``Shard``: by flow id; layer-2 frames go to worker 0). The
flow table finishes flows at the same packets in every worker, so every worker flushes its events at the
same points as a single process would; per flush each sends its lines, encoded and in frame order, with
their frame numbers, and the parent merges them by frame. A frame's events all come from one flow, hence
from one worker, so the merge puts them in the order a single process prints them.

Two conditions of that are checked, not assumed; when one fails, the parent stops the workers and replays
the capture in one process, writing from that flush on (what the workers wrote before is what it would have):

- the reassembly budget, the out-of-order bytes all streams may hold at once, is the one limit flows share:
  each worker has all of it, and while the workers' peaks in a flush add up to no more than one budget, no
  reservation was refused, in a worker or in a single process (N workers may hold up to N budgets);
- two workers with events of the same frame would make their order ambiguous.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import queue
import struct
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.context import ForkProcess
from typing import Any

import numpy as np
import numpy.typing as npt

from zonewarden.capture.source import open_captures
from zonewarden.cli.events import EventsRun, Selection, run_single
from zonewarden.cli.output import progress_bar, write_jsonl, write_pieces
from zonewarden.flow.tcp_reassembly import ReassemblyLimits
from zonewarden.model.events import Event
from zonewarden.pipeline.app_layer import AppLayer, Shard
from zonewarden.pipeline.eventlane import EventLane, attach
from zonewarden.pipeline.packets import PacketPipeline, rare_collections
from zonewarden.protocols.base import AnalyzerSpec


def run_sharded(captures: Sequence[str], specs: Sequence[AnalyzerSpec], selection: Selection, workers: int,
                progress: bool) -> EventsRun:
    """Analyse the captures in ``workers`` processes and write their events to stdout as one process would."""
    import multiprocessing

    total = open_captures(captures).total_bytes  # a missing input fails here, as in a single process
    context = multiprocessing.get_context("fork")
    sys.stdout.flush()
    sys.stderr.flush()  # (a forked worker must not inherit unwritten output)
    procs: list[ForkProcess] = []
    read_fds: list[int] = []
    channels: list[_Receiver] = []
    try:
        for index in range(workers):
            read_fd, write_fd = _pipe()
            read_fds.append(read_fd)
            proc = context.Process(target=_work, daemon=True, args=(
                write_fd, list(read_fds), captures, specs, selection, Shard(index, workers)))
            proc.start()
            os.close(write_fd)
            procs.append(proc)
        channels = [_Receiver(fd) for fd in read_fds]  # (their threads start once every worker is forked)
        with progress_bar(total, progress) as advance:
            result = _collect(channels, advance)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for channel in channels:
            channel.close()
        for fd in read_fds[len(channels):]:
            os.close(fd)
    if isinstance(result, EventsRun):
        return result
    # The workers could not be shown to agree with a single process from flush ``result`` on: replay.
    return run_single(captures, specs, selection, lambda lines: write_jsonl(lines, sys.stdout), progress,
                      skip_flushes=result, lines=True)


def _collect(channels: list[_Receiver], advance: Callable[[int], None]) -> EventsRun | int:
    """Write the workers' flushes merged; the run's summary, or the flush from which a single process must
    take over (see the module docstring)."""
    capacity = budget_capacity()
    flushes = 0
    while True:
        messages = [c.receive() for c in channels]
        if all(isinstance(m, tuple) for m in messages):
            break
        flushed = [m for m in messages if isinstance(m, _Flush)]
        if len(flushed) != len(messages):
            raise RuntimeError("events workers out of step")  # their flow tables differ: a bug
        pieces = merge(flushed, joined=False)
        if pieces is None or sum(f.peak for f in flushed) > capacity:
            return flushes
        write_pieces(pieces if isinstance(pieces, list) else [memoryview(pieces)], sys.stdout)
        advance(flushed[0].done)
        flushes += 1
    ends = [m for m in messages if isinstance(m, tuple)]
    flows: Counter[str] = Counter()
    handed_back: Counter[str] = Counter()
    for _summary, f, h in ends:
        flows.update(f)
        handed_back.update(h)
    return EventsRun(ends[0][0], flows, handed_back)


def budget_capacity() -> int:
    """The reassembly budget a single process would share between all streams."""
    return ReassemblyLimits().max_total_buffered


@dataclass
class _Flush:
    """One flush of one worker: its lines (JSONL, in frame order), where each ends, and their frames."""

    peak: int  # the most the worker's streams held (or asked for) at once since its last flush
    done: int  # capture bytes read
    frames: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    data: bytes | bytearray


def merge(parts: list[_Flush], joined: bool = True) -> bytes | bytearray | list[memoryview] | None:
    """The lines of one flush, from every worker, in frame order (each part is already); None when two parts
    have lines of the same frame, whose order between them cannot be known. Not ``joined``: the pieces, in
    order (runs of lines of one part), for output.write_pieces."""
    merged = merge_runs(parts)
    if merged is None:
        return None
    return _joined(merged[2]) if joined else merged[2]


Lines = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], bytes | bytearray]
_NONE = np.zeros(0, np.int64)


def merge_lines(parts: list[_Flush]) -> Lines | None:
    """As ``merge``, with the merged lines' frames and ends: (frames, ends, bytes)."""
    merged = merge_runs(parts)
    return None if merged is None else (merged[0], merged[1], _joined(merged[2]))


def _joined(pieces: list[memoryview]) -> bytes | bytearray:
    if len(pieces) == 1 and isinstance(pieces[0].obj, bytes | bytearray) and len(pieces[0]) == len(pieces[0].obj):
        return pieces[0].obj  # a part's lines as they are: no copy
    return b"".join(pieces)


def merge_runs(parts: list[_Flush]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[memoryview]] | None:
    """The merge: the merged lines' frames and ends, and the runs of lines (views of the parts' bytes that
    follow each other in one part) in frame order; None when ambiguous (see ``merge``). A part out of frame
    order (the event lane's, when reassembled IP fragments complete late) is put in order too."""
    parts = [p for p in parts if p.frames.shape[0]]
    if not parts:
        return _NONE, _NONE, []
    if len(parts) == 1 and not np.any(parts[0].frames[1:] < parts[0].frames[:-1]):
        return parts[0].frames, parts[0].ends, [memoryview(parts[0].data)]
    counts = [p.frames.shape[0] for p in parts]
    frames = np.concatenate([p.frames for p in parts])
    source = np.repeat(np.arange(len(parts)), counts)
    order = np.argsort(frames, kind="stable")  # stable: a part's lines stay in their order
    frames, source = frames[order], source[order]
    if np.any((frames[1:] == frames[:-1]) & (source[1:] != source[:-1])):
        return None
    ends = np.concatenate([p.ends for p in parts])[order]
    starts = np.concatenate([np.concatenate(([0], p.ends[:-1])) for p in parts])[order]
    cut = np.flatnonzero((source[1:] != source[:-1]) | (starts[1:] != ends[:-1])) + 1
    first, last = np.concatenate(([0], cut)), np.concatenate((cut, [order.shape[0]])) - 1
    views = [memoryview(p.data) for p in parts]
    pieces = [views[s][a:b] for s, a, b in
              zip(source[first].tolist(), starts[first].tolist(), ends[last].tolist(), strict=True)]
    return frames, np.cumsum(ends - starts), pieces


def lines_of(rows: list[Event], encoder: Any, lane: EventLane | None) -> Lines:
    """A flush's lines: the Python path's events (in frame order) merged with what the event lane wrote."""
    data = encoder.encode_lines(rows) if rows else b""
    frames = np.fromiter((e.frame for e in rows), np.int64, len(rows))
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x0A) + 1  # (JSON strings escape a newline)
    if lane is None:
        return frames, ends, data
    merged = merge_lines([_Flush(0, 0, frames, ends, data), _Flush(0, 0, *lane.take())])
    if merged is None:
        raise RuntimeError("event lane and Python path wrote events of the same frame (a bug)")
    return merged


# ---- the worker side
def _work(write_fd: int, inherited: list[int], captures: Sequence[str], specs: Sequence[AnalyzerSpec],
          selection: Selection, shard: Shard) -> None:
    """A worker: analyse ``shard`` of the flows, sending each flush; never returns."""
    for fd in inherited:
        os.close(fd)  # the parent's ends: if the parent dies, writing fails instead of blocking
    sender = _Sender(write_fd)
    status = 0
    try:
        _analyse(sender, captures, specs, selection, shard)
    except KeyboardInterrupt:
        status = 130
    except BaseException:  # anything a worker hits is the parent's to report
        status = 1
        with contextlib.suppress(OSError):  # (the parent is gone)
            sender.send(_ERROR, traceback.format_exc().encode())
    finally:
        os._exit(status)  # not the interpreter's exit: the parent owns stdout and everything inherited


def _analyse(sender: _Sender, captures: Sequence[str], specs: Sequence[AnalyzerSpec], selection: Selection,
             shard: Shard) -> None:
    import msgspec

    pending: list[Event] = []
    app = AppLayer(pending.append, specs, shard=shard)
    lane = attach(app, captures, selection.anomalies, selection.protocols)
    pipeline = PacketPipeline(captures, consumers=[app])
    budget = app.streams.budget
    encoder = msgspec.json.Encoder()

    def flush() -> None:
        frames, ends, data = lines_of(selection.ordered(pending) if pending else [], encoder, lane)
        sender.send(_FLUSH, frames.tobytes(), ends.tobytes(), data, peak=budget.peak, done=pipeline.capture.bytes_done)
        budget.reset_peak()
        pending.clear()

    with rare_collections():
        for _records in pipeline.flow_batches():
            flush()
        flush()
    if lane is not None:
        app.flows_by_protocol.update(lane.flows_taken())
    sender.send(_END, pickle.dumps((pipeline.summary, app.flows_by_protocol, app.handed_back)))


# ---- the channel: a pipe per worker; a message is a header, then its parts
_FLUSH, _END, _ERROR = b"F", b"E", b"X"
# Messages the parent reads ahead of the merge per worker (the merge waits for the slowest worker's flush).
LOOKAHEAD = 8
_HEADER = struct.Struct("<cQQQQQ")  # kind, peak, done, then the sizes of up to three parts


def _pipe() -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError, AttributeError):  # a larger buffer: fewer switches between processes
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    return read_fd, write_fd


class _Sender:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, kind: bytes, *parts: bytes | bytearray, peak: int = 0, done: int = 0) -> None:
        sizes = [len(p) for p in parts] + [0] * (3 - len(parts))
        for buffer in (_HEADER.pack(kind, peak, done, *sizes), *parts):
            view = memoryview(buffer)
            while view:
                view = view[os.write(self.fd, view):]


class _Receiver:
    """The parent's end of a worker's pipe. A thread reads ahead up to LOOKAHEAD messages, so a worker whose
    share of a flush was lighter goes on with the next instead of waiting for the others to catch up."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._file = open(fd, "rb", buffering=0, closefd=False)  # noqa: SIM115 (closed by close)
        self._queue: queue.Queue[_Flush | tuple[Any, ...] | BaseException] = queue.Queue(LOOKAHEAD)
        self._closed = False
        self._thread = threading.Thread(target=self._read_ahead, name="zonewarden-events-shard", daemon=True)
        self._thread.start()

    def receive(self) -> _Flush | tuple[Any, ...]:
        """The next message: a flush, or the summary, flow and hand-back counts of a worker that is done."""
        message = self._queue.get()
        if isinstance(message, BaseException):
            raise message
        return message

    def close(self) -> None:
        """Stop reading (after the worker ended: its pipe is at its end) and release what was read ahead."""
        self._closed = True
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._file.close()
        os.close(self.fd)

    def _read_ahead(self) -> None:
        while not self._closed:
            try:
                message: _Flush | tuple[Any, ...] | BaseException = self._message()
            except BaseException as exc:  # handed to the main thread, which raises it
                message = exc
            self._queue.put(message)
            if not isinstance(message, _Flush):
                return

    def _message(self) -> _Flush | tuple[Any, ...]:
        kind, peak, done, *sizes = _HEADER.unpack(self._read(_HEADER.size))
        parts = [self._read(n) for n in sizes]
        if kind == _FLUSH:
            return _Flush(peak, done, np.frombuffer(parts[0], np.int64), np.frombuffer(parts[1], np.int64), parts[2])
        if kind == _END:
            end: tuple[Any, ...] = pickle.loads(parts[0])
            return end
        raise RuntimeError(f"an events worker failed:\n{bytes(parts[0]).decode(errors='replace')}")

    def _read(self, n: int) -> bytearray:
        buffer = bytearray(n)
        view = memoryview(buffer)
        while view:
            got = self._file.readinto(view)
            if not got:
                raise RuntimeError("an events worker ended without a word")
            view = view[got:]
        return buffer

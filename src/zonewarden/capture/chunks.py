"""Read a byte stream in chunks into numpy buffers, carrying an unfinished record over.

The next chunk is read by a helper thread while the current one is processed: file reads and gzip
decompression release the GIL, so reading overlaps the compiled record walk and decode. Each read
lands behind some headroom, where the unfinished record of the previous chunk is copied, so the big
chunk itself is never copied again.

A stream that fails part way (a cut or corrupt gzip member, an I/O error) first hands out every byte
it produced before the failure; the next call then raises ReadFailed with the offset of the damage.
"""

from __future__ import annotations

import contextlib
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

FIRST_CHUNK = 64 * 1024  # small first read: peeking at many files in a directory stays cheap
CHUNK = 8 * 1024 * 1024
RING_BLOCKS = 3  # the chunk being processed, the one being read ahead, and one spare
CARRY_ROOM = 512 * 1024  # more than one maximal record; a longer carry is concatenated instead

# What a failing stream raises: gzip.BadGzipFile is an OSError, a cut member EOFError, bad deflate data zlib.error.
STREAM_ERRORS = (OSError, EOFError, zlib.error)

_Block = tuple[npt.NDArray[np.uint8], int, Exception | None]


class ReadFailed(Exception):
    """The stream failed after ``offset`` bytes (of the possibly decompressed stream) were handed out."""

    def __init__(self, offset: int, cause: Exception) -> None:
        super().__init__(f"{cause} (after {offset} bytes)")
        self.offset = offset
        self.cause = cause


class ChunkReader:
    """Hands out buffers of ``carry + next bytes``; ``base`` is the stream offset of ``buf[0]``."""

    def __init__(self, stream: BinaryIO, start_offset: int, prefix: bytes = b"") -> None:
        self._stream = stream
        self._prefix = np.frombuffer(prefix, dtype=np.uint8)
        self._pool: ThreadPoolExecutor | None = None
        self._next: Future[_Block] | None = None
        self._started = False
        self._ring: list[npt.NDArray[np.uint8]] = []
        self._ring_next = 0
        self.base = start_offset
        self.eof = False
        self._failure: ReadFailed | None = None
        # readinto1 reads once per call, so what a gzip stream decompressed before it fails is not lost
        # (GzipFile.readinto drops the whole request when a later part of it raises).
        self._readinto = getattr(stream, "readinto1", None) or stream.readinto  # type: ignore[attr-defined]

    def _new_block(self, size: int) -> npt.NDArray[np.uint8]:
        """A buffer for the next read. Full-size buffers rotate through a ring of RING_BLOCKS: a buffer is
        reused only after the two chunks read after it, by which time the batches cut from it are done
        (the pipeline copies whatever it keeps), and fresh pages are not faulted in for every chunk."""
        if size != CHUNK:
            return np.empty(CARRY_ROOM + size, dtype=np.uint8)
        if len(self._ring) < RING_BLOCKS:
            self._ring.append(np.empty(CARRY_ROOM + size, dtype=np.uint8))
            return self._ring[-1]
        block = self._ring[self._ring_next]
        self._ring_next = (self._ring_next + 1) % RING_BLOCKS
        return block

    def _read_block(self, size: int) -> _Block:
        block = self._new_block(size)
        view = memoryview(block)[CARRY_ROOM:]  # type: ignore[arg-type]
        filled = 0
        try:
            while filled < size:  # short reads happen on pipes and stdin
                got = self._readinto(view[filled:])
                if not got:
                    break
                filled += got
        except STREAM_ERRORS as exc:
            return block, filled, exc
        return block, filled, None

    def next_buffer(self, carry: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
        """Return a new buffer starting with ``carry``; None once the stream is exhausted.

        Raises ReadFailed, once every byte read before a stream error has been handed out.
        """
        if self.eof:
            self._raise_failure()
            return None
        if not self._started:
            self._started = True
            size = FIRST_CHUNK
            block, filled, error = self._read_block(size)
            if self._prefix.shape[0]:
                carry = np.concatenate([self._prefix, carry])
        else:
            size = CHUNK
            block, filled, error = self._next.result() if self._next is not None else self._read_block(size)
            self._next = None
        if error is not None:
            self.eof = True
            self._failure = ReadFailed(self.base + carry.shape[0] + filled, error)
        elif filled < size:
            self.eof = True
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zonewarden-read")
            self._next = self._pool.submit(self._read_block, CHUNK)
        if filled == 0 and carry.shape[0] == 0:
            self._raise_failure()
            return None
        n = carry.shape[0]
        if n == 0:
            return block[CARRY_ROOM : CARRY_ROOM + filled]
        if n <= CARRY_ROOM:
            block[CARRY_ROOM - n : CARRY_ROOM] = carry
            return block[CARRY_ROOM - n : CARRY_ROOM + filled]
        return np.concatenate([carry, block[CARRY_ROOM : CARRY_ROOM + filled]])

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def advance(self, consumed: int) -> None:
        self.base += consumed

    def close(self) -> None:
        """Wait for a read in flight and stop the helper thread (before the stream is closed)."""
        if self._next is not None:
            self._next.cancel()
            with contextlib.suppress(Exception):  # a read failing after the reader stopped is of no interest
                self._next.result()
            self._next = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

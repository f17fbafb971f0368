"""Read a byte stream in growing chunks into numpy buffers, carrying an unfinished record over."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import numpy.typing as npt

FIRST_CHUNK = 64 * 1024  # small first read: peeking at many files in a directory stays cheap
CHUNK = 8 * 1024 * 1024


class ChunkReader:
    """Hands out buffers of ``carry + next bytes``; ``base`` is the stream offset of ``buf[0]``."""

    def __init__(self, stream: BinaryIO, start_offset: int, prefix: bytes = b"") -> None:
        self._stream = stream
        self._prefix = prefix
        self._next_size = FIRST_CHUNK
        self.base = start_offset
        self.eof = False

    def next_buffer(self, carry: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
        """Return a new buffer starting with ``carry``; None once the stream is exhausted."""
        if self.eof:
            return None
        size = self._next_size
        self._next_size = CHUNK
        buf = np.empty(carry.shape[0] + len(self._prefix) + size, dtype=np.uint8)
        filled = carry.shape[0]
        buf[:filled] = carry
        if self._prefix:
            buf[filled : filled + len(self._prefix)] = np.frombuffer(self._prefix, dtype=np.uint8)
            filled += len(self._prefix)
            self._prefix = b""
        view = memoryview(buf)  # type: ignore[arg-type]
        want = buf.shape[0]
        got_any = filled > carry.shape[0]
        while filled < want:
            got = self._stream.readinto(view[filled:])  # type: ignore[attr-defined]
            if not got:
                self.eof = True
                break
            filled += got
            got_any = True
        if not got_any:
            return None
        return buf[:filled]

    def advance(self, consumed: int) -> None:
        self.base += consumed

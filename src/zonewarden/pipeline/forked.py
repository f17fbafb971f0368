"""Run a side job in a forked child process while the parent goes on with the main one.

The child runs ``work()``; its return value (or the exception it raised) comes back pickled when the parent
asks for the ``result``. The child writes nothing to the terminal (its output would interleave with the
parent's) and leaves with ``os._exit``: it runs none of the parent's exit handlers and flushes none of its
buffers. Use it for work whose result is small beside the work (pickling is paid on both sides).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

from zonewarden.errors import WorkerError

T = TypeVar("T")


def available() -> bool:
    return hasattr(os, "fork")


class ForkedTask(Generic[T]):
    def __init__(self, work: Callable[[], T]) -> None:
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()  # (a child must not inherit unwritten output)
        self.pid = os.fork()
        if self.pid == 0:
            os.close(read_fd)
            _run_child(work, write_fd)  # never returns
        os.close(write_fd)
        self._read_fd = read_fd

    def result(self) -> T:
        """The child's return value (waits for it); its exception is raised here."""
        chunks: list[bytes] = []
        pid = self.pid
        try:
            while chunk := os.read(self._read_fd, 1 << 20):
                chunks.append(chunk)
        finally:
            self.cancel()
        if not chunks:
            raise WorkerError(f"a worker process (pid {pid}) ended before it finished its part of the job: killed, "
                              "or out of memory?")
        ok, value = pickle.loads(b"".join(chunks))
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Stop the child if it still runs, and release it (safe to call more than once)."""
        if self.pid > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = -1
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1


def _run_child(work: Callable[[], object], write_fd: int) -> None:
    code = 0
    try:
        try:
            payload = pickle.dumps((True, work()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # every failure goes to the parent, which raises it
            try:
                payload = pickle.dumps((False, exc), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # one that cannot be pickled is described instead
                payload = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view):]
    except BaseException:  # nothing to report it to: the parent sees no result
        code = 1
    finally:
        os._exit(code)

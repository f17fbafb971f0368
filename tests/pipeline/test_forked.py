"""The forked side job: its value or its exception comes back, a dead or cancelled child is reported, not
waited for forever, and the child leaves the parent's output alone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from zonewarden.errors import WorkerError
from zonewarden.pipeline.forked import ForkedTask


def test_the_childs_return_value_comes_back() -> None:
    parent = os.getpid()
    task = ForkedTask(lambda: (os.getpid(), list(range(100_000))))
    pid, values = task.result()
    assert pid != parent
    assert values == list(range(100_000))  # past any pipe buffer: read while the child writes


def test_the_childs_exception_is_raised_in_the_parent() -> None:
    def fail() -> None:
        raise ValueError("capture truncated at byte 42")

    with pytest.raises(ValueError, match="capture truncated at byte 42"):
        ForkedTask(fail).result()


class Unpicklable(Exception):
    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("no")


def test_an_exception_that_cannot_be_pickled_is_described() -> None:
    def fail() -> None:
        raise Unpicklable("held a socket")

    with pytest.raises(RuntimeError, match="Unpicklable: held a socket"):
        ForkedTask(fail).result()


def test_a_child_that_dies_is_reported_as_a_clean_error() -> None:
    with pytest.raises(WorkerError, match="ended before it finished"):
        ForkedTask(lambda: os._exit(3)).result()


def test_cancel_stops_a_running_child(tmp_path: Path) -> None:
    marker = tmp_path / "finished"

    def slow() -> None:
        time.sleep(30)
        marker.write_text("yes")

    task = ForkedTask(slow)
    pid = task.pid
    started = time.monotonic()
    task.cancel()
    task.cancel()  # twice is harmless
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left
    assert not marker.exists()


def test_the_child_flushes_none_of_the_parents_buffers(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as f:
        f.write("once\n")  # unflushed in this process's buffer when the child ends
        task = ForkedTask(lambda: f.write("child\n"))  # the child's copy is never flushed: it leaves by os._exit
        assert task.result() == len("child\n")
    assert out.read_text() == "once\n"

"""output.write_pieces: lines given in pieces reach the output whole and in order, without being joined first."""

from __future__ import annotations

import io
import os
import threading

from zonewarden.cli import output
from zonewarden.cli.output import write_pieces


def test_pieces_through_a_pipe_with_partial_writes() -> None:
    """A pipe takes at most its buffer per call: writev returns short and the rest follows."""
    pieces = [bytes([65 + k % 26]) * (1 + (k * 7919) % 70000) + b"\n" for k in range(3000)]
    read_fd, write_fd = os.pipe()
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(read_fd, 1 << 16):
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    with open(write_fd, "w", encoding="utf-8") as out:
        out.write("before\n")  # text written before the pieces comes first
        write_pieces([memoryview(p) for p in pieces], out)
    reader.join()
    os.close(read_fd)
    assert bytes(got) == b"before\n" + b"".join(pieces)


def test_more_pieces_than_one_call_takes(tmp_path: os.PathLike[str]) -> None:
    pieces = [f"{k}\n".encode() for k in range(output.IOV_MAX * 3 + 5)] + [b"", b"end\n"]
    path = os.path.join(tmp_path, "out.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        write_pieces(pieces, out)
    with open(path, "rb") as f:
        assert f.read() == b"".join(pieces)


def test_a_stream_without_a_file_gets_the_joined_lines() -> None:
    out = io.StringIO()
    write_pieces([b'{"a":1}\n', memoryview(b'{"b":2}\n')], out)
    assert out.getvalue() == '{"a":1}\n{"b":2}\n'

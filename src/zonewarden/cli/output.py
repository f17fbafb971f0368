"""Shared output helpers for commands: JSONL writing, progress, run summaries.

rich is imported only where it draws (progress bar on a terminal, tables): a plain JSONL run
should not pay for it at start-up.
"""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import click

from zonewarden.pipeline.packets import RunSummary


def write_jsonl(rows: list[Any] | bytes | bytearray, out: IO[str]) -> None:
    """``rows`` as JSON lines, or ``rows`` as they are when they are lines already encoded."""
    if not rows:
        return
    if isinstance(rows, bytes | bytearray):
        lines = rows
    else:
        import msgspec  # loaded with the first rows: the flows command writes its JSONL itself

        lines = msgspec.json.Encoder().encode_lines(rows)
    binary = getattr(out, "buffer", None)
    if binary is not None and codecs.lookup(getattr(out, "encoding", None) or "ascii").name == "utf-8":
        # The encoder's bytes are already UTF-8: write them under the text layer (flushed first, to keep the
        # order) rather than decode them to text for the text layer to encode again.
        out.flush()
        binary.write(lines)
    else:
        out.write(lines.decode())


IOV_MAX = 1024  # pieces per writev call (POSIX guarantees at least 16; Linux takes 1024)


def write_pieces(pieces: Sequence[bytes | bytearray | memoryview], out: IO[str]) -> None:
    """JSON lines already encoded, given as pieces in order: written with writev, not joined into one copy first
    (the lines of ``events`` run to hundreds of MB)."""
    binary = getattr(out, "buffer", None)
    try:
        fd = binary.fileno() if binary is not None else -1
    except (OSError, ValueError):  # (an in-memory stream)
        fd = -1
    if fd < 0 or codecs.lookup(getattr(out, "encoding", None) or "ascii").name != "utf-8":
        write_jsonl(b"".join(pieces), out)
        return
    out.flush()
    assert binary is not None
    binary.flush()
    views = [memoryview(p) for p in pieces if len(p)]
    while views:
        chunk = views[:IOV_MAX]
        written = os.writev(fd, chunk)
        done = 0
        while done < len(chunk) and written >= len(chunk[done]):
            written -= len(chunk[done])
            done += 1
        views = views[done:]
        if written:
            views[0] = views[0][written:]


class Advance:
    """What a progress bar hands its command: call it with the bytes read so far; ``stage`` names a step that
    follows the reading and has no byte count (the bar then pulses under that name)."""

    def __init__(self, update: Callable[[int], None] = lambda _done: None,
                 describe: Callable[[str], None] = lambda _text: None) -> None:
        self._update = update
        self.stage = describe

    def __call__(self, done: int) -> None:
        self._update(done)


@contextmanager
def progress_bar(total: int | None, enabled: bool) -> Iterator[Advance]:
    """A byte-progress bar on stderr, shown only when stderr is a terminal and the user wants it."""
    if not enabled or total is None or not sys.stderr.isatty():
        yield Advance()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task("reading", total=total)

        def describe(text: str) -> None:
            bar.update(task, description=text, total=None)  # no byte count: a pulsing bar
            bar.refresh()

        yield Advance(lambda done: bar.update(task, completed=done), describe)


def finish(status: int) -> None:
    """End a command that has written everything with exit ``status``. Run as a program, flush and leave
    without the interpreter's teardown: freeing every module, array and object one by one is a measurable
    share of a short run (0.15 s after ``analyze`` on the 1M-packet capture). Embedded callers (click's test
    runner swaps the streams) get a normal exit."""
    embedded = sys.stdout is not sys.__stdout__ or sys.stderr is not sys.__stderr__
    if not embedded:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    if status:
        sys.exit(status)


def _counts(items: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(items.items())) or "none"


def print_summary(summary: RunSummary) -> None:
    """The run's counters on stderr, one topic a line."""
    s = summary
    lines = [
        f"{s.files} file(s), {s.frames} frames, {s.wire_bytes} wire bytes, {s.flows} flows",
        f"link types: {_counts(s.link_types)}",
        f"network: {_counts(s.network)}",
        f"decode errors: {_counts(s.decode_errors)}",
    ]
    if s.fragments.get("fragments"):
        lines.append("ip fragments: " + _counts({k: v for k, v in s.fragments.items() if v}))
    lines.append("limits hit: " + _counts({k: v for k, v in s.limits.items() if v and k != "peak_live_flows"}))
    for line in lines:
        click.echo(line, err=True)
    for p in s.problems:
        click.echo(click.style("problem: ", fg="red") + p, err=True)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column.startswith("ts") and isinstance(value, float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(value)


RICH_MAX_ROWS = 2000  # past it, plain aligned text: rich lays a table out at ~1 ms a row (100k assets: 86 s)
PLAIN_MAX_WIDTH = 40  # characters of a column in plain text; longer cells end in "…"


def print_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """Aligned columns on stdout (rich), wide enough not to wrap addresses; plain text for long tables."""
    cells = [[_cell(c, r[c]) for c in columns] for r in rows]
    if len(cells) > RICH_MAX_ROWS:
        widths = [min(PLAIN_MAX_WIDTH, max(len(c), *(len(row[k]) for row in cells))) for k, c in enumerate(columns)]

        def line(values: Sequence[str]) -> str:
            return "  ".join((v if len(v) <= w else v[: w - 1] + "…").ljust(w)
                             for v, w in zip(values, widths, strict=True)).rstrip() + "\n"

        out = sys.stdout
        out.write(line(columns))
        out.writelines(line(row) for row in cells)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, box=None, header_style="bold")
    for row in cells:
        table.add_row(*row)
    Console(width=max(120, 14 * len(columns))).print(table)

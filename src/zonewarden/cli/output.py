"""Shared output helpers for commands: JSONL writing, progress, run summaries."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from zonewarden.pipeline.packets import RunSummary

_encoder = msgspec.json.Encoder()


def write_jsonl(rows: list[dict[str, Any]], out: IO[str]) -> None:
    if rows:
        out.write(b"\n".join(_encoder.encode(r) for r in rows).decode() + "\n")


@contextmanager
def progress_bar(total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A byte-progress bar on stderr, shown only when stderr is a terminal and the user wants it."""
    if not enabled or total is None or not sys.stderr.isatty():
        yield lambda _done: None
        return
    with Progress(
        TextColumn("reading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task("read", total=total)
        yield lambda done: bar.update(task, completed=done)


def print_summary(summary: RunSummary, console: Console) -> None:
    s = summary
    console.print(f"[bold]{s.files}[/] file(s), [bold]{s.frames}[/] frames, {s.wire_bytes} wire bytes, "
                  f"[bold]{s.flows}[/] flows")
    console.print("link types: " + ", ".join(f"{k} {v}" for k, v in sorted(s.link_types.items())))
    console.print("network: " + ", ".join(f"{k} {v}" for k, v in sorted(s.network.items())))
    if s.decode_errors:
        console.print("decode errors: " + ", ".join(f"{k} {v}" for k, v in sorted(s.decode_errors.items())))
    frag = s.fragments
    if frag.get("fragments"):
        console.print("ip fragments: " + ", ".join(f"{k} {v}" for k, v in frag.items() if v))
    hit = {k: v for k, v in s.limits.items() if v and k != "peak_live_flows"}
    console.print("limits hit: " + (", ".join(f"{k} {v}" for k, v in hit.items()) if hit else "none"))
    for p in s.problems:
        console.print(f"[red]problem:[/] {p}", highlight=False)

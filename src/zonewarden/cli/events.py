"""``zonewarden events``: every application message as one event."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import click

from zonewarden.capture.source import STDIN
from zonewarden.cli.output import finish, print_summary, print_table, progress_bar, write_jsonl
from zonewarden.model.events import Event

if TYPE_CHECKING:
    from zonewarden.pipeline.packets import RunSummary
    from zonewarden.protocols.base import AnalyzerSpec

# The analyzers are imported when the command runs, not when the CLI starts: `zonewarden flows` and
# `--help` should not pay for loading every protocol package.
PROTOCOLS = ("bacnet", "dnp3", "enip", "enip_io", "iec104", "modbus", "mqtt", "opcua", "profinet_dcp", "s7comm",
             "s7comm_plus")
# Default worker processes: one per CPU, at most this many.
MAX_WORKERS = 4
# Below this much input, starting workers (each reads the whole capture) costs more than it saves.
PARALLEL_MIN_BYTES = 4 << 20

TABLE_COLUMNS = ("ts", "frame", "proto", "kind", "src", "sport", "dst", "dport", "is_response", "summary")
_COMMON = frozenset({"ts", "proto", "kind", "src", "dst", "sport", "dport", "is_response", "flow_id", "frame"})
_BY_FRAME = attrgetter("frame")


def _summary(row: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in row.items() if k not in _COMMON and v is not None)


@dataclass(frozen=True)
class Selection:
    """Which events are printed, and in what order."""

    anomalies: bool
    protocols: frozenset[str]

    def ordered(self, pending: list[Event]) -> list[Event]:
        """The events of one flush to print, in frame order. The sort is stable: a frame's events keep the order
        they were parsed in. Returns ``pending`` itself (sorted) when nothing is filtered out."""
        pending.sort(key=_BY_FRAME)
        if self.anomalies and not self.protocols:
            return pending
        return [e for e in pending
                if (self.anomalies or e.kind == "message") and (not self.protocols or e.proto in self.protocols)]


@dataclass
class EventsRun:
    """What the summary needs of a run."""

    summary: RunSummary
    flows_by_protocol: Counter[str]
    handed_back: Counter[str]


@click.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@click.option("--protocol", "protocols", multiple=True, metavar="NAME",
              help=f"Only these protocols (repeat the option for several): {', '.join(PROTOCOLS)}; default: all.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True,
              help="jsonl: one JSON object per message (the Event JSONL contract); table: aligned columns.")
@click.option("--anomalies/--no-anomalies", default=True, show_default=True,
              help="Include anomaly events (malformed or protocol-violating messages).")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help=f"Processes sharing the flows between them (each reads the whole capture); the output is the "
                   f"same as with 1. Default: one per CPU, at most {MAX_WORKERS}; always 1 for stdin, the table "
                   f"format and inputs under {PARALLEL_MIN_BYTES >> 20} MiB.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr (only on a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def events(captures: tuple[str, ...], protocols: tuple[str, ...], fmt: str, anomalies: bool, workers: int | None,
           progress: bool, quiet: bool) -> None:
    """Print every industrial (and supported IT) protocol message in CAPTURE... as one event.

    Protocols are recognised by port and, on other ports, by content. Events come out in frame order
    within each batch of frames; `ts` is packet time.
    """
    from zonewarden.protocols.registry import ANALYZERS, event_protocols

    unknown = sorted(set(protocols) - set(event_protocols()))
    if unknown:
        raise click.BadParameter(f"unknown protocol {', '.join(unknown)}; known: {', '.join(event_protocols())}",
                                 param_hint="--protocol")
    specs = [s for s in ANALYZERS if not protocols or s.event_protos & set(protocols)]
    selection = Selection(anomalies, frozenset(protocols))
    table_rows: list[dict[str, object]] = []
    n = _workers(workers, captures, fmt)
    if n > 1:
        from zonewarden.cli.events_shards import run_sharded

        run = run_sharded(captures, specs, selection, n, progress)
    elif fmt == "jsonl":
        run = run_single(captures, specs, selection, lambda lines: write_jsonl(lines, sys.stdout), progress,
                         lines=True)
    else:
        from msgspec import structs

        run = run_single(captures, specs, selection, lambda rows: table_rows.extend(map(structs.asdict, rows)),
                         progress)
        for r in table_rows:
            r["summary"] = _summary(r)
        print_table(table_rows, TABLE_COLUMNS)
    if not quiet:
        print_summary(run.summary)
        counts = {p: n for p, n in run.flows_by_protocol.items()}
        click.echo("flows by protocol: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"),
                   err=True)
        if run.handed_back:
            click.echo("handed back (not the protocol): "
                       + ", ".join(f"{k} {v}" for k, v in sorted(run.handed_back.items())), err=True)
    finish(1 if run.summary.problems else 0)


def _workers(asked: int | None, captures: Sequence[str], fmt: str) -> int:
    """How many processes to run: what was asked (or one per CPU), but one where workers cannot help."""
    if fmt != "jsonl" or STDIN in captures or not hasattr(os, "fork"):
        return 1  # the table needs every row in one place; stdin can be read once; workers are forked
    if asked is not None:
        return asked
    sizes = [os.path.getsize(c) if os.path.isfile(c) else PARALLEL_MIN_BYTES for c in captures]
    if sum(sizes) < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def run_single(captures: Sequence[str], specs: Sequence[AnalyzerSpec], selection: Selection,
               write: Callable[[Any], None], progress: bool, skip_flushes: int = 0, lines: bool = False) -> EventsRun:
    """Analyse the captures in this process, handing each flush's events to ``write`` (in frame order). The
    first ``skip_flushes`` flushes are analysed but not written (they were, by workers that gave up).

    ``lines``: ``write`` takes the flush as JSON lines (bytes), and the event lane (pipeline/eventlane.py)
    writes the common ICS flows' lines in compiled code; else it takes the Event objects."""
    from zonewarden.pipeline.app_layer import AppLayer
    from zonewarden.pipeline.packets import PacketPipeline, rare_collections

    pending: list[Event] = []
    app = AppLayer(pending.append, specs)
    lane = None
    if lines:
        import msgspec

        from zonewarden.cli.events_shards import lines_of
        from zonewarden.pipeline.eventlane import attach

        encoder = msgspec.json.Encoder()
        lane = attach(app, captures, selection.anomalies, selection.protocols)
    pipeline = PacketPipeline(captures, consumers=[app])
    flushes = 0

    def flush() -> None:
        # Events wait for the flows that finish (or the end of input), then come out sorted by frame.
        nonlocal flushes
        if lines:
            data = lines_of(selection.ordered(pending) if pending else [], encoder, lane)[2]
            if data and flushes >= skip_flushes:
                write(data)
        elif pending and flushes >= skip_flushes:
            write(selection.ordered(pending))
        pending.clear()
        flushes += 1

    with progress_bar(pipeline.capture.total_bytes, progress) as advance, rare_collections():
        for _records in pipeline.flow_batches(advance):
            flush()
        flush()
    if lane is not None:
        app.flows_by_protocol.update(lane.flows_taken())
    return EventsRun(pipeline.summary, app.flows_by_protocol, app.handed_back)

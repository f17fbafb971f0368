"""``zonewarden events``: every application message as one event."""

from __future__ import annotations

import sys

import click

from zonewarden.cli.output import print_summary, print_table, progress_bar, write_jsonl
from zonewarden.model.events import Event

# The analyzers are imported when the command runs, not when the CLI starts: `zonewarden flows` and
# `--help` should not pay for loading every protocol package.
PROTOCOLS = ("bacnet", "dnp3", "enip", "enip_io", "iec104", "modbus", "mqtt", "opcua", "profinet_dcp", "s7comm",
             "s7comm_plus")

TABLE_COLUMNS = ("ts", "frame", "proto", "kind", "src", "sport", "dst", "dport", "is_response", "summary")
_COMMON = frozenset({"ts", "proto", "kind", "src", "dst", "sport", "dport", "is_response", "flow_id", "frame"})


def _summary(row: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in row.items() if k not in _COMMON and v is not None)


@click.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@click.option("--protocol", "protocols", multiple=True, metavar="NAME",
              help=f"Only these protocols (repeat the option for several): {', '.join(PROTOCOLS)}; default: all.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True,
              help="jsonl: one JSON object per message (the Event JSONL contract); table: aligned columns.")
@click.option("--anomalies/--no-anomalies", default=True, show_default=True,
              help="Include anomaly events (malformed or protocol-violating messages).")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr (only on a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def events(captures: tuple[str, ...], protocols: tuple[str, ...], fmt: str, anomalies: bool, progress: bool,
           quiet: bool) -> None:
    """Print every industrial (and supported IT) protocol message in CAPTURE... as one event.

    Protocols are recognised by port and, on other ports, by content. Events come out in frame order
    within each batch of frames; `ts` is packet time.
    """
    from zonewarden.pipeline.app_layer import AppLayer
    from zonewarden.pipeline.packets import PacketPipeline
    from zonewarden.protocols.registry import ANALYZERS, event_protocols

    unknown = sorted(set(protocols) - set(event_protocols()))
    if unknown:
        raise click.BadParameter(f"unknown protocol {', '.join(unknown)}; known: {', '.join(event_protocols())}",
                                 param_hint="--protocol")
    specs = [s for s in ANALYZERS if not protocols or s.event_protos & set(protocols)]
    pending: list[Event] = []
    app = AppLayer(pending.append, specs)
    pipeline = PacketPipeline(captures, consumers=[app])
    table_rows: list[dict[str, object]] = []
    with progress_bar(pipeline.capture.total_bytes, progress) as advance:
        for _records in pipeline.flow_batches(advance):
            _flush(pending, fmt, anomalies, table_rows, frozenset(protocols))
        _flush(pending, fmt, anomalies, table_rows, frozenset(protocols))
    if fmt == "table":
        for r in table_rows:
            r["summary"] = _summary(r)
        print_table(table_rows, TABLE_COLUMNS)
    if not quiet:
        print_summary(pipeline.summary)
        counts = {p: n for p, n in app.flows_by_protocol.items()}
        click.echo("flows by protocol: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"),
                   err=True)
        if app.handed_back:
            click.echo("handed back (not the protocol): "
                       + ", ".join(f"{k} {v}" for k, v in sorted(app.handed_back.items())), err=True)
    if pipeline.summary.problems:
        sys.exit(1)


def _flush(pending: list[Event], fmt: str, anomalies: bool, table_rows: list[dict[str, object]],
           protocols: frozenset[str]) -> None:
    if not pending:
        return
    pending.sort(key=lambda e: e.frame)
    rows = [e for e in pending if (anomalies or e.kind == "message") and (not protocols or e.proto in protocols)]
    pending.clear()
    if fmt == "jsonl":
        write_jsonl(rows, sys.stdout)
    else:
        from msgspec import structs

        table_rows.extend(structs.asdict(e) for e in rows)

"""``zonewarden flows``: one record per flow (connection)."""

from __future__ import annotations

import sys

import click

from zonewarden.cli.output import finish, print_summary, print_table, progress_bar, write_pieces
from zonewarden.flow.records import flow_dicts, flow_jsonl_pieces
from zonewarden.flow.table import FlowSettings
from zonewarden.pipeline.packets import PacketPipeline

JSONL_SLICE = 16_384  # flow records written as JSONL at a time
TABLE_COLUMNS = ("ts_start", "proto", "src", "sport", "dst", "dport", "vlan", "packets_orig", "packets_resp",
                 "bytes_orig", "bytes_resp", "state", "history")


@click.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True,
              help="jsonl: one JSON object per flow (the Flow JSONL contract); table: aligned columns.")
@click.option("--tcp-idle", type=click.FloatRange(min=0, min_open=True), default=300.0, show_default=True,
              help="Seconds of packet time without a packet before a TCP flow is finished.")
@click.option("--udp-idle", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Same for UDP and other IP protocols.")
@click.option("--active-timeout", type=click.FloatRange(min=0, min_open=True), default=3600.0,
              show_default=True, help="Long-lived flows are reported in records of at most this many seconds.")
@click.option("--max-flows", type=click.IntRange(min=1000), default=600_000, show_default=True,
              help="Live flows held at once; beyond it the least recently seen are finished early (counted).")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr (only on a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def flows(captures: tuple[str, ...], fmt: str, tcp_idle: float, udp_idle: float, active_timeout: float,
          max_flows: int, progress: bool, quiet: bool) -> None:
    """Print the flows (connections) in CAPTURE... (files, directories, or - for stdin).

    Flows are bidirectional, keyed by VLAN and 5-tuple; the originator is the SYN sender (else the
    first sender). Bytes are wire (frame) lengths; timestamps are packet time. A summary of link types,
    decode errors and limits goes to stderr.
    """
    settings = FlowSettings(tcp_idle=tcp_idle, udp_idle=udp_idle, other_idle=udp_idle, active=active_timeout,
                            max_flows=max_flows)
    pipeline = PacketPipeline(captures, settings)
    table_rows: list[dict[str, object]] = []
    with progress_bar(pipeline.capture.total_bytes, progress) as advance:
        for records in pipeline.flow_batches(advance):
            if fmt == "jsonl":
                # In slices: the end of a capture can finish hundreds of thousands of flows at once (a flood),
                # and their text would be held whole.
                for start in range(0, len(records), JSONL_SLICE):
                    write_pieces(flow_jsonl_pieces(records[start:start + JSONL_SLICE]), sys.stdout)
            else:
                table_rows.extend(flow_dicts(records))
    if fmt == "table":
        table_rows.sort(key=lambda r: (r["ts_start"], r["flow_id"]))
        print_table(table_rows, TABLE_COLUMNS)
    if not quiet:
        print_summary(pipeline.summary)
    finish(1 if pipeline.summary.problems else 0)

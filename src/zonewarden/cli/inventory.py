"""``zonewarden analyze``, ``assets`` and ``map``: the inventory commands."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from zonewarden.cli.output import finish, print_summary, print_table, progress_bar
from zonewarden.errors import ConfigError

ASSET_COLUMNS = ("asset_id", "ips", "macs", "mac_vendor", "vendor", "product_name", "firmware", "serial", "role",
                 "purdue_level", "protocols")
EDGE_COLUMNS = ("client", "server", "proto", "operations", "messages", "flows", "packets", "bytes")

DEFAULT_DB = "zonewarden.db"  # as zonewarden.store.db; SQLAlchemy is imported only by commands that use it
db_option = click.option("--db", default=DEFAULT_DB, show_default=True, metavar="PATH|URL",
                         help="The store: a SQLite file, or a database URL (postgresql+psycopg://...).")


def _flat(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={_flat(v)}" for k, v in value.items() if v)
    return value


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else _flat(r.get(c)) for c in columns])
    return buf.getvalue()


def _display(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    print_table([{c: _flat(r.get(c)) for c in columns} for r in rows], columns)


@click.command()
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE...")
@db_option
@click.option("--report", type=click.Path(dir_okay=False, writable=True), help="Write the HTML report here.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, writable=True),
              help="Write this run's assets and edges (as merged into the store) and its changes as JSON here; "
                   "`zonewarden assets` and `map` list the whole store.")
@click.option("--overrides", type=click.Path(exists=True, dir_okay=False),
              help="YAML file of attributes you know (name, role, zone, Purdue level...); kept across analyses.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr (only on a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="Only problems on stderr; no summary.")
def analyze(captures: tuple[str, ...], db: str, report: str | None, json_out: str | None, overrides: str | None,
            progress: bool, quiet: bool) -> None:
    """Analyse CAPTURE... into the store: assets with identity and evidence, the communication map, changes.

    Captures already analysed into this store are skipped, so re-running is safe. Prints a summary.
    """
    from zonewarden.inventory.facts import MAX_ADDRESSES
    from zonewarden.pipeline.analysis import analyze as run_analysis
    from zonewarden.store.db import Store

    entries = None
    if overrides:
        from zonewarden.inventory.overrides import load as load_overrides  # and YAML: only when asked

        entries = load_overrides(overrides)
    store = Store(db)
    total = sum(Path(c).stat().st_size for c in captures if c != "-" and Path(c).is_file()) or None
    with progress_bar(total, progress) as advance:
        result = run_analysis(captures, store, advance, overrides=entries, stage=advance.stage)
    for match in result.unmatched_overrides:
        click.echo(f"override matched no asset: {match}", err=True)
    for path in result.skipped:
        click.echo(f"skipped (already in the store): {path}", err=True)
    if result.summary is None:
        click.echo("nothing new to analyse", err=True)
        return
    assets = [a.as_dict() for a in result.assets]
    if json_out:
        Path(json_out).write_text(json.dumps({"assets": assets, "edges": result.edges, "changes": result.changes},
                                             indent=1, default=str))
    if report:
        from zonewarden.report.html import write_report

        write_report(report, store)
    if not quiet:
        print_summary(result.summary)
        roles = Counter(a["role"] or "unknown" for a in assets)
        levels = Counter("?" if a["purdue_level"] is None else str(a["purdue_level"]) for a in assets)
        left_out = [f"{result.probed_only} probed address(es) that never answered"] if result.probed_only else []
        if result.unproven_only:
            left_out.append(f"{result.unproven_only} address(es) that only tried to open a connection or two, "
                            "never showing they got the answer (forgeable)")
        click.echo(f"assets: {store.count_assets()} in the store, {result.run_assets} seen in this run"
                   + (f"; not made assets: {', '.join(left_out)}" if left_out else ""), err=True)
        if result.refused_addresses:
            click.echo(f"address limit hit: the inventory follows {MAX_ADDRESSES:,} IP and {MAX_ADDRESSES:,} MAC "
                       f"addresses; {result.refused_addresses:,} sightings of further addresses were counted, not "
                       "followed (a flood of forged sources?)", err=True)
        click.echo("seen in this run, by role: " + ", ".join(f"{k} {v}" for k, v in roles.most_common()), err=True)
        click.echo("seen in this run, by Purdue level: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())),
                   err=True)
        click.echo("events: " + (", ".join(f"{k} {v}" for k, v in sorted(result.events_by_protocol.items()))
                                 or "none"), err=True)
        talkers = sorted(result.edges, key=lambda e: -e["bytes"])[:5]
        by_id = {a["asset_id"]: (a["ips"] or a["macs"] or ["?"])[0] for a in assets}
        for e in talkers:
            click.echo(f"top talker: {by_id.get(e['client'])} -> {by_id.get(e['server'])} {e['proto']} "
                       f"{e['bytes']} bytes", err=True)
        kinds = Counter(c["kind"] for c in result.changes)
        click.echo("changes: " + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"), err=True)
        if report:
            click.echo(f"report: {Path(report).resolve()}", err=True)
    finish(1 if result.summary.problems else 0)  # the store has committed: nothing is left to write


@click.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def assets(db: str, fmt: str) -> None:
    """List the assets in the store (the Asset JSON contract with --format json)."""
    from zonewarden.store.db import Store

    store = Store(db)
    rows = sorted(store.load_assets().values(), key=lambda a: a["asset_id"])
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1, default=str))
    elif fmt == "csv":
        click.echo(_csv(rows, ASSET_COLUMNS), nl=False)
    else:
        _display(rows, ASSET_COLUMNS)


@click.command(name="map")
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "graphml", "svg"]), default="table",
              show_default=True, help="svg: drawn in Purdue layers; graphml: for yEd, Gephi, networkx.")
def comm_map(db: str, fmt: str) -> None:
    """The communication map: who talks to whom, with which protocol and operations."""
    from zonewarden.inventory.map_export import to_graphml, to_svg
    from zonewarden.store.db import Store

    store = Store(db)
    assets_by_id = store.load_assets()
    edges = sorted(store.load_edges(), key=lambda e: (e["client"], e["server"], e["proto"]))
    if fmt == "json":
        click.echo(json.dumps({"assets": [{k: v for k, v in a.items() if k != "evidence"}
                                          for a in assets_by_id.values()], "edges": edges}, indent=1))
    elif fmt == "csv":
        click.echo(_csv(edges, EDGE_COLUMNS), nl=False)
    elif fmt == "graphml":
        click.echo(to_graphml(list(assets_by_id.values()), edges), nl=False)
    elif fmt == "svg":
        click.echo(to_svg(list(assets_by_id.values()), edges), nl=False)
    else:
        names = {aid: (a["ips"] or a["macs"] or [aid])[0] for aid, a in assets_by_id.items()}
        _display([{**e, "client": names.get(e["client"]), "server": names.get(e["server"])} for e in edges],
                 EDGE_COLUMNS)


@click.command()
@click.argument("asset_id")
@click.argument("attribute")
@click.argument("value")
@db_option
def override(asset_id: str, attribute: str, value: str, db: str) -> None:
    """Set ATTRIBUTE of ASSET_ID to VALUE in the store; it beats any observation and survives new analyses.

    Example: zonewarden override A8fd84b916380 name "Boiler PLC"
    """
    from zonewarden.inventory.history import apply_overrides, asset_from_dict
    from zonewarden.inventory.overrides import check_attribute, parse_value
    from zonewarden.store.db import Store

    try:
        check_attribute(attribute)
        parsed = parse_value(attribute, value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    store = Store(db)
    stored = store.load_assets()
    if asset_id not in stored:
        raise click.BadParameter(f"no asset {asset_id} in {db}", param_hint="ASSET_ID")
    store.set_override(asset_id, attribute, parsed, "command line")
    asset = asset_from_dict(stored[asset_id])
    apply_overrides(asset, store.load_overrides()[asset_id])
    store.update_asset(asset.as_dict())
    click.echo(f"{asset_id}: {attribute} = {getattr(asset, attribute, None) if attribute != 'name' else value}")

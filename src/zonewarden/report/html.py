"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network) an auditor can keep."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from zonewarden import __version__
from zonewarden.inventory.map_export import connections, label, plant_first, to_svg
from zonewarden.model.assets import OP_CLASSES
from zonewarden.store.db import Store

MAX_ROWS = 1000  # per table: a report a browser opens in a second; the CLI lists everything

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2327;background:#fafbfc}
header{background:#14324a;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
main{padding:8px 28px 40px}h2{border-bottom:2px solid #14324a;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #d8dee4;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#eef2f5}.num{text-align:right}.muted{color:#6a737d}
.cards{display:flex;gap:14px;flex-wrap:wrap}.card{background:#fff;border:1px solid #d8dee4;border-radius:6px;
padding:10px 16px;min-width:130px}.card b{display:block;font-size:24px}
details summary{cursor:pointer;color:#0b5cad}.map{overflow-x:auto;background:#fff;border:1px solid #d8dee4}
.tag{display:inline-block;background:#eef2f5;border-radius:3px;padding:0 5px;margin:1px;font-size:12px}
"""


def _fmt_ts(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: Any) -> str:
    if value is None:
        return '<span class="muted">-</span>'
    if isinstance(value, list):
        return " ".join(f'<span class="tag">{escape(str(v))}</span>' for v in value)
    return escape(str(value))


def _more(shown: int, total: int, what: str, command: str) -> str:
    if shown >= total:
        return ""
    return (f'<p class="muted">{shown:,} of {total:,} {what} listed here; <code>{escape(command)}</code> '
            "lists them all.</p>")


def render(store: Store) -> str:
    all_assets = sorted(store.load_assets().values(), key=lambda a: (a.get("purdue_level") is None,
                                                                     a.get("purdue_level") or 0, label(a)))
    edges = store.load_edges()
    changes = store.changes()
    assets, _ = plant_first(all_assets, MAX_ROWS, connections(edges))
    analyses = store.analyses()
    names = {a["asset_id"]: label(a) for a in all_assets}
    roles = Counter(a.get("role") or "unknown" for a in all_assets)
    protocols = sorted({e["proto"] for e in edges})
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>zonewarden report</title><style>{CSS}</style></head><body>",
           f"<header><h1>zonewarden inventory report</h1><div>generated {_fmt_ts(datetime.now(UTC).timestamp())} UTC"
           f" by zonewarden {__version__} from {len(analyses)} analysis run(s)</div></header><main>"]
    last = analyses[-1] if analyses else None
    span = (f"{_fmt_ts(min(a['ts_first'] for a in analyses if a['ts_first']))} to "
            f"{_fmt_ts(max(a['ts_last'] for a in analyses if a['ts_last']))}") if any(
        a["ts_first"] for a in analyses) else "no traffic"
    out += ['<h2 id="overview">Overview</h2><div class="cards">',
            f'<div class="card"><b>{len(all_assets)}</b>assets</div>',
            f'<div class="card"><b>{len(edges)}</b>communication edges</div>',
            f'<div class="card"><b>{len(protocols)}</b>protocols</div>',
            f'<div class="card"><b>{len(changes)}</b>changes in the last run</div></div>',
            f"<p>Traffic covered: {escape(span)}. Inputs: "
            + ", ".join(escape(Path(p).name) for a in analyses for p in a["inputs"]) + ".</p>",
            "<p>Roles: " + ", ".join(f"{escape(k)} {v}" for k, v in roles.most_common()) + "</p>"]
    if last:
        s = last["summary"]
        out.append(f"<p class=\"muted\">Last run: {s.get('frames', 0)} frames, {s.get('flows', 0)} flows, events "
                   + ", ".join(f"{escape(k)} {v}" for k, v in sorted((s.get('events') or {}).items())) + "</p>")
    out += ['<h2 id="assets">Assets</h2><table><thead><tr><th>asset</th><th>addresses</th><th>vendor</th>'
            "<th>product</th><th>firmware</th><th>serial</th><th>role</th><th>level</th><th>protocols</th>"
            "<th>seen</th></tr></thead><tbody>"]
    for a in assets:
        reason = next((e["value"] for e in a["evidence"] if e["attribute"] == "role_reason"), None)
        placed = next((e["value"] for e in a["evidence"] if e["attribute"] == "purdue_level_reason"), None)
        evidence = "".join(
            f"<tr><td>{escape(e['attribute'])}</td><td>{_cell(e['value'])}</td><td>{escape(e['proto'])}</td>"
            f"<td>{_fmt_ts(e['ts'])}</td><td>{_cell(e['flow_id'])}</td>"
            f"<td class=\"num\">{e['confidence']:.2f}</td></tr>"
            for e in a["evidence"])
        out.append(
            f'<tr data-asset="{escape(a["asset_id"])}"><td><b>{escape(label(a))}</b><br>'
            f'<span class="muted">{escape(a["asset_id"])}</span>'
            f'<details><summary>evidence ({len(a["evidence"])})</summary><table><tr><th>attribute</th><th>value</th>'
            f"<th>source</th><th>time</th><th>flow</th><th>confidence</th></tr>{evidence}</table></details></td>"
            f"<td>{_cell(a['ips'])}<br>{_cell(a['macs'])}</td>"
            f"<td>{_cell(a.get('vendor'))}<br><span class=\"muted\">{_cell(a.get('mac_vendor'))}</span></td>"
            f"<td>{_cell(a.get('product_name'))} {_cell(a.get('product_code'))}</td><td>{_cell(a.get('firmware'))}</td>"
            f"<td>{_cell(a.get('serial'))}</td><td>{_cell(a.get('role'))}"
            f"{'<br><span class=muted>' + escape(str(reason)) + '</span>' if reason else ''}</td>"
            f"<td>{_cell(a.get('purdue_level'))}"
            f"{'<br><span class=muted>' + escape(str(placed)) + '</span>' if placed else ''}</td>"
            f"<td>served {_cell(a['protocols'].get('served'))}<br>"
            f"used {_cell(a['protocols'].get('used'))}</td>"
            f"<td>{_fmt_ts(a.get('first_seen'))}<br>{_fmt_ts(a.get('last_seen'))}</td></tr>")
    out.append("</tbody></table>")
    out.append(_more(len(assets), len(all_assets), "assets", "zonewarden assets --format csv"))
    out += ['<h2 id="map">Communication map (Purdue layers)</h2><div class="map">', to_svg(all_assets, edges),
            "</div>"]
    matrix: dict[str, Counter[str]] = defaultdict(Counter)
    for e in edges:
        matrix[e["proto"]].update(e["operations"])
        matrix[e["proto"]]["messages"] += e["messages"]
    out += ['<h2 id="operations">Protocols and operations</h2><table><thead><tr><th>protocol</th>'
            + "".join(f"<th>{op}</th>" for op in OP_CLASSES) + "<th>messages</th></tr></thead><tbody>"]
    for proto in protocols:
        out.append(f"<tr><td>{escape(proto)}</td>" + "".join(
            f'<td class="num">{matrix[proto].get(op, 0) or ""}</td>' for op in OP_CLASSES)
            + f'<td class="num">{matrix[proto]["messages"]}</td></tr>')
    out.append("</tbody></table>")
    out += ['<h2 id="edges">Edges</h2><table><thead><tr><th>client</th><th>server</th><th>protocol</th>'
            "<th>operations</th><th>flows</th><th>packets</th><th>bytes</th><th>first / last seen</th></tr></thead>"
            "<tbody>"]
    for e in sorted(edges, key=lambda e: -e["bytes"])[:MAX_ROWS]:
        ops = ", ".join(f"{k} {v}" for k, v in sorted(e["operations"].items()))
        out.append(f"<tr><td>{escape(names.get(e['client'], e['client']))}</td>"
                   f"<td>{escape(names.get(e['server'], e['server']))}</td><td>{escape(e['proto'])}</td>"
                   f"<td>{escape(ops)}</td><td class=\"num\">{e['flows']}</td><td class=\"num\">{e['packets']}</td>"
                   f"<td class=\"num\">{e['bytes']}</td><td>{_fmt_ts(e['first_seen'])}<br>{_fmt_ts(e['last_seen'])}"
                   "</td></tr>")
    out.append("</tbody></table>")
    out.append(_more(min(len(edges), MAX_ROWS), len(edges), "edges (the most bytes first)",
                     "zonewarden map --format csv"))
    out += ['<h2 id="changes">Changes since the previous analysis</h2>']
    if changes:
        kinds = Counter(c["kind"] for c in changes)
        out.append("<p>" + ", ".join(f"{escape(k)} {n:,}" for k, n in kinds.most_common()) + "</p>")
        out.append("<table><thead><tr><th>change</th><th>asset / edge</th><th>detail</th></tr></thead><tbody>")
        for c in changes[:MAX_ROWS]:
            subject = names.get(c.get("asset_id") or "", c.get("asset_id") or "")
            if c["kind"] in ("new_edge", "new_operation"):
                subject = f"{names.get(c['client'], c['client'])} -> {names.get(c['server'], c['server'])}"
            detail = ", ".join(f"{k}: {v}" for k, v in c.items() if k not in ("kind", "asset_id", "client", "server"))
            out.append(f"<tr><td>{escape(c['kind'])}</td><td>{escape(str(subject))}</td><td>{escape(detail)}</td></tr>")
        out.append("</tbody></table>")
        out.append(_more(min(len(changes), MAX_ROWS), len(changes), "changes",
                         "zonewarden analyze --json FILE (at the analysis)"))
    else:
        out.append("<p>No changes.</p>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def write_report(path: str, store: Store) -> None:
    Path(path).write_text(render(store), encoding="utf-8")

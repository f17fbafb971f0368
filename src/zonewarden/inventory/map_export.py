"""The communication map in exchange formats: GraphML (networkx) and an SVG drawn in Purdue layers."""

from __future__ import annotations

import io
from html import escape
from typing import Any

import networkx as nx

# Rows from the top of the drawing: enterprise, DMZ, operations, supervisory, control, then unknown.
LAYERS: list[tuple[str, tuple[float | None, ...]]] = [
    ("Level 4-5 enterprise", (4, 5)), ("Level 3.5 DMZ", (3.5,)), ("Level 3 site operations", (3,)),
    ("Level 2 supervisory", (2,)), ("Level 1 control", (1,)), ("Level 0 process", (0,)), ("Level unknown", (None,)),
]
BOX_W, BOX_H, GAP_X, ROW_H, MARGIN, LABEL_W = 150, 44, 24, 120, 20, 170
PROTO_COLORS = {"modbus": "#1f77b4", "s7comm": "#d62728", "enip": "#2ca02c", "dnp3": "#9467bd", "iec104": "#8c564b",
                "bacnet": "#e377c2", "opcua": "#17becf", "mqtt": "#bcbd22", "profinet_dcp": "#ff7f0e"}


def label(asset: dict[str, Any]) -> str:
    name = (asset.get("hostnames") or [None])[0] or (asset.get("ips") or asset.get("macs") or ["?"])[0]
    return str(name)


def to_graphml(assets: list[dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    g: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    for a in assets:
        g.add_node(a["asset_id"], label=label(a), ips=",".join(a["ips"]), macs=",".join(a["macs"]),
                   role=a.get("role") or "", vendor=a.get("vendor") or a.get("mac_vendor") or "",
                   purdue_level=-1 if a.get("purdue_level") is None else float(a["purdue_level"]))
    for e in edges:
        g.add_edge(e["client"], e["server"], proto=e["proto"], messages=e["messages"], flows=e["flows"],
                   packets=e["packets"], bytes=e["bytes"],
                   operations=",".join(f"{k}:{v}" for k, v in sorted(e["operations"].items())))
    buf = io.BytesIO()
    nx.write_graphml(g, buf)
    return buf.getvalue().decode()


def to_svg(assets: list[dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    """A self-contained SVG: one row per Purdue level, one box per asset, one line per edge."""
    rows: list[tuple[str, list[dict[str, Any]]]] = []
    for name, levels in LAYERS:
        members = sorted((a for a in assets if a.get("purdue_level") in levels), key=label)
        if members:
            rows.append((name, members))
    width = MARGIN * 2 + LABEL_W + max((len(m) for _, m in rows), default=1) * (BOX_W + GAP_X)
    height = MARGIN * 2 + max(len(rows), 1) * ROW_H
    pos: dict[str, tuple[float, float]] = {}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             "<style>.row{fill:#f4f6f8}.box{fill:#fff;stroke:#445;stroke-width:1}.edge{stroke-opacity:.7}</style>"]
    for r, (name, members) in enumerate(rows):
        y = MARGIN + r * ROW_H
        parts.append(f'<rect class="row" x="{MARGIN}" y="{y}" width="{width - 2 * MARGIN}" height="{ROW_H - 10}"/>')
        parts.append(f'<text x="{MARGIN + 8}" y="{y + 20}" font-weight="bold">{escape(name)}</text>')
        for c, a in enumerate(members):
            x = MARGIN + LABEL_W + c * (BOX_W + GAP_X)
            pos[a["asset_id"]] = (x + BOX_W / 2, y + 20 + BOX_H / 2)
    for e in edges:
        if e["client"] in pos and e["server"] in pos:
            (x1, y1), (x2, y2) = pos[e["client"]], pos[e["server"]]
            color = PROTO_COLORS.get(e["proto"], "#999")
            ops = ", ".join(f"{k} {v}" for k, v in sorted(e["operations"].items()))
            parts.append(f'<line class="edge" x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
                         f'stroke="{color}" stroke-width="1.5"><title>{escape(e["proto"])}: {escape(ops)}'
                         f'</title></line>')
    for r, (_, members) in enumerate(rows):
        y = MARGIN + r * ROW_H + 20
        for c, a in enumerate(members):
            x = MARGIN + LABEL_W + c * (BOX_W + GAP_X)
            sub = a.get("role") or ""
            vendor = a.get("vendor") or a.get("mac_vendor") or ""
            parts.append(f'<g data-asset="{a["asset_id"]}"><rect class="box" x="{x}" y="{y}" width="{BOX_W}" '
                         f'height="{BOX_H}" rx="4"/><text x="{x + 6}" y="{y + 15}" font-weight="bold">'
                         f'{escape(label(a)[:22])}</text><text x="{x + 6}" y="{y + 28}">{escape(sub[:24])}</text>'
                         f'<text x="{x + 6}" y="{y + 40}" fill="#666">{escape(vendor[:24])}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"

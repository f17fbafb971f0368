"""The communication map in exchange formats: GraphML (networkx) and an SVG drawn in Purdue layers."""

from __future__ import annotations

import io
from collections import Counter
from html import escape
from typing import Any

import networkx as nx

# Rows from the top of the drawing: enterprise, DMZ, operations, supervisory, control, then unknown.
LAYERS: list[tuple[str, tuple[float | None, ...]]] = [
    ("Level 4-5 enterprise", (4, 5)), ("Level 3.5 DMZ", (3.5,)), ("Level 3 site operations", (3,)),
    ("Level 2 supervisory", (2,)), ("Level 1 control", (1,)), ("Level 0 process", (0,)), ("Level unknown", (None,)),
]
BOX_W, BOX_H, GAP_X, GAP_Y, ROW_H, MARGIN, LABEL_W = 150, 44, 24, 14, 120, 20, 170
BAND_TOP, BAND_GAP = 64, 10  # a band's title above its first row of boxes; space between bands
COLUMNS = 10  # boxes per row within a band
MAX_BOXES_PER_LAYER = 60  # past it a band folds its least connected IT assets into one box
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


def connections(edges: list[dict[str, Any]]) -> Counter[str]:
    """Edges per asset id (as client or server)."""
    degree: Counter[str] = Counter()
    for e in edges:
        degree[e["client"]] += 1
        degree[e["server"]] += 1
    return degree


def plant_first(assets: list[dict[str, Any]], limit: int,
                degree: Counter[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the ``limit`` assets to show, the rest), each in the given order: industrial roles first, then the
    most connected (an enterprise network or a flood of forged sources must not bury the plant)."""
    if len(assets) <= limit:
        return assets, []
    ranked = sorted(assets, key=lambda a: (a.get("role") in (None, "it_host"), -degree[a["asset_id"]], label(a)))
    keep = {a["asset_id"] for a in ranked[:limit]}
    return [a for a in assets if a["asset_id"] in keep], [a for a in assets if a["asset_id"] not in keep]


def to_svg(assets: list[dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    """A self-contained SVG: one band per Purdue level, a box per asset in rows of ``COLUMNS``, a line per edge.

    A level with more than MAX_BOXES_PER_LAYER assets (an enterprise network, the internet, a flood) draws
    the industrial and the most connected ones and folds the rest into one box, their edges drawn to it."""
    degree = connections(edges)
    bands: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = []
    for name, levels in LAYERS:
        members = sorted((a for a in assets if a.get("purdue_level") in levels), key=label)
        if len(members) > MAX_BOXES_PER_LAYER:  # one box of the band goes to "+N more"
            bands.append((name, *plant_first(members, MAX_BOXES_PER_LAYER - 1, degree)))
        elif members:
            bands.append((name, members, []))
    boxes = [len(shown) + bool(folded) for _, shown, folded in bands]
    width = MARGIN * 2 + LABEL_W + min(max(boxes, default=1), COLUMNS) * (BOX_W + GAP_X)
    heights = [BAND_TOP + -(-n // COLUMNS) * (BOX_H + GAP_Y) + BAND_GAP for n in boxes]
    height = MARGIN * 2 + max(sum(heights), ROW_H)
    pos: dict[str, tuple[float, float]] = {}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             "<style>.row{fill:#f4f6f8}.box{fill:#fff;stroke:#445;stroke-width:1}.edge{stroke-opacity:.7}"
             ".more{fill:#eef2f5;stroke:#445;stroke-dasharray:4 2}</style>"]
    drawn: list[tuple[float, float, str]] = []  # box corner and what goes in it
    top = MARGIN
    for (name, shown, folded), band_h in zip(bands, heights, strict=True):
        parts.append(f'<rect class="row" x="{MARGIN}" y="{top}" width="{width - 2 * MARGIN}" '
                     f'height="{band_h - BAND_GAP}"/>')
        parts.append(f'<text x="{MARGIN + 8}" y="{top + 20}" font-weight="bold">{escape(name)}</text>')
        for k, a in enumerate([*shown, *([None] if folded else [])]):
            x = MARGIN + LABEL_W + (k % COLUMNS) * (BOX_W + GAP_X)
            y = top + BAND_TOP - BOX_H + (k // COLUMNS) * (BOX_H + GAP_Y)
            if a is None:
                for f in folded:
                    pos[f["asset_id"]] = (x + BOX_W / 2, y + BOX_H / 2)
                drawn.append((x, y, _more_box(x, y, folded)))
            else:
                pos[a["asset_id"]] = (x + BOX_W / 2, y + BOX_H / 2)
                drawn.append((x, y, _box(x, y, a)))
        top += band_h
    lines = set()
    for e in edges:
        if e["client"] in pos and e["server"] in pos:
            (x1, y1), (x2, y2) = pos[e["client"]], pos[e["server"]]
            key = (round(x1), round(y1), round(x2), round(y2), e["proto"])
            if key in lines:
                continue  # folded assets' edges: one line to their "+N more" box per protocol
            lines.add(key)
            color = PROTO_COLORS.get(e["proto"], "#999")
            ops = ", ".join(f"{k} {v}" for k, v in sorted(e["operations"].items()))
            parts.append(f'<line class="edge" x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
                         f'stroke="{color}" stroke-width="1.5"><title>{escape(e["proto"])}: {escape(ops)}'
                         f'</title></line>')
    parts += [box for _, _, box in drawn]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _box(x: float, y: float, a: dict[str, Any]) -> str:
    sub = a.get("role") or ""
    vendor = a.get("vendor") or a.get("mac_vendor") or ""
    return (f'<g data-asset="{a["asset_id"]}"><rect class="box" x="{x}" y="{y}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="4"/><text x="{x + 6}" y="{y + 15}" font-weight="bold">'
            f'{escape(label(a)[:22])}</text><text x="{x + 6}" y="{y + 28}">{escape(sub[:24])}</text>'
            f'<text x="{x + 6}" y="{y + 40}" fill="#666">{escape(vendor[:24])}</text></g>')


def _more_box(x: float, y: float, folded: list[dict[str, Any]]) -> str:
    roles = Counter(a.get("role") or "unknown" for a in folded)
    top = ", ".join(f"{n} {r}" for r, n in roles.most_common(2))
    return (f'<g data-folded="{len(folded)}"><rect class="more" x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" '
            f'rx="4"/><text x="{x + 6}" y="{y + 15}" font-weight="bold">+{len(folded):,} more</text>'
            f'<text x="{x + 6}" y="{y + 28}">{escape(top[:26])}</text><text x="{x + 6}" y="{y + 40}" fill="#666">'
            "zonewarden assets lists all</text></g>")

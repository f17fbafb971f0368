"""The HTML report is one self-contained file that a real browser renders with the expected assets."""

from __future__ import annotations

import re
import shutil
import subprocess
from html import escape
from pathlib import Path
from typing import Any

from zonewarden.inventory.map_export import BOX_W, COLUMNS, GAP_X, LABEL_W, MARGIN, MAX_BOXES_PER_LAYER, to_svg
from zonewarden.pipeline.analysis import analyze
from zonewarden.report.html import render
from zonewarden.simulate.demo_capture import write_demo
from zonewarden.store.db import Store

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed for this test (.ci/run installs it)"
    return path


def test_report_renders_in_headless_chromium_with_every_asset(tmp_path: Path) -> None:
    capture = tmp_path / "demo.pcap"
    write_demo(capture)
    store = Store(str(tmp_path / "z.db"))
    result = analyze([str(capture)], store)
    html = render(store)
    report = tmp_path / "report.html"
    report.write_text(html)
    # Self-contained: nothing to fetch, nothing to run.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html
    dom = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          report.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "<svg" in dom and "Communication map" in dom
    rendered = set(re.findall(r'<tr data-asset="(A[0-9a-f]+)"', dom))
    assert rendered == {a.asset_id for a in result.assets}
    drawn = set(re.findall(r'<g data-asset="(A[0-9a-f]+)"', dom))
    assert drawn == {a.asset_id for a in result.assets}
    for ip in ("10.10.1.11", "10.10.1.12", "10.10.1.13", "10.10.2.10"):
        assert ip in dom
    # Why each asset has its role and its Purdue level is shown beside them (not only in the evidence).
    for attribute in ("role_reason", "purdue_level_reason"):
        reasons = {str(e.value) for a in result.assets for e in a.evidence if e.attribute == attribute}
        shown = [r for r in reasons if f'<br><span class="muted">{escape(r, quote=False)}</span></td>' in dom]
        assert reasons and len(shown) == len(reasons), attribute
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--window-size=1280,1600",
                    f"--screenshot={shot}", report.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000  # a real rendering, not a blank page


def test_a_big_inventory_keeps_the_report_and_the_map_readable(tmp_path: Path, monkeypatch: Any) -> None:
    """Past the table limit the plant's devices are listed first and a note says how to get the rest; a
    Purdue band with too many assets folds the least connected IT ones into one box."""
    capture = tmp_path / "demo.pcap"
    write_demo(capture)
    store = Store(str(tmp_path / "z.db"))
    result = analyze([str(capture)], store)
    monkeypatch.setattr("zonewarden.report.html.MAX_ROWS", 5)
    html = render(store)
    listed = re.findall(r'<tr data-asset="(A[0-9a-f]+)"', html)
    roles = {a.asset_id: a.role for a in result.assets}
    assert len(listed) == 5 and all(roles[a] not in (None, "it_host") for a in listed)
    assert f"5 of {len(result.assets):,} assets listed here" in html


def test_a_crowded_purdue_band_folds_into_one_box() -> None:
    def asset(n: int, level: float, role: str) -> dict[str, Any]:
        return {"asset_id": f"A{n:04x}", "ips": [f"10.0.{n // 250}.{n % 250 + 1}"], "macs": [], "role": role,
                "purdue_level": level, "hostnames": []}

    plcs = [asset(n, 1, "plc") for n in range(3)]
    hosts = [asset(100 + n, 5, "it_host") for n in range(200)]
    edges = [{"client": h["asset_id"], "server": plcs[0]["asset_id"], "proto": "udp/20000", "operations": {}}
             for h in hosts]
    svg = to_svg(plcs + hosts, edges)
    drawn = set(re.findall(r'<g data-asset="(A[0-9a-f]+)"', svg))
    assert {p["asset_id"] for p in plcs} <= drawn and len(drawn) == 3 + MAX_BOXES_PER_LAYER - 1
    assert f'data-folded="{200 - MAX_BOXES_PER_LAYER + 1}"' in svg
    assert svg.count("<line ") == MAX_BOXES_PER_LAYER  # one per drawn host, one from the folded box
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert width <= 2 * MARGIN + LABEL_W + COLUMNS * (BOX_W + GAP_X)

"""The HTML report is one self-contained file that a real browser renders with the expected assets."""

from __future__ import annotations

import re
import shutil
import subprocess
from html import escape
from pathlib import Path

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

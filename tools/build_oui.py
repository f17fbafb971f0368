#!/usr/bin/env python3
"""Build src/zonewarden/data/oui.tsv.gz from the IEEE registry listings (MA-L, MA-M, MA-S, IAB CSVs).

Reproducible: same inputs, same bytes (sorted rows, gzip without a timestamp). Usage:
    python tools/build_oui.py [IEEE_DIR]   (default: ../shared/intel/oui)
Each row: hex prefix, prefix length in bits (24, 28 or 36), organisation name (whitespace collapsed).
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

FILES = {"oui.csv": 24, "mam.csv": 28, "oui36.csv": 36, "iab.csv": 36}


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "intel" / "oui"
    rows: dict[tuple[str, int], str] = {}
    for name, bits in FILES.items():
        with open(src / name, newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                prefix = rec["Assignment"].strip().upper()
                org = " ".join(rec["Organization Name"].split()).rstrip(",")
                if len(prefix) * 4 == bits and org:
                    rows.setdefault((prefix, bits), org)
    text = "".join(f"{p}\t{b}\t{o}\n" for (p, b), o in sorted(rows.items()))
    out = root / "src" / "zonewarden" / "data" / "oui.tsv.gz"
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(text.encode())
    out.write_bytes(buf.getvalue())
    print(f"{out}: {len(rows)} prefixes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""MAC address -> organisation (IEEE registry), longest prefix first (36, 28, then 24 bits)."""

from __future__ import annotations

import gzip
from bisect import bisect_left
from functools import cache
from importlib.resources import files


@cache
def _rows() -> list[str]:
    """The registry's rows, ``PREFIX<tab>BITS<tab>ORGANISATION``, sorted (tools/build_oui.py writes them so).
    Looked up by bisection: a dict of its 50k prefixes costs far more to build than a run makes lookups."""
    raw = files("zonewarden.data").joinpath("oui.tsv.gz").read_bytes()
    return gzip.decompress(raw).decode().splitlines()


def mac_vendor(mac: str) -> str | None:
    """The registered organisation of a MAC address ("aa:bb:cc:dd:ee:ff"), None if unregistered
    or locally administered (randomised)."""
    value = int(mac.replace(":", "").replace("-", ""), 16)
    if (value >> 40) & 0x02:
        return None  # locally administered: not from the registry
    rows = _rows()
    for bits in (36, 28, 24):
        key = f"{value >> (48 - bits):0{bits // 4}X}\t{bits}\t"
        i = bisect_left(rows, key)
        if i < len(rows) and rows[i].startswith(key):
            return rows[i][len(key):]
    return None

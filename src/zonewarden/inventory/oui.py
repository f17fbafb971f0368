"""MAC address -> organisation (IEEE registry), longest prefix first (36, 28, then 24 bits)."""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files


@cache
def _table() -> dict[int, dict[int, str]]:
    by_bits: dict[int, dict[int, str]] = {24: {}, 28: {}, 36: {}}
    raw = files("zonewarden.data").joinpath("oui.tsv.gz").read_bytes()
    for line in gzip.decompress(raw).decode().splitlines():
        prefix, bits, org = line.split("\t", 2)
        by_bits[int(bits)][int(prefix, 16)] = org
    return by_bits


def mac_vendor(mac: str) -> str | None:
    """The registered organisation of a MAC address ("aa:bb:cc:dd:ee:ff"), None if unregistered
    or locally administered (randomised)."""
    value = int(mac.replace(":", "").replace("-", ""), 16)
    if (value >> 40) & 0x02:
        return None  # locally administered: not from the registry
    table = _table()
    for bits in (36, 28, 24):
        org = table[bits].get(value >> (48 - bits))
        if org is not None:
            return org
    return None

"""End to end: zonewarden's own ``analyze`` on a simulated capture of the reference site reproduces the truth.

The simulator writes its bytes with its own encoders, so this checks the whole chain (capture, decode,
flows, analyzers, inventory) against a site whose every asset and conversation is known. Each asset and
each poll is a test of its own; where zonewarden disagrees with the truth today the test is marked
``xfail(strict=True)`` with the disagreement as the reason (fixing zonewarden turns it into an XPASS,
which fails, so the mark gets removed). The simulator is never bent to match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.simulate.conftest import Run
from tests.simulate.truth_compare import (
    edge_key,
    find,
    identity_differences,
    ip_aliases,
    zw_assets_by_address,
    zw_edge_keys,
)
from zonewarden.pipeline.analysis import analyze
from zonewarden.simulate.site import load_site
from zonewarden.store.db import Store

SITE = load_site()
ASSETS = sorted(SITE.devices)

KNOWN: dict[tuple[str, str], str] = {}


def _marks(kind: str, name: str) -> list[pytest.MarkDecorator]:
    reason = KNOWN.get((kind, name))
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def _params(kind: str, names: list[str]) -> list[Any]:
    return [pytest.param(n, id=n, marks=_marks(kind, n)) for n in names]


@dataclass
class Inventory:
    run: Run
    assets: list[Any]
    edges: set[tuple[str, str, str]]
    index: dict[str, Any]

    def truth(self, name: str) -> dict[str, Any]:
        return next(a for a in self.run.truth["assets"] if a["name"] == name)


@pytest.fixture(scope="module")
def inventory(baseline: Run, tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    db = tmp_path_factory.mktemp("e2e") / "zonewarden.db"
    result = analyze([str(baseline.pcap)], Store(str(db)))
    return Inventory(baseline, result.assets, zw_edge_keys(result.assets, result.edges),
                     zw_assets_by_address(result.assets))


@pytest.mark.parametrize("name", _params("found", ASSETS))
def test_asset_found(name: str, inventory: Inventory) -> None:
    truth = inventory.truth(name)
    zw = find(truth, inventory.index)
    assert (zw is not None) == truth["observed"], f"{name}: observed={truth['observed']}, found={zw is not None}"
    if truth["observed_ip"]:
        assert zw is not None and set(truth["ips"]) & set(zw.ips)


@pytest.mark.parametrize("name", _params("identity", ASSETS))
def test_asset_identity(name: str, inventory: Inventory) -> None:
    truth = inventory.truth(name)
    zw = find(truth, inventory.index)
    if zw is None:
        assert not truth["observed"]
        return
    assert identity_differences(truth, zw) == []


@pytest.mark.parametrize("name", _params("role", ASSETS))
def test_asset_role(name: str, inventory: Inventory) -> None:
    truth = inventory.truth(name)
    zw = find(truth, inventory.index)
    assert zw is not None and zw.role == truth["role"]


@pytest.mark.parametrize("name", _params("level", ASSETS))
def test_asset_purdue_level(name: str, inventory: Inventory) -> None:
    truth = inventory.truth(name)
    zw = find(truth, inventory.index)
    assert zw is not None and zw.purdue_level == truth["purdue_level"]


def test_no_unknown_assets(inventory: Inventory) -> None:
    known = {a for t in inventory.run.truth["assets"] for a in [*t["ips"], *t["macs"]]}
    unknown = [(a.ips, a.macs) for a in inventory.assets if not (set(a.ips) | set(a.macs)) & known]
    assert unknown == []


EDGES = sorted({f"{d.name}->{p.server}/{p.proto}" for d in SITE.devices.values() for p in d.polls})


@pytest.mark.parametrize("edge", _params("edge", EDGES))
def test_edge(edge: str, inventory: Inventory) -> None:
    """A poll that happened in the capture is an edge of zonewarden's map; one that did not, is not."""
    client, rest = edge.split("->")
    server, proto = rest.split("/")
    aliases = ip_aliases(inventory.run.truth)
    rows = [e for e in inventory.run.truth["edges"] if e["client"] == client and e["server"] == server
            and e["proto"] in (proto, {"mqtt_sub": "mqtt", "http_proxy": "http", "https": "tls", "smb": "smb2"}
                               .get(proto, proto))]
    assert rows, edge
    for row in rows:
        key = edge_key(row)
        key = (aliases.get(key[0], key[0]), aliases.get(key[1], key[1]), key[2])
        assert (key in inventory.edges) == row["observed"], (edge, key, row["observed"])


def test_no_edges_beyond_the_truth(inventory: Inventory) -> None:
    aliases = ip_aliases(inventory.run.truth)
    expected = set()
    for row in inventory.run.truth["edges"]:
        key = edge_key(row)
        expected.add((aliases.get(key[0], key[0]), aliases.get(key[1], key[1]), key[2]))
    assert sorted(inventory.edges - expected) == []

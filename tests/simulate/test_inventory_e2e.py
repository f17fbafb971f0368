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

ROUTED_SPLIT = ("routed conversations are seen on two VLANs (the request on the client's, the reply on the "
                "server's) and zonewarden keys flows by VLAN, so each becomes two one-way flows")
LEVEL_FROM_ROLE = "zonewarden derives the Purdue level from the role only (no zone or subnet context)"
KNOWN: dict[tuple[str, str], str] = {
    # Identity
    ("identity", "opcua-1"): "zonewarden takes the OPC UA ApplicationName (KEPServerEX/UA@opcua-1, an instance "
                             "name) as product_name; the product is KEPServerEX 6 (ProductUri "
                             "urn:kepware.com:KEPServerEX:V6)",
    ("identity", "edge-water"): "Sparkplug B NBIRTH metrics Properties/Hardware Make, Hardware Model, FW and "
                                "Serial Number are not used: vendor, product_name, firmware and serial stay null",
    # Roles
    ("role", "opcua-1"): "an OPC UA server that polls controllers (KEPServerEX) is classed scada_server, not "
                         "opc_server",
    ("role", "hist-replica"): "the DMZ historian replica serves PI Vision over HTTPS and pulls PI-to-PI from the "
                              "site historian (client of 5450); zonewarden only recognises historians that serve "
                              "5450/5457/1433/3000: it_host",
    ("role", "mbgw-mcc"): "a Modbus TCP-to-serial gateway (unit ids 1-3 behind it, exception 0x0B for the rest) "
                          "is classed plc",
    ("role", "relay-feeder-2"): "a protection relay (SEL-751, an IED) speaking DNP3 is classed rtu",
    ("role", "bms-jace"): "the BACnet supervisor (Niagara JACE polling three controllers) is classed hmi, not "
                          "scada_server",
    # Purdue levels
    **{("level", n): f"{LEVEL_FROM_ROLE}: network devices get null" for n in ("core-it", "fw-itot", "core-ot")},
    **{("level", n): f"{LEVEL_FROM_ROLE}: DMZ hosts (3.5) get 4" for n in ("hist-replica", "jump-01", "wsus-01")},
    **{("level", n): f"{LEVEL_FROM_ROLE}: internet hosts (5) get 4" for n in ("web-cdn", "web-saas")},
    ("level", "ot-dc-01"): f"{LEVEL_FROM_ROLE}: the OT domain controller (level 3) gets 4 as an it_host",
    ("level", "mqtt-01"): f"{LEVEL_FROM_ROLE}: the MQTT broker in site operations (3) gets 2 as an iot_gateway",
    ("level", "pg-water"): f"{LEVEL_FROM_ROLE}: the field PG docked in the cell (2) gets 3 as an EWS",
    # Edges
    ("edge", "pg-water->plc-s7-intake/profinet_dcp"): "layer-2 conversations (PROFINET DCP) produce no edges",
    ("edge", "pg-water->et200sp-intake/profinet_dcp"): "layer-2 conversations (PROFINET DCP) produce no edges",
    ("extra", "edges"): f"{ROUTED_SPLIT}: replies become reversed edges, e.g. ot-dc-01 -> hmi-water udp/<port> "
                        "for DNS and NTP answers, plc-ab-pack -> opcua-1 enip for ListIdentity replies",
}


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


@pytest.mark.xfail(strict=True, reason=KNOWN[("extra", "edges")])
def test_no_edges_beyond_the_truth(inventory: Inventory) -> None:
    aliases = ip_aliases(inventory.run.truth)
    expected = set()
    for row in inventory.run.truth["edges"]:
        key = edge_key(row)
        expected.add((aliases.get(key[0], key[0]), aliases.get(key[1], key[1]), key[2]))
    assert sorted(inventory.edges - expected) == []

"""Inventory building: addresses grouped into devices, identity resolved from evidence, roles explained."""

from __future__ import annotations

from typing import Any

from zonewarden.inventory.builder import InventoryBuilder
from zonewarden.inventory.resolution import resolve
from zonewarden.model.assets import Asset, EndpointSighting, Evidence

T0 = 1_767_592_800.0


def sighting(mac: str, ip: str, source: str = "ip", t: float = T0) -> EndpointSighting:
    return EndpointSighting(mac, ip, None, t, t + 1, 10, source)


def modbus_event(src: str, dst: str, response: bool, **extra: Any) -> dict[str, Any]:
    return {"ts": T0 + 5, "proto": "modbus", "kind": "message", "src": src, "dst": dst,
            "sport": 502 if response else 40000, "dport": 40000 if response else 502, "is_response": response,
            "flow_id": "Cabc", "frame": 1, "function_code": extra.pop("function_code", 3), **extra}


def by_ip(assets: list[Asset]) -> dict[str, Asset]:
    return {ip: a for a in assets for ip in a.ips}


def test_a_mac_with_several_addresses_is_one_device() -> None:
    b = InventoryBuilder()
    b.on_sightings([sighting("00:1b:1b:00:00:01", "10.0.0.1"), sighting("00:1b:1b:00:00:01", "10.0.0.2"),
                    sighting("00:1b:1b:00:00:01", "fd00::1")])
    assets, _ = b.build()
    assert len(assets) == 1
    assert assets[0].ips == ["10.0.0.1", "10.0.0.2", "fd00::1"]
    assert assets[0].mac_vendor == "Siemens AG"


def test_a_router_mac_does_not_swallow_the_remote_hosts_behind_it() -> None:
    b = InventoryBuilder()
    router = "00:00:0c:00:00:fe"
    b.on_sightings([sighting(router, "10.0.0.254", "arp")]
                   + [sighting(router, f"192.168.7.{n}") for n in range(1, 6)])
    assets, _ = b.build()
    ips = by_ip(assets)
    assert ips["10.0.0.254"].role == "network_device"
    assert ips["10.0.0.254"].macs == [router]
    for n in range(1, 6):
        remote = ips[f"192.168.7.{n}"]
        assert remote.macs == [] and remote is not ips["10.0.0.254"]


def test_ip_only_assets_when_no_link_layer_is_seen() -> None:
    b = InventoryBuilder()
    b.on_event(modbus_event("10.1.1.1", "10.1.1.2", False))
    b.on_event(modbus_event("10.1.1.2", "10.1.1.1", True))
    assets, edges = b.build()
    ips = by_ip(assets)
    assert ips["10.1.1.2"].role == "plc" and ips["10.1.1.2"].purdue_level == 1
    assert ips["10.1.1.1"].role == "hmi"
    assert len(edges) == 1 and edges[0].operations == {"read": 1} and edges[0].messages == 2


def test_identity_from_modbus_device_identification_with_evidence() -> None:
    b = InventoryBuilder()
    b.on_event(modbus_event("10.1.1.2", "10.1.1.1", True, function_code=43,
                            device_id={"vendor_name": "Schneider Electric", "product_code": "BMX P34 2020",
                                       "major_minor_revision": "v2.7"}))
    assets, _ = b.build()
    plc = by_ip(assets)["10.1.1.2"]
    assert (plc.vendor, plc.product_code, plc.firmware) == ("Schneider Electric", "BMX P34 2020", "v2.7")
    ev = next(e for e in plc.evidence if e.attribute == "firmware")
    assert (ev.proto, ev.flow_id, ev.confidence) == ("modbus", "Cabc", 0.9)


def test_conflicting_evidence_is_kept_and_resolved_by_confidence_not_recency() -> None:
    a = Asset("A1", evidence=[Evidence("firmware", "2.1", "enip", T0, None, 0.9),
                              Evidence("firmware", "9.9", "guess", T0 + 100, None, 0.3)])
    resolve(a)
    assert a.firmware == "2.1"
    assert {e.value for e in a.evidence if e.attribute == "firmware"} == {"2.1", "9.9"}


def test_two_interfaces_reporting_one_serial_are_one_device() -> None:
    b = InventoryBuilder()
    b.on_sightings([sighting("00:00:bc:00:00:01", "10.0.0.5"), sighting("00:00:bc:00:00:02", "10.0.1.5")])
    for ip in ("10.0.0.5", "10.0.1.5"):
        b.on_event({"ts": T0, "proto": "enip", "kind": "message", "src": ip, "dst": "10.0.0.9", "sport": 44818,
                    "dport": 50000, "is_response": True, "flow_id": None, "frame": 1, "vendor_name": "Rockwell",
                    "serial_number": "0x00c0ffee", "product_name": "1756-L61"})
    assets, _ = b.build()
    merged = [a for a in assets if "10.0.0.5" in a.ips]
    assert len(merged) == 1 and merged[0].ips == ["10.0.0.5", "10.0.1.5"]
    assert merged[0].macs == ["00:00:bc:00:00:01", "00:00:bc:00:00:02"]


def test_engineering_workstation_is_recognised_by_what_it_does() -> None:
    b = InventoryBuilder()
    b.on_event({"ts": T0, "proto": "s7comm", "kind": "message", "src": "10.0.3.20", "dst": "10.0.1.11",
                "sport": 50000, "dport": 102, "is_response": False, "flow_id": "C1", "frame": 1, "rosctr": 1,
                "function": 0x1A})
    assets, edges = b.build()
    ews = by_ip(assets)["10.0.3.20"]
    assert ews.role == "engineering_workstation" and ews.purdue_level == 3
    reason = next(e.value for e in ews.evidence if e.attribute == "role_reason")
    assert "program" in reason
    assert edges[0].operations == {"program": 1}


def test_broadcast_and_multicast_are_not_assets() -> None:
    b = InventoryBuilder()
    b.on_flow({"flow_id": "C1", "ts_start": T0, "ts_end": T0, "proto": "udp", "src": "10.0.0.1", "sport": 47808,
               "dst": "10.0.0.255", "dport": 47808, "packets_orig": 1, "packets_resp": 0, "bytes_orig": 60,
               "bytes_resp": 0})
    b.on_flow({"flow_id": "C2", "ts_start": T0, "ts_end": T0, "proto": "udp", "src": "10.0.0.1", "sport": 5353,
               "dst": "224.0.0.251", "dport": 5353, "packets_orig": 1, "packets_resp": 0, "bytes_orig": 60,
               "bytes_resp": 0})
    assets, _ = b.build()
    assert [a.ips for a in assets] == [["10.0.0.1"]]


def test_a_modbus_gateway_is_recognised_from_its_answers_and_its_level_explained() -> None:
    b = InventoryBuilder()
    for unit in (1, 2, 3):
        b.on_event(modbus_event("10.1.1.1", "10.1.1.20", False, unit_id=unit, function_code=4))
        b.on_event(modbus_event("10.1.1.20", "10.1.1.1", True, unit_id=unit, function_code=4))
    assets, _ = b.build()
    gateway = by_ip(assets)["10.1.1.20"]
    assert (gateway.role, gateway.purdue_level) == ("iot_gateway", 1)
    reasons = {e.attribute: e.value for e in gateway.evidence if e.attribute.endswith("_reason")}
    assert "unit ids 1, 2, 3" in reasons["role_reason"]
    assert reasons["purdue_level_reason"] == "role iot_gateway is level 1 wherever it sits"

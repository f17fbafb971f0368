"""Inventory building: addresses grouped into devices, identity resolved from evidence, roles explained."""

from __future__ import annotations

from typing import Any

from tests.protocols.enip import fixtures as enip_fx
from zonewarden.inventory.builder import InventoryBuilder
from zonewarden.inventory.facts import Addresses
from zonewarden.inventory.resolution import resolve
from zonewarden.model.assets import Asset, EndpointSighting, Evidence
from zonewarden.model.events import Event
from zonewarden.protocols.bacnet.analyzer import BacnetAnalyzer
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.enip.analyzer import EnipStreamAnalyzer

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


def analyzed(analyzer_type: type[Any], orig: str, resp: str, port: int, *parts: tuple[int, bytes]) -> list[Event]:
    """The events an analyzer gives for ``parts`` (direction 0 from ``orig``), one second apart."""
    events: list[Event] = []
    analyzer = analyzer_type(FlowContext("Cflow", orig, resp, 50000 if port == 44818 else port, port), events.append)
    feed = analyzer.data if hasattr(analyzer, "data") else analyzer.datagram
    for frame, (direction, data) in enumerate(parts, start=1):
        feed(direction, data, int((T0 + frame) * 1e9), frame)
    return events


def test_a_connected_identity_reply_on_a_routed_connection_describes_the_module_not_the_adapter() -> None:
    # EIP-RebootorRestart.pcap: a class 3 connection through the ENBT adapter to the 1756-L61 in slot 0, then an
    # Identity read over it
    b = InventoryBuilder()
    for e in analyzed(EnipStreamAnalyzer, "10.0.0.5", "10.0.0.20", 44818,
                      (0, enip_fx.ROUTED_FORWARD_OPEN_REQUEST), (1, enip_fx.ROUTED_FORWARD_OPEN_REPLY),
                      (0, enip_fx.CONNECTED_IDENTITY_REQUEST), (1, enip_fx.CONNECTED_IDENTITY_REPLY)):
        b.on_event(e)
    adapter = by_ip(b.build()[0])["10.0.0.20"]
    assert (adapter.vendor, adapter.vendor_id, adapter.product_name, adapter.serial, adapter.firmware) == (
        None, None, None, None, None)
    (note,) = [e for e in adapter.evidence if e.proto == "enip"]
    assert (note.attribute, note.value, note.confidence, note.ts, note.flow_id) == (
        "routed_device", "cip route 0100: Rockwell Automation/Allen-Bradley 1756-L61/B LOGIX5561 rev 16.020 "
        "serial 0x0051823f", 0.9, T0 + 4, "Cflow")


def test_a_connected_identity_reply_without_its_forward_open_is_the_adapters_at_low_confidence() -> None:
    b = InventoryBuilder()
    for e in analyzed(EnipStreamAnalyzer, "10.0.0.5", "10.0.0.20", 44818,
                      (0, enip_fx.CONNECTED_IDENTITY_REQUEST), (1, enip_fx.CONNECTED_IDENTITY_REPLY)):
        b.on_event(e)
    adapter = by_ip(b.build()[0])["10.0.0.20"]
    assert (adapter.product_name, adapter.serial) == ("1756-L61/B LOGIX5561", "0x0051823f")
    assert {e.confidence for e in adapter.evidence if e.proto == "enip"} <= {0.6}
    assert not [e for e in adapter.evidence if e.attribute == "routed_device"]


# BACnet-BBMD-on-same-subnet.cap: the BBMD 192.168.0.24 forwards to a foreign device (192.168.0.134) the I-Am of
# 192.168.0.105 (frame 6) and its own (frame 10)
FORWARDED_I_AM = bytes.fromhex(
    "81 04 001f"  # BVLC: Forwarded-NPDU, length 31
    "c0a80069 bac0"  # original source 192.168.0.105:47808
    "01 20 ffff 00 0e"  # NPDU: DNET 65535 (global broadcast), DLEN 0, hop count 14
    "10 00"  # unconfirmed request: I-Am
    "c4 0200007b"  # device 123
    "22 05c4"  # max APDU 1476
    "91 03"  # segmentation: none
    "22 0104")  # vendor 260 (BACnet Stack at SourceForge)
BBMD_OWN_I_AM = bytes.fromhex(
    "81 04 001a" "c0a80018 bac0"  # Forwarded-NPDU, original source 192.168.0.24: the BBMD itself
    "01 00" "10 00" "c4 02000961" "22 01e0" "91 03" "21 18")  # I-Am device 2401, vendor 24 (Automated Logic)


def test_a_forwarded_i_am_describes_the_original_sender_not_the_bbmd() -> None:
    b = InventoryBuilder()
    for e in analyzed(BacnetAnalyzer, "192.168.0.24", "192.168.0.134", 47808, (0, FORWARDED_I_AM),
                      (0, BBMD_OWN_I_AM)):
        b.on_event(e)
    assets = by_ip(b.build()[0])
    device, bbmd = assets["192.168.0.105"], assets["192.168.0.24"]  # the device: an asset though never seen itself
    assert (device.vendor_id, device.vendor) == (260, "BACnet Stack at SourceForge")
    assert (bbmd.vendor_id, bbmd.vendor) == (24, "Automated Logic Corporation")
    ev = next(e for e in device.evidence if e.attribute == "vendor_id")
    assert (ev.proto, ev.ts, ev.flow_id, ev.confidence) == ("bacnet", T0 + 1, "Cflow", 0.9)
    assert {e.value for e in bbmd.evidence if e.attribute == "vendor_id"} == {24}


def test_facts_forwarded_for_no_device_address_are_dropped() -> None:
    b = InventoryBuilder()
    b.on_event({"ts": T0, "proto": "bacnet", "kind": "message", "src": "192.168.0.24", "dst": "192.168.0.134",
                "sport": 47808, "dport": 47808, "is_response": True, "flow_id": "C1", "frame": 1, "service": "i_am",
                "forwarded_ip": "255.255.255.255", "vendor_id": 260, "vendor": "BACnet Stack at SourceForge"})
    assets, _ = b.build()
    assert sorted(ip for a in assets for ip in a.ips) == ["192.168.0.134", "192.168.0.24"]
    assert not [e for a in assets for e in a.evidence if e.proto == "bacnet"]


def tcp_flow(src: str, sport: int, dst: str, history: str, payload_orig: int = 0, packets_resp: int = 0,
             t: float = T0) -> dict[str, Any]:
    return {"flow_id": f"C{src}{sport}", "ts_start": t, "ts_end": t + 1, "proto": "tcp", "src": src, "sport": sport,
            "dst": dst, "dport": 502, "vlan": None, "vlan_inner": None, "packets_orig": len(history),
            "packets_resp": packets_resp, "bytes_orig": 60, "bytes_resp": 60 * packets_resp,
            "payload_orig": payload_orig, "payload_resp": 0, "state": "S0", "history": history, "end_reason": "idle"}


def test_sources_of_a_spoofed_syn_flood_are_counted_not_made_assets() -> None:
    b = InventoryBuilder()
    plc = "10.1.1.2"
    for n in range(50):  # random sources, one SYN each; the PLC answers some with a SYN-ACK
        b.on_flow(tcp_flow(f"198.51.{n}.7", 40000 + n, plc, "S", packets_resp=n % 2))
    for port in range(5):  # a scanner tries many connections: it is the attacker, and an asset
        b.on_flow(tcp_flow("203.0.113.9", 50000 + port, plc, "S"))
    b.on_flow(tcp_flow("192.0.2.10", 51000, plc, "ShAD", payload_orig=12, packets_resp=2))  # a real client
    b.on_flow(tcp_flow("192.0.2.11", 51001, plc, "ShA", packets_resp=1))  # completed the handshake only
    assets, edges = b.build()
    ips = {ip for a in assets for ip in a.ips}
    assert ips == {plc, "203.0.113.9", "192.0.2.10", "192.0.2.11"}
    assert len(b.unproven_only) == 50 and all(ip.startswith("198.51.") for ip in b.unproven_only)
    by_id = {a.asset_id: a.ips[0] for a in assets}
    assert sorted(by_id[e.client] for e in edges) == ["192.0.2.10", "192.0.2.11", "203.0.113.9"]


def test_addresses_past_the_limit_are_counted_not_followed(monkeypatch: Any) -> None:
    """A flood of forged sources cannot grow the inventory without bound: the addresses seen first are kept."""
    monkeypatch.setattr("zonewarden.inventory.builder.MAX_ADDRESSES", 20)
    b = InventoryBuilder()
    plc = "10.1.1.2"
    b.on_event(modbus_event("10.1.1.9", plc, False, function_code=3))  # the HMI polls the PLC first
    for n in range(100):  # then UDP from forged sources, one datagram each
        b.on_flow({**tcp_flow(f"198.51.{n}.7", 40000 + n, plc, "", t=T0 + 10), "proto": "udp", "history": None,
                   "packets_orig": 1})
    assets, edges = b.build()
    ips = {ip for a in assets for ip in a.ips}
    assert len(ips) == 20 and {plc, "10.1.1.9"} <= ips
    assert b.refused >= 80
    by_id = {a.asset_id: a.ips[0] for a in assets}
    assert all(by_id[e.client] in ips and by_id[e.server] in ips for e in edges)
    assert len(edges) == 19  # the HMI's Modbus edge and one per followed source


def test_a_mac_flood_keeps_the_stations_seen_first(monkeypatch: Any) -> None:
    monkeypatch.setattr("zonewarden.inventory.builder.MAX_ADDRESSES", 20)
    b = InventoryBuilder()
    site = [sighting(f"00:1b:1b:00:00:{n:02x}", f"10.1.1.{n + 1}", "arp", T0) for n in range(5)]
    flood = [sighting(f"02:{n // 256:02x}:{n % 256:02x}:00:00:01", f"172.16.{n // 256}.{n % 256 + 1}", "ip", T0 + 60)
             for n in range(200)]  # macof: a random source MAC and IP per frame
    b.on_sightings(site + flood)
    assets, _ = b.build()
    macs = {m for a in assets for m in a.macs}
    assert len(macs) == 20 and {s.mac for s in site} <= macs
    assert b.refused_macs == 185 and b.refused >= 185


def test_an_s7_download_is_the_programming_devices_operation_though_the_plc_asks_for_the_blocks() -> None:
    """S7comm download: the PG requests it (0x1a), then the PLC sends the jobs that fetch each block (0x1b)
    and close it (0x1c), which the PG answers. The PLC stays a PLC and the edge runs from the PG."""
    b = InventoryBuilder()
    pg, plc = "10.0.3.20", "10.0.1.11"

    def s7(src: str, dst: str, rosctr: int, function: int, frame: int) -> dict[str, Any]:
        from_pg = src == pg
        return {"ts": T0 + frame, "proto": "s7comm", "kind": "message", "src": src, "dst": dst,
                "sport": 50000 if from_pg else 102, "dport": 102 if from_pg else 50000, "is_response": rosctr == 3,
                "flow_id": "C7", "frame": frame, "rosctr": rosctr, "function": function}

    for event in (s7(pg, plc, 1, 0x1A, 1), s7(plc, pg, 3, 0x1A, 2), s7(plc, pg, 1, 0x1B, 3), s7(pg, plc, 3, 0x1B, 4),
                  s7(plc, pg, 1, 0x1C, 5), s7(pg, plc, 3, 0x1C, 6)):
        b.on_event(event)
    assets, edges = b.build()
    by_ip = {a.ips[0]: a for a in assets}
    assert by_ip[plc].role == "plc" and by_ip[pg].role == "engineering_workstation"
    assert [(e.client, e.server, e.messages, dict(e.operations)) for e in edges] == [
        (by_ip[pg].asset_id, by_ip[plc].asset_id, 6, {"program": 3})]


def test_bacnet_notifications_are_the_subscribers_reads() -> None:
    """A controller sends change-of-value notifications to the supervisor that subscribed: the supervisor is
    the client reading, the controller the server, whichever end sent the confirmed request."""
    b = InventoryBuilder()
    sup, dev = "10.23.0.10", "10.23.0.21"

    def bacnet(src: str, dst: str, is_response: bool, service: str, frame: int) -> dict[str, Any]:
        return {"ts": T0 + frame, "proto": "bacnet", "kind": "message", "src": src, "dst": dst, "sport": 47808,
                "dport": 47808, "is_response": is_response, "flow_id": "Cb", "frame": frame, "service": service}

    for event in (bacnet(sup, dev, False, "subscribe_cov", 1), bacnet(dev, sup, True, "subscribe_cov", 2),
                  bacnet(dev, sup, False, "confirmed_cov_notification", 3),
                  bacnet(sup, dev, True, "confirmed_cov_notification", 4),
                  bacnet(dev, sup, False, "unconfirmed_cov_notification", 5)):
        b.on_event(event)
    assets, edges = b.build()
    by_ip = {a.ips[0]: a for a in assets}
    assert [(e.client, e.server, e.messages, dict(e.operations)) for e in edges] == [
        (by_ip[sup].asset_id, by_ip[dev].asset_id, 5, {"other": 1, "read": 2})]
    assert by_ip[dev].protocols["served"] == ["bacnet"] and by_ip[sup].protocols["served"] == []


def test_past_the_address_limit_a_lookup_is_refused_and_counted() -> None:
    addresses = Addresses(2)
    first = addresses.known("10.0.0.1")
    assert first is not None and addresses.known("10.0.0.1") is first  # made once, then found
    assert addresses.known("10.0.0.2") is not None
    assert addresses.known("10.0.0.3") is None  # no room: no record, not even a throwaway
    assert addresses.known("10.0.0.1") is first  # those already followed are still found
    assert addresses.refused == 1 and list(addresses) == ["10.0.0.1", "10.0.0.2"]
    assert "10.0.0.4" not in addresses and addresses["10.0.0.4"] is not addresses["10.0.0.4"]  # throwaways
    assert addresses.refused == 3 and len(addresses) == 2

"""Purdue levels from role and traffic position: a small plant, enterprise to cell, and the cases around it."""

from __future__ import annotations

import ipaddress

from zonewarden.inventory.levels import (
    LevelDecision,
    is_infrastructure,
    is_public,
    parse_address,
    propose_levels,
    subnet,
)
from zonewarden.inventory.roles import LEVELS, RoleDecision
from zonewarden.model.assets import Asset

FIXED = {"plc", "rtu", "ied", "io_device", "hmi", "scada_server", "opc_server"}


def host(name: str, role: str, *ips: str, mac: bool = True) -> tuple[Asset, RoleDecision]:
    asset = Asset(name, ips=list(ips), macs=[f"02:00:00:00:00:{len(name):02x}"] if mac else [])
    return asset, RoleDecision(role, LEVELS[role], f"{role} behaviour", role in FIXED)


def place(hosts: list[tuple[Asset, RoleDecision]],
          conversations: list[tuple[str, str, str]]) -> dict[str, LevelDecision]:
    return propose_levels([a for a, _ in hosts], {a.asset_id: d for a, d in hosts}, conversations)


PLANT = [
    host("plc", "plc", "10.1.1.11"), host("hmi", "hmi", "10.1.1.10"),
    host("pg", "engineering_workstation", "10.1.1.50"),
    host("scada", "scada_server", "10.1.2.10"),
    host("historian", "historian", "10.1.3.10"), host("ews", "engineering_workstation", "10.1.3.20"),
    host("ot-dc", "it_host", "10.1.3.5"), host("broker", "iot_gateway", "10.1.3.30"),
    host("jump", "it_host", "172.16.5.20"), host("patches", "it_host", "172.16.5.30"),
    host("desktop", "it_host", "10.9.1.21"), host("proxy", "it_host", "10.9.2.30"),
    host("saas", "it_host", "198.51.100.44", mac=False),
    host("core-ot", "network_device", "10.1.1.1", "10.1.2.1", "10.1.3.1"),
    host("firewall", "network_device", "172.16.5.1"),
]
TRAFFIC = [
    ("hmi", "plc", "modbus"), ("pg", "plc", "s7comm"), ("scada", "plc", "modbus"),
    ("historian", "scada", "opcua"), ("ews", "plc", "s7comm"), ("scada", "broker", "mqtt"),
    ("hmi", "ot-dc", "udp/53"), ("jump", "ews", "tcp/3389"), ("ews", "patches", "tcp/8530"),
    ("desktop", "jump", "tcp/3389"), ("desktop", "proxy", "tcp/3128"), ("proxy", "saas", "tcp/443"),
    ("core-ot", "ot-dc", "udp/123"), ("desktop", "core-ot", "udp/161"),
]


def by_name(hosts: list[tuple[Asset, RoleDecision]], traffic: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    ip = {a.asset_id: a.ips[0] for a, _ in hosts}
    return [(ip[c], ip[s], proto) for c, s, proto in traffic]


def test_a_plant_from_the_cell_to_the_internet() -> None:
    levels = {name: d.purdue_level for name, d in place(PLANT, by_name(PLANT, TRAFFIC)).items()}
    assert levels == {
        "plc": 1, "hmi": 2, "scada": 2,  # their role fixes the level
        "pg": 2,  # an engineering workstation docked in the cell
        "historian": 3, "ews": 3, "ot-dc": 3, "broker": 3,  # one step from the control subnets
        "jump": 3.5, "patches": 3.5, "firewall": 3.5,  # between site operations and the enterprise
        "desktop": 4, "proxy": 4,  # further out
        "saas": 5,  # a public address reached through a router
        "core-ot": 3,  # the highest of the subnets it routes for
    }


def test_each_level_says_why() -> None:
    reasons = {name: d.reason for name, d in place(PLANT, by_name(PLANT, TRAFFIC)).items()}
    assert reasons["plc"] == "role plc is level 1 wherever it sits"
    assert reasons["pg"] == "subnet 10.1.1.0/24 holds level-2 assets (hmi 10.1.1.10)"
    assert "10.1.3.0/24 talks directly with control subnets (10.1.1.0/24, 10.1.2.0/24)" in reasons["ews"]
    assert "between site operations (10.1.3.0/24) and subnets further from the control network (10.9.1.0/24)" \
        in reasons["jump"]
    assert reasons["core-ot"].startswith("the highest level among the subnets of its interfaces (10.1.3.0/24 at 3")
    assert reasons["saas"] == "public address 198.51.100.44 reached through a router: the internet"


def test_shared_infrastructure_does_not_place_a_subnet() -> None:
    """Cell hosts asking the enterprise DNS server does not make the enterprise site operations."""
    hosts = [host("plc", "plc", "10.1.1.11"), host("dc", "it_host", "10.9.2.10")]
    placed = place(hosts, by_name(hosts, [("plc", "dc", "udp/53"), ("plc", "dc", "tcp/88"), ("plc", "dc", "ntp")]))
    assert placed["dc"] == LevelDecision(4, "no subnet of it is placed by the traffic: the level of role it_host")


def test_a_dead_end_two_steps_out_is_enterprise_not_a_dmz() -> None:
    hosts = [host("plc", "plc", "10.1.1.11"), host("ews", "engineering_workstation", "10.1.3.20"),
             host("erp", "it_host", "10.9.2.10")]
    placed = place(hosts, by_name(hosts, [("ews", "plc", "s7comm"), ("ews", "erp", "tcp/1433")]))
    assert placed["erp"].purdue_level == 4 and "only through 10.1.3.0/24 (2 steps)" in placed["erp"].reason


def test_a_host_in_a_controllers_only_subnet_is_not_level_1() -> None:
    hosts = [host("rtu", "rtu", "10.2.0.11"), host("laptop", "it_host", "10.2.0.99")]
    placed = place(hosts, [])
    assert placed["laptop"].purdue_level == 2 and "not a controller" in placed["laptop"].reason


def test_without_industrial_anchors_roles_keep_their_level() -> None:
    hosts = [host("desktop", "it_host", "10.9.1.21"), host("server", "it_host", "10.9.2.10"),
             host("router", "network_device", "10.9.1.1")]
    placed = place(hosts, by_name(hosts, [("desktop", "server", "tcp/445")]))
    assert {n: d.purdue_level for n, d in placed.items()} == {"desktop": 4, "server": 4, "router": None}


def test_public_addresses_on_a_captured_segment_or_beside_controllers_are_not_the_internet() -> None:
    hosts = [host("plc", "plc", "192.0.2.11", mac=False), host("hmi-remote", "it_host", "192.0.2.50", mac=False),
             host("local", "it_host", "198.51.100.9")]
    placed = place(hosts, [])
    assert placed["hmi-remote"].purdue_level == 2  # a plant numbered in public space: its subnet has a PLC
    assert placed["local"].purdue_level == 4  # seen with its own MAC address: on a captured segment


def test_address_helpers() -> None:
    assert subnet("10.21.1.50") == "10.21.1.0/24" and subnet("2001:db8:1:2::5") == "2001:db8:1:2::/64"
    assert subnet("fe80::1") is None and subnet("169.254.3.4") is None and subnet("00:1b:1b:00:00:01") is None
    assert is_public("203.0.113.80") and is_public("8.8.8.8")
    assert not any(map(is_public, ["10.1.1.1", "172.20.0.1", "192.168.1.1", "100.64.0.1", "fd00::1", "224.0.0.1"]))
    assert is_infrastructure("udp/53") and is_infrastructure("dns") and not is_infrastructure("tcp/502")


def test_addresses_parse_as_the_ipaddress_module_parses_them() -> None:
    def reference(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            return None

    texts = ["1.2.3.4", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5", "256.1.1.1",
             " 1.2.3.4", "1.2.3.4\n", "1.2.3.4\x00", "1..2.3", "1.2.3.0x4", "\u0661.2.3.4", "", "abc", "::1",
             "fe80::1%eth0", "::ffff:1.2.3.4", "2001:db8::5", "00:1b:1b:00:00:01"]
    for text in texts:
        parsed, expected = parse_address(text), reference(text)
        assert parsed == expected and type(parsed) is type(expected), text

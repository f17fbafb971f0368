"""Every IP and MAC endpoint in tshark's endpoint tables appears in the inventory (or is explained)."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest

from tests.peers.events_peer import CORPUS
from zonewarden.flow.records import flow_dicts
from zonewarden.inventory.builder import InventoryBuilder
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.endpoints import EndpointObserver
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.protocols.registry import ANALYZERS

MANIFEST = CORPUS / "MANIFEST.tsv"


def _captures() -> list[str]:
    rows = MANIFEST.read_text().splitlines()[1:]
    return sorted(r.split("\t")[0] for r in rows if r.strip())


def tshark_endpoints(path: Path) -> tuple[set[str], set[str], set[str]]:
    out = subprocess.run(["tshark", "-n", "-o", "nameres.mac_name:FALSE", "-r", str(path), "-q", "-z",
                          "endpoints,eth", "-z", "endpoints,ip", "-z", "endpoints,ipv6"],
                         capture_output=True, text=True, check=False).stdout
    ips: set[str] = set()
    macs: set[str] = set()
    silent: set[str] = set()  # IP endpoints that never sent a packet (tshark's Tx Packets column is 0)
    section = ""
    for line in out.splitlines():
        if line.endswith("Endpoints"):
            section = line.split()[0]
            continue
        parts = line.split()
        if len(parts) < 7 or not parts[1].isdigit():
            continue
        (macs if section == "Ethernet" else ips).add(parts[0].lower())
        if section != "Ethernet" and parts[3] == "0":
            silent.add(parts[0].lower())
    return ips, macs, silent


def explained_ip(ip: str) -> str | None:
    addr = ipaddress.ip_address(ip)
    if addr.is_multicast:
        return "multicast"
    if addr.is_unspecified:
        return "unspecified (DHCP/ND before an address is assigned)"
    if addr.version == 4 and ip.endswith(".255"):
        return "broadcast"
    return None


def explained_mac(mac: str) -> str | None:
    first = int(mac.split(":")[0], 16)
    if first & 1:
        return "group address (broadcast/multicast)"
    if mac == "00:00:00:00:00:00":
        return "null address (synthetic captures)"
    return None


def tshark_unproven(path: Path, candidates: set[str]) -> set[str]:
    """Of ``candidates``, the addresses tshark shows only ever opening TCP connections, fewer than three, and
    never sending payload, a pure ACK or anything but TCP: what a blind spoofer could have sent."""
    if not candidates:
        return set()
    fields = ["-T", "fields", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.stream"]
    proof = ("!tcp || tcp.len > 0 || "
             "(tcp.flags.ack == 1 && tcp.flags.syn == 0 && tcp.flags.fin == 0 && tcp.flags.reset == 0)")

    def rows(display_filter: str) -> list[list[str]]:
        out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", display_filter, *fields], capture_output=True,
                             text=True, check=False).stdout
        return [line.split("\t") for line in out.splitlines()]

    proven = {r[0] or r[1] for r in rows(f"(ip || ipv6) && ({proof})")}
    streams: dict[str, set[str]] = {}
    for r in rows("tcp"):
        streams.setdefault(r[0] or r[1], set()).add(r[2])
    return {ip for ip in candidates if ip not in proven and 0 < len(streams.get(ip, ())) < 3}


def inventory(path: Path) -> tuple[set[str], set[str], set[str]]:
    builder = InventoryBuilder()
    endpoints = EndpointObserver()
    pipeline = PacketPipeline([str(path)], consumers=[AppLayer(builder.on_event, ANALYZERS), endpoints])
    for records in pipeline.flow_batches():
        for f in flow_dicts(records):
            builder.on_flow(f)
    builder.on_sightings(endpoints.sightings(), endpoints.bridge_protocols)
    assets, _ = builder.build()
    return {ip for a in assets for ip in a.ips}, {m for a in assets for m in a.macs}, set(builder.unproven_only)


_TUNNEL = "inner addresses of a tunnel (IP-in-IP, 6in4, GRE, VXLAN): tunnels are not decoded yet"
# Endpoints tshark lists from places we do not read addresses from, each with the reason.
EXPLAINED: dict[tuple[str, str], str] = {
    **{("encapsulation/ndpi/4in6tunnel.pcap", ip): _TUNNEL for ip in ("10.10.10.1", "192.168.0.1")},
    **{("encapsulation/ndpi/gre.pcapng", ip): _TUNNEL for ip in ("192.168.10.210", "192.168.103.40")},
    **{("encapsulation/ndpi/vxlan.pcap", a): _TUNNEL for a in ("10.10.20.4", "157.240.224.35", "8.8.8.8",
                                                                 "1e:ea:69:2a:6f:cf", "66:7a:50:aa:ff:9a")},
    **{("it/ndpi/syslog.pcap", ip): _TUNNEL for ip in ("2001:470:6c:a1::2", "2001:470:765b::b15:22")},
    # A fuzzed capture: tshark reads these from frames whose IPv4 headers are corrupt (bad total length);
    # we count the frames as decode errors rather than trusting their addresses.
    **{("robustness/ndpi/fuzz-2006-06-26-2594.pcap", ip): "addresses from corrupt IPv4 headers"
       for ip in ("192.168.1.170", "192.168.170.170", "192.168.3.1", "192.170.170.170")},
}


@pytest.mark.parametrize("rel", _captures())
def test_every_tshark_endpoint_is_in_the_inventory(rel: str) -> None:
    path = CORPUS / rel
    their_ips, their_macs, silent = tshark_endpoints(path)
    our_ips, our_macs, unproven = inventory(path)
    # Addresses that never sent a packet and have no MAC of their own are probed addresses, not devices
    # (the inventory counts them apart); with a MAC on the segment they are assets like any other. So are
    # those that only tried to open a connection or two with nothing a spoofer could not send (tshark says so).
    missing_ips = {ip for ip in their_ips - our_ips - silent
                   if explained_ip(ip) is None and (rel, ip) not in EXPLAINED}
    missing_ips -= tshark_unproven(path, missing_ips & unproven)
    missing_macs = {m for m in their_macs - our_macs if explained_mac(m) is None and (rel, m) not in EXPLAINED}
    assert not missing_ips, f"IP endpoints tshark shows that are not assets: {sorted(missing_ips)[:20]}"
    assert not missing_macs, f"MAC endpoints tshark shows that are not assets: {sorted(missing_macs)[:20]}"

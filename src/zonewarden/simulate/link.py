"""The simulated network below the applications: addressing, ARP, routing through gateways, VLAN tags.

Capture model: a SPAN of every VLAN's ingress (trunk, tags kept), so each frame appears exactly once, on
the VLAN of the device that sent it. A packet to another subnet goes to the sender's gateway MAC; a packet
from the internet is seen where the router delivers it. Times are integer microseconds since the epoch.
"""

from __future__ import annotations

import heapq
import ipaddress
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from zonewarden.simulate import frames as f
from zonewarden.simulate.site import PORTS, Device, Network, Site

BROADCAST_IP = "255.255.255.255"
NO_TAG = -1
_TTL = {"windows": 128, "linux": 64, "embedded": 64}
# ARP entries are refreshed after 30-60 s of use (Windows and Linux "reachable time" is 15-45 s, then a
# probe): long enough not to flood the capture, short enough to show in a two-minute demo.
ARP_REFRESH_US = (30_000_000, 60_000_000)


class Sink:
    """Frames from every actor, merged by time in a heap and released once no earlier frame can come."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, bytes, int]] = []
        self._seq = 0

    def emit(self, ts_us: int, frame: bytes, tag: int = NO_TAG) -> None:
        # The sequence number breaks ties between frames of the same microsecond in emission order, which is
        # deterministic, so equal seeds give equal files.
        self._seq += 1
        heapq.heappush(self._heap, (ts_us, self._seq, frame, tag))

    def release(self, before_us: int) -> list[tuple[int, int, bytes, int]]:
        out = []
        heap = self._heap
        while heap and heap[0][0] < before_us:
            out.append(heapq.heappop(heap))
        return out

    def __len__(self) -> int:
        return len(self._heap)


@dataclass
class Node:
    """A device at run time: its addresses and the small per-host state real stacks keep."""

    dev: Device
    rng: random.Random
    ttl: int
    mac: str | None
    ip_id: int
    arp: dict[str, int] = field(default_factory=dict)  # next-hop IP -> time the entry needs refreshing
    next_port: int = 0
    external: bool = False
    # Conditions other actors must honour: a device in reboot, overloaded, with reporting disabled...
    state: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.dev.name

    @property
    def ip(self) -> str:
        return self.dev.ip

    def ephemeral_port(self) -> int:
        # Windows hands out 49152-65535 in sequence; Linux picks at random in 32768-60999.
        if self.dev.os == "windows":
            self.next_port = 49152 + (self.next_port - 49152 + 1) % 16384 if self.next_port else 49700
            return self.next_port
        return self.rng.randint(32768, 60999)


class Net:
    def __init__(self, site: Site, sink: Sink, seed: int) -> None:
        self.site = site
        self.sink = sink
        self.nodes: dict[str, Node] = {}
        self.by_ip: dict[str, Node] = {}
        self._nets = list(site.networks.values())
        self._l2: dict[tuple[str, str, int | None, int], bytes] = {}
        self._net_of: dict[str, Network | None] = {}
        self._iface: dict[tuple[str, str], tuple[str, Network]] = {}
        self._routes: dict[tuple[str, str], tuple[str, Network | None, Node | None]] = {}
        # Adversary-in-the-middle: (victim, IP it wants to reach) -> (attacker, label tag).
        self.poisoned: dict[tuple[str, str], tuple[Node, int]] = {}
        self.rewrite: Callable[[bytes], bytes] | None = None
        # What actually went on the wire before the capture ended, for the truth: who sent frames, and
        # (sender, destination IP, IP protocol, destination port) of every IP packet.
        self.end_us = 1 << 62
        self.talkers: set[str] = set()
        self.conversations: set[tuple[str, str, int, int]] = set()
        self._mac_owner: dict[str, str] = {}
        for dev in site.devices.values():
            self.add(dev, seed)
        self._poll_conduits = self._conduits()

    def add(self, dev: Device, seed: int) -> Node:
        rng = random.Random(f"{seed}:node:{dev.name}")
        external = self.site.networks[dev.network].external if dev.network in self.site.networks else False
        node = Node(dev, rng, _TTL[dev.os], dev.mac, rng.randrange(1, 0xFFFF), external=external)
        self.nodes[dev.name] = node
        if dev.mac is not None:
            self._mac_owner[dev.mac] = dev.name
        for iface in dev.interfaces:
            self.by_ip[iface.ip] = node
        return node

    # --- addressing ---

    def network_of(self, ip: str) -> Network | None:
        """The most specific network containing ``ip`` (memoised: a plant reuses a few hundred addresses)."""
        try:
            return self._net_of[ip]
        except KeyError:
            pass
        addr = ipaddress.IPv4Address(ip)
        best: Network | None = None
        for net in self._nets:
            if addr in net.subnet and (best is None or net.subnet.prefixlen > best.subnet.prefixlen):
                best = net
        self._net_of[ip] = best
        return best

    def iface_for(self, node: Node, dst_ip: str) -> tuple[str, Network]:
        """The interface (address, network) a node sends from to reach ``dst_ip``."""
        key = (node.name, dst_ip)
        found = self._iface.get(key)
        if found is not None:
            return found
        dst_net = self.network_of(dst_ip) if dst_ip != BROADCAST_IP else None
        found = node.dev.interfaces[0].ip, self.site.networks[node.dev.interfaces[0].network]
        for iface in node.dev.interfaces:
            if dst_net is not None and iface.network == dst_net.name:
                found = iface.ip, dst_net
                break
        self._iface[key] = found
        return found

    def gateway(self, net: Network) -> Node:
        if net.gateway is None:
            raise ValueError(f"network {net.name} has no gateway")
        return self.by_ip[net.gateway]

    def allowed(self, src: Node, dst: Node, port: int) -> bool:
        """Whether the firewall lets ``src`` reach ``dst`` on ``port``: same zone, or a conduit exists (an
        explicit one, or one the site's own polls need from the source's zone to that server and port)."""
        if src.dev.zone == dst.dev.zone or src.dev.role == "network_device":
            return True
        if (src.dev.zone, dst.dev.zone, port) in self.site.conduits:
            return True
        return (src.dev.zone, dst.name, port) in self._poll_conduits

    def _conduits(self) -> set[tuple[str, str, int]]:
        out = set()
        for node in self.nodes.values():
            for p in node.dev.polls:
                out.add((node.dev.zone, p.server, p.port if p.port is not None else PORTS[p.proto][1]))
        return out

    # --- layer 2 ---

    def _header(self, dst_mac: str, src_mac: str, vlan: int | None, ethertype: int) -> bytes:
        key = (dst_mac, src_mac, vlan, ethertype)
        header = self._l2.get(key)
        if header is None:
            tags = [(f.ETH_P_8021Q, vlan)] if vlan is not None else []
            header = f.ethernet(dst_mac, src_mac, ethertype, b"", tags)
            self._l2[key] = header
        return header

    def frame(self, ts: int, dst_mac: str, src_mac: str, vlan: int | None, ethertype: int, payload: bytes,
              tag: int = NO_TAG) -> None:
        data = self._header(dst_mac, src_mac, vlan, ethertype) + payload
        if ts < self.end_us:
            self.talkers.add(self._mac_owner.get(src_mac, src_mac))
        if len(data) < f.ETHERNET_MIN_FRAME:
            # Frames on the wire are padded to the Ethernet minimum; a SPAN port copies the padding.
            data += bytes(f.ETHERNET_MIN_FRAME - len(data))
        self.sink.emit(ts, data, tag)

    def arp_exchange(self, ts: int, asker: Node, target: Node, target_ip: str, vlan: int | None,
                     ask_ip: str, *, unicast: bool = False, tag: int = NO_TAG) -> int:
        """Request and reply; returns the time the reply is seen. Both sides learn each other."""
        assert asker.mac is not None and target.mac is not None
        dst = target.mac if unicast else f.BROADCAST_MAC
        self.frame(ts, dst, asker.mac, vlan, f.ETH_P_ARP,
                   f.arp(f.ARP_REQUEST, asker.mac, ask_ip, f.ZERO_MAC, target_ip), tag)
        reply_ts = ts + 150 + asker.rng.randrange(250)
        self.frame(reply_ts, asker.mac, target.mac, vlan, f.ETH_P_ARP,
                   f.arp(f.ARP_REPLY, target.mac, target_ip, asker.mac, ask_ip), tag)
        lo, hi = ARP_REFRESH_US
        asker.arp[target_ip] = reply_ts + asker.rng.randrange(lo, hi)
        target.arp.setdefault(ask_ip, reply_ts + target.rng.randrange(lo, hi))
        return reply_ts + 50

    def _resolve(self, ts: int, node: Node, next_hop_ip: str, vlan: int | None, src_ip: str, tag: int) -> int:
        due = node.arp.get(next_hop_ip)
        if due is not None and ts < due:
            return ts
        target = self.by_ip.get(next_hop_ip)
        if target is None or target.mac is None:
            return ts
        # First contact asks by broadcast; a refresh asks the known MAC directly, as stacks do.
        return self.arp_exchange(ts, node, target, next_hop_ip, vlan, src_ip, unicast=due is not None, tag=tag)

    # --- layer 3 ---

    def send_ip(self, ts: int, src: Node, dst_ip: str, proto: int, l4: bytes, tag: int = NO_TAG,
                *, src_ip: str | None = None, df: bool = True, ttl: int | None = None) -> int:
        """Emit one IPv4 packet from ``src`` (resolving ARP first when due); returns the time it went out."""
        if src_ip is None:
            src_ip = self.iface_for(src, dst_ip)[0]
        src.ip_id = (src.ip_id + 1) & 0xFFFF
        if ts < self.end_us:
            dport = struct.unpack("!H", l4[2:4])[0] if proto in (f.IPPROTO_TCP, f.IPPROTO_UDP) else 0
            self.conversations.add((src.name, dst_ip, proto, dport))
        packet = f.ipv4(src_ip, dst_ip, proto, l4, ttl=src.ttl if ttl is None else ttl, ident=src.ip_id, df=df)
        return self.send_packet(ts, src, dst_ip, packet, tag)

    def send_packet(self, ts: int, src: Node, dst_ip: str, packet: bytes, tag: int = NO_TAG) -> int:
        dst = self.by_ip.get(dst_ip)
        if src.external:
            # Seen where the router hands it to the destination's VLAN, from the router's MAC.
            if dst is None or dst.mac is None:
                return ts
            net = self.site.networks[dst.dev.network]
            router = self.gateway(net)
            assert router.mac is not None
            ts = self._resolve(ts, router, dst_ip, net.vlan, net.gateway or dst_ip, tag)
            self.frame(ts, dst.mac, router.mac, net.vlan, f.ETH_P_IP, packet, tag)
            return ts
        assert src.mac is not None
        route = self._routes.get((src.name, dst_ip))
        if route is None:
            route = self._route(src, dst_ip, dst)
            self._routes[(src.name, dst_ip)] = route
        my_ip, out_net, hop = route
        if hop is None:
            if out_net is not None:  # a broadcast
                self.frame(ts, f.BROADCAST_MAC, src.mac, out_net.vlan, f.ETH_P_IP, packet, tag)
            return ts
        assert out_net is not None and hop.mac is not None
        net = out_net
        next_hop = dst_ip if hop is dst else (net.gateway or dst_ip)
        spoof = self.poisoned.get((src.name, next_hop))
        if spoof is None:
            ts = self._resolve(ts, src, next_hop, net.vlan, my_ip, tag)
        else:
            # The poisoned cache already maps the next hop to the attacker: no ARP is needed.
            attacker, attack_tag = spoof
            assert attacker.mac is not None
            self.frame(ts, attacker.mac, src.mac, net.vlan, f.ETH_P_IP, packet, tag)
            # The attacker's kernel forwards it (TTL one less) to the real next hop.
            forwarded = forward(packet)
            if self.rewrite is not None:
                forwarded = self.rewrite(forwarded)
            self.frame(ts + 60 + attacker.rng.randrange(80), hop.mac, attacker.mac, net.vlan, f.ETH_P_IP,
                       forwarded, attack_tag)
            return ts
        self.frame(ts, hop.mac, src.mac, net.vlan, f.ETH_P_IP, packet, tag)
        if dst is not None and dst is not hop and not dst.external and dst.mac is not None:
            # The router of the destination's VLAN ARPs for it before delivering (seen on that VLAN).
            dnet = self.network_of(dst_ip)
            if dnet is not None and dnet.gateway is not None:
                self._resolve(ts + 40, self.gateway(dnet), dst_ip, dnet.vlan, dnet.gateway, tag)
        return ts


    def _route(self, src: Node, dst_ip: str, dst: Node | None) -> tuple[str, Network | None, Node | None]:
        """(source address, sending network, next-hop node); no next hop for broadcasts and dead ends."""
        my_ip, net = self.iface_for(src, dst_ip)
        if dst_ip == BROADCAST_IP or dst_ip == str(net.subnet.broadcast_address):
            return my_ip, net, None
        if dst is not None and not dst.external and any(i.network == net.name for i in dst.dev.interfaces):
            return my_ip, net, dst
        hop = self.by_ip.get(net.gateway) if net.gateway is not None else None
        if hop is None or hop.mac is None:
            return my_ip, None, None
        return my_ip, net, hop


def forward(packet: bytes) -> bytes:
    """An IPv4 packet as a router forwards it: TTL decremented, header checksum recomputed."""
    ihl = (packet[0] & 0x0F) * 4
    header = bytearray(packet[:ihl])
    header[8] = max(header[8] - 1, 0)
    header[10:12] = b"\x00\x00"
    header[10:12] = struct.pack("!H", f.internet_checksum(bytes(header)))
    return bytes(header) + packet[ihl:]

"""Background chatter no poll describes: DHCP lease renewals of the office workstations."""

from __future__ import annotations

from zonewarden.simulate import enc_it as it
from zonewarden.simulate.actors import US, Actor, Ctx
from zonewarden.simulate.link import Node
from zonewarden.simulate.tcp import udp_send


class DhcpRenewal(Actor):
    """A Windows client renewing its lease at T1 (half the lease): unicast REQUEST, unicast ACK."""

    def __init__(self, ctx: Ctx, client: Node, server: Node) -> None:
        self.ctx, self.client, self.server = ctx, client, server
        self.rng = ctx.rng(f"dhcp:{client.name}")
        self.next_us = ctx.start_us + int(self.rng.uniform(5, 900) * US)
        ctx.edge(client, server, "dhcp", "udp", 67)

    def step(self) -> None:
        assert self.next_us is not None
        t, net, c, s = self.next_us, self.ctx.net, self.client, self.server
        mac = c.mac
        assert mac is not None
        xid = self.rng.getrandbits(32)
        hostname = c.name.encode()
        options = [(61, b"\x01" + bytes(int(x, 16) for x in mac.split(":"))), (12, hostname),
                   (81, b"\x00\x00\x00" + f"{c.name}.{self.ctx.site.domain}".encode()), (60, b"MSFT 5.0"),
                   (55, bytes([1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252]))]
        t = udp_send(net, t, c, s.ip, 68, 67, it.dhcp(1, xid, mac, it.DHCP_REQUEST, ciaddr=c.ip, options=options))
        mask = str(self.ctx.site.networks[c.dev.network].subnet.netmask)
        gateway = self.ctx.site.networks[c.dev.network].gateway or "0.0.0.0"
        reply = [(54, _ip(s.ip)), (51, (8 * 86400).to_bytes(4, "big")), (1, _ip(mask)), (3, _ip(gateway)),
                 (6, _ip(s.ip)), (15, self.ctx.site.domain.encode())]
        udp_send(net, t + int(self.rng.uniform(1, 8) * 1000), s, c.ip, 67, 68,
                 it.dhcp(2, xid, mac, it.DHCP_ACK, ciaddr=c.ip, yiaddr=c.ip, options=reply))
        self.next_us = None


def _ip(address: str) -> bytes:
    return bytes(int(x) for x in address.split("."))


def background_actors(ctx: Ctx) -> list[Actor]:
    out: list[Actor] = []
    for dev in ctx.site.devices.values():
        if dev.os != "windows" or dev.role != "it_host" or (dev.purdue_level or 0) < 4 or dev.protocols:
            continue
        dns = [p.server for p in dev.polls if p.proto == "dns"]
        if dns:
            out.append(DhcpRenewal(ctx, ctx.node(dev.name), ctx.node(dns[0])))
    return out

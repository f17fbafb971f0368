"""Attacks at the network and IT layers: scanning, ARP poisoning, lateral movement, a rogue device, a SYN
flood, cleartext logins and data exfiltration."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable

from zonewarden.errors import ConfigError
from zonewarden.simulate import enc_it, enc_tls
from zonewarden.simulate import enc_modbus as mb
from zonewarden.simulate import enc_windows as win
from zonewarden.simulate import frames as f
from zonewarden.simulate.actors import US
from zonewarden.simulate.attacks import Attack, Phase, register
from zonewarden.simulate.drivers_it import ItSession
from zonewarden.simulate.link import Node
from zonewarden.simulate.site import PORTS, Poll
from zonewarden.simulate.tcp import TcpConn, udp_send

SCAN_PORTS = (21, 22, 23, 80, 102, 135, 139, 443, 445, 502, 1433, 1883, 2404, 3389, 4840, 5450, 8080, 8530,
              20000, 44818)
_WINDOWS_PORTS = (135, 139, 445)


def open_ports(node: Node) -> set[int]:
    ports = {int(o.get("port", PORTS[p][1])) for p, o in node.dev.protocols.items() if PORTS[p][0] == "tcp"}
    if node.dev.os == "windows":
        ports |= set(_WINDOWS_PORTS)
    return ports


@register
class ReconScan(Attack):
    name = "recon-scan"
    summary = "Ping sweep and SYN port scan from an enterprise PC into the DMZ and site operations"
    default_at = 0.1
    attacker_default = "ws-eng-01"

    def extra_params(self) -> tuple[str, ...]:
        return ("networks",)

    def plan(self) -> list[Phase]:
        names = self.spec.params.get("networks", ["dmz", "site-ops"])
        nets = [self.ctx.site.networks.get(str(n)) for n in names]
        if any(n is None for n in nets):
            raise ConfigError(f"attack {self.name}: unknown network in {names}")
        self.addresses = [str(h) for n in nets if n is not None for h in list(n.subnet.hosts())[:254]]
        self.live: list[Node] = []
        return [self.ping_sweep, self.port_scan]

    def _reachable(self, target: Node, port: int) -> bool:
        if port == 0:  # ICMP: the firewall passes pings between zones that have any conduit
            net = self.ctx.net
            return net.allowed(self.attacker, target, 0) or any(
                (self.attacker.dev.zone, target.dev.zone) == (a, b) for a, b, _ in self.ctx.site.conduits)
        return self.ctx.net.allowed(self.attacker, target, port)

    def ping_sweep(self, t: int) -> int:
        net = self.ctx.net
        tag = self.label("ping-sweep", [], ["T0846"], "ICMP echo to every address of the DMZ and site operations")
        ident = self.rng.getrandbits(16)
        for seq, ip in enumerate(self.addresses, start=1):
            t += self.think(5, 12)
            probe = f.icmp_echo(ident, seq, bytes(range(32)))
            net.send_ip(t, self.attacker, ip, f.IPPROTO_ICMP, probe, tag)
            target = net.by_ip.get(ip)
            if target is not None and self._reachable(target, 0):
                self.live.append(target)
                net.send_ip(t + self.think(0.5, 2), target, self.attacker.ip, f.IPPROTO_ICMP,
                            f.icmp_echo(ident, seq, bytes(range(32)), reply=True), tag)
        self.ctx.labels.steps[tag].targets = [n.ip for n in self.live]
        self.ctx.labels.steps[tag].target_names = [n.name for n in self.live]
        return t + 3 * US

    def port_scan(self, t: int) -> None:
        net = self.ctx.net
        # nmap -Pn: every known address of the target networks, not only those that answered the pings.
        targets = [net.by_ip[ip] for ip in self.addresses if ip in net.by_ip]
        tag = self.label("port-scan", targets, ["T0846"],
                         f"SYN scan of {len(SCAN_PORTS)} IT and ICS ports on {len(targets)} hosts")
        sport = self.rng.randrange(40000, 65000)
        for target in targets:
            ports = open_ports(target)
            for port in self.rng.sample(SCAN_PORTS, len(SCAN_PORTS)):
                t += self.think(2, 5)
                seq = self.rng.getrandbits(32)
                src_ip = net.iface_for(self.attacker, target.ip)[0]
                syn = f.tcp(src_ip, target.ip, sport, port, seq, 0, "S", window=1024, options=f.tcp_mss_option(1460))
                net.send_ip(t, self.attacker, target.ip, f.IPPROTO_TCP, syn, tag, df=False)
                self.edge(target, f"tcp/{port}", "tcp", port)
                if not self._reachable(target, port):
                    continue
                answer = t + self.think(0.3, 1.5)
                if port in ports:
                    ack_seq = self.rng.getrandbits(32)
                    net.send_ip(answer, target, self.attacker.ip, f.IPPROTO_TCP,
                                f.tcp(target.ip, src_ip, port, sport, ack_seq, seq + 1, "SA",
                                      options=f.tcp_mss_option(1460)), tag)
                    net.send_ip(answer + self.think(0.3, 1), self.attacker, target.ip, f.IPPROTO_TCP,
                                f.tcp(src_ip, target.ip, sport, port, seq + 1, 0, "R", window=0), tag, df=False)
                else:
                    net.send_ip(answer, target, self.attacker.ip, f.IPPROTO_TCP,
                                f.tcp(target.ip, src_ip, port, sport, 0, seq + 1, "RA", window=0), tag)


def _freeze_level(frozen: int) -> Callable[[bytes], bytes]:
    """A rewrite hook: Modbus read-holding-registers responses carry a fixed first register (the level)."""

    def rewrite(packet: bytes) -> bytes:
        ihl = (packet[0] & 0x0F) * 4
        if packet[9] != f.IPPROTO_TCP:
            return packet
        segment = packet[ihl:]
        offset = (segment[12] >> 4) * 4
        payload = segment[offset:]
        if struct.unpack("!H", segment[:2])[0] != mb.PORT or len(payload) < 11 or payload[7] != 3:
            return packet
        payload = payload[:9] + struct.pack("!H", frozen) + payload[11:]
        header = bytearray(segment[:offset])
        header[16:18] = b"\x00\x00"
        src = str(ipaddress.IPv4Address(packet[12:16]))
        dst = str(ipaddress.IPv4Address(packet[16:20]))
        pseudo = f._pseudo_header(src, dst, f.IPPROTO_TCP, len(header) + len(payload))
        header[16:18] = struct.pack("!H", f.internet_checksum(pseudo + bytes(header) + payload))
        return packet[:ihl] + bytes(header) + payload

    return rewrite


@register
class ArpMitm(Attack):
    name = "arp-mitm"
    summary = "ARP poisoning between an HMI and a PLC; the attacker relays the traffic and freezes the level"
    default_at = 0.3
    attacker_default = "pg-water"
    target_defaults = ("hmi-water", "plc-mb-tank")

    def extra_params(self) -> tuple[str, ...]:
        return ("duration",)

    def plan(self) -> list[Phase]:
        if len(self.targets) != 2:
            raise ConfigError(f"attack {self.name}: needs exactly two targets (the two ends to come between)")
        self.duration = int(float(self.spec.params.get("duration", 40)) * US)
        return [self.poison, self.restore]

    def _reply(self, t: int, victim: Node, impersonated: Node, mac: str, tag: int) -> None:
        assert victim.mac is not None and self.attacker.mac is not None
        vlan = self.ctx.site.networks[victim.dev.network].vlan
        body = f.arp(f.ARP_REPLY, mac, impersonated.ip, victim.mac, victim.ip)
        self.ctx.net.frame(t, victim.mac, self.attacker.mac, vlan, f.ETH_P_ARP, body, tag)

    def poison(self, t: int) -> int:
        a, b = self.targets
        assert self.attacker.mac is not None
        tag = self.label("arp-poisoning", [a, b], ["T0830"],
                         f"Unsolicited ARP replies every 2 s telling {a.name} and {b.name} that the other's IP is at "
                         "the attacker's MAC")
        relay = self.label("relay-and-spoof", [a, b], ["T0830", "T0856"],
                           "The attacker forwards the hijacked traffic and rewrites the level the HMI is shown")
        end = t + self.duration
        k = t
        while k < end:
            self._reply(k, a, b, self.attacker.mac, tag)
            self._reply(k + 500, b, a, self.attacker.mac, tag)
            k += 2 * US
        net = self.ctx.net
        net.poisoned[(a.name, b.ip)] = (self.attacker, relay)
        net.poisoned[(b.name, a.ip)] = (self.attacker, relay)
        proc = self.ctx.process(b.dev)
        frozen = proc.analogs()[0].as_int() if proc else 310
        net.rewrite = _freeze_level(frozen)
        return end

    def restore(self, t: int) -> None:
        a, b = self.targets
        net = self.ctx.net
        net.poisoned.pop((a.name, b.ip), None)
        net.poisoned.pop((b.name, a.ip), None)
        net.rewrite = None
        tag = self.label("arp-restore", [a, b], ["T0830"],
                         "Corrective ARP replies with the real MACs as the tool exits")
        assert a.mac is not None and b.mac is not None
        for n in range(3):
            self._reply(t + n * US, a, b, b.mac, tag)
            self._reply(t + n * US + 500, b, a, a.mac, tag)


@register
class LateralMovement(Attack):
    name = "lateral-movement"
    summary = "IT to DMZ to OT: RDP from a finance PC to the jump host, SMB tool transfer and RDP to the EWS, SSH"
    default_at = 0.15
    attacker_default = "ws-fin-02"
    target_defaults = ("jump-01", "ews-1", "mqtt-01")

    def plan(self) -> list[Phase]:
        if len(self.targets) != 3:
            raise ConfigError(f"attack {self.name}: targets are the jump host, the EWS and a Linux host for SSH")
        return [self.rdp_jump, self.smb_tool, self.rdp_ews, self.ssh]

    def _session(self, client: Node, server: Node, proto: str, user: str, step: str, techniques: list[str],
                 description: str) -> ItSession:
        s = ItSession(self.ctx, client, server, Poll(server.name, proto, 1.0, {"user": user, "share": "ADMIN$"}))
        s.tag = self.ctx.labels.new(self.name, step, client, [server], techniques, description)
        self.edge(server, proto, "tcp", PORTS[proto][1], client)
        return s

    def rdp_jump(self, t: int) -> int:
        jump = self.targets[0]
        s = self._session(self.attacker, jump, "rdp", "RIVERSIDE\\svc-backup", "rdp-to-jump-host",
                          ["T0886", "T0859"], "RDP from a finance PC that never used the jump host, with a service "
                          "account's stolen credentials")
        t = s.rdp(t)
        for _ in range(4):
            t = s.rdp(t + self.think(800, 3000))
        return t + 10 * US

    def smb_tool(self, t: int) -> int:
        jump, ews = self.targets[0], self.targets[1]
        s = self._session(jump, ews, "smb", "OT\\administrator", "smb-tool-transfer", ["T0867", "T0886", "T0859"],
                          "SMB to the engineering workstation's ADMIN$ share and a PsExec-style service binary "
                          "written to it")
        t = s.smb(t)
        file_id = self.rng.randbytes(16)
        tool = b"MZ" + self.rng.randbytes(38_000)
        t = s._smb(t, win.CREATE, win.create_request("PSEXESVC.exe", write=True),
                   win.create_response(file_id, 0, 0))
        for off in range(0, len(tool), 16384):
            chunk = tool[off : off + 16384]
            t = s._smb(t, win.WRITE, win.write_request(file_id, chunk, off), win.write_response(len(chunk)))
        t = s._smb(t, win.CLOSE, win.close_request(file_id), win.close_response())
        return t + 5 * US

    def rdp_ews(self, t: int) -> int:
        jump, ews = self.targets[0], self.targets[1]
        s = self._session(jump, ews, "rdp", "OT\\administrator", "rdp-to-ews", ["T0886", "T0859"],
                          "RDP from the jump host to the engineering workstation as the domain administrator")
        t = s.rdp(t)
        for _ in range(6):
            t = s.rdp(t + self.think(500, 2000))
        return t + 5 * US

    def ssh(self, t: int) -> None:
        ews, host = self.targets[1], self.targets[2]
        tag = self.ctx.labels.new(self.name, "ssh-onward", ews, [host], ["T0886"],
                                  f"SSH from the engineering workstation to {host.name}")
        self.edge(host, "ssh", "tcp", 22, ews)
        conn = TcpConn(self.ctx.net, ews, host, 22, tag=tag)
        t = conn.open(t)
        t = conn.exchange(t + 1_000, b"SSH-2.0-OpenSSH_for_Windows_8.1\r\n", b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"
                          b"\r\n", 2_000, next_us=t)
        t = conn.exchange(t + 500, enc_tls.kexinit(self.rng), enc_tls.kexinit(self.rng), 1_000, next_us=t)
        t = conn.exchange(t + 500, enc_tls.ecdh_init(self.rng), enc_tls.ecdh_reply(self.rng) +
                          enc_tls.newkeys(self.rng), 3_000, next_us=t)
        t = conn.send(t + 500, True, enc_tls.newkeys(self.rng))
        for _ in range(12):
            t = conn.exchange(t + self.think(100, 900), enc_tls.ssh_encrypted(self.rng, self.rng.randrange(20, 90)),
                              enc_tls.ssh_encrypted(self.rng, self.rng.randrange(40, 1200)), 2_000)
        conn.close(t + US)


@register
class RogueDevice(Attack):
    name = "rogue-device"
    summary = "A Raspberry Pi plugged into the water cell: DHCP, ARP probes, an ARP scan, then Modbus reads"
    default_at = 0.25
    attacker_default = "pg-water"  # only its network is used: the rogue device is new
    target_defaults = ("plc-mb-tank", "plc-mb-chem")

    def extra_params(self) -> tuple[str, ...]:
        return ("ip", "mac")

    def plan(self) -> list[Phase]:
        network = self.attacker.dev.network
        net = self.ctx.site.networks[network]
        ip = str(self.spec.params.get("ip", net.subnet.network_address + 77))
        mac = str(self.spec.params.get("mac", "b8:27:eb:5a:17:4d"))
        self.attacker = self.new_device("rogue-pi", network, ip, mac, "Raspberry Pi Foundation",
                                        "Raspberry Pi 4 Model B")
        return [self.dhcp, self.arp_probe, self.arp_scan, self.modbus]

    def dhcp(self, t: int) -> int:
        tag = self.label("dhcp-discover", [], ["T0864"], "A new MAC asks for an address (nobody answers on this VLAN)")
        assert self.attacker.mac is not None
        xid = self.rng.getrandbits(32)
        options = [(12, b"raspberrypi"), (60, b"dhcpcd-9.4.1:Linux-6.1.21-v8+:aarch64:BCM2835"),
                   (55, bytes([1, 121, 33, 3, 6, 28, 51, 58, 59, 119]))]
        for delay in (0, 4, 12):
            udp_send(self.ctx.net, t + delay * US, self.attacker, "255.255.255.255", 68, 67,
                     enc_it.dhcp(1, xid, self.attacker.mac, enc_it.DHCP_DISCOVER, options=options), tag,
                     src_ip="0.0.0.0")
        return t + 20 * US

    def arp_probe(self, t: int) -> int:
        tag = self.label("arp-probe-announce", [], ["T0864"], "RFC 5227 probes for a static address, then announces")
        net, me = self.ctx.net, self.attacker
        assert me.mac is not None
        vlan = self.ctx.site.networks[me.dev.network].vlan
        for n in range(3):
            net.frame(t + n * US, f.BROADCAST_MAC, me.mac, vlan, f.ETH_P_ARP,
                      f.arp(f.ARP_REQUEST, me.mac, "0.0.0.0", f.ZERO_MAC, me.ip), tag)
        for n in range(2):
            net.frame(t + (5 + 2 * n) * US, f.BROADCAST_MAC, me.mac, vlan, f.ETH_P_ARP,
                      f.arp(f.ARP_REQUEST, me.mac, me.ip, f.ZERO_MAC, me.ip), tag)
        return t + 10 * US

    def arp_scan(self, t: int) -> int:
        net, me = self.ctx.net, self.attacker
        subnet = self.ctx.site.networks[me.dev.network].subnet
        found = [net.by_ip[str(h)] for h in subnet.hosts() if str(h) in net.by_ip and str(h) != me.ip]
        tag = self.label("arp-scan", found, ["T0846"], f"arp-scan of {subnet}: every host on the VLAN answers")
        assert me.mac is not None
        vlan = self.ctx.site.networks[me.dev.network].vlan
        for host in list(subnet.hosts())[:254]:
            ip = str(host)
            if ip == me.ip:
                continue
            t += 2_000
            target = net.by_ip.get(ip)
            if target is not None and target.mac is not None:
                net.arp_exchange(t, me, target, ip, vlan, me.ip, tag=tag)
            else:
                net.frame(t, f.BROADCAST_MAC, me.mac, vlan, f.ETH_P_ARP,
                          f.arp(f.ARP_REQUEST, me.mac, me.ip, f.ZERO_MAC, ip), tag)
        return t + 5 * US

    def modbus(self, t: int) -> None:
        tag = self.label("modbus-read", self.targets, ["T0848", "T0801"],
                         "The new device polls the PLCs' registers like an HMI would")
        for target in self.targets:
            conn = TcpConn(self.ctx.net, self.attacker, target, mb.PORT, tag=tag)
            t = conn.open(t)
            proc = self.ctx.process(target.dev)
            unit = int(target.dev.protocols.get("modbus", {}).get("unit_id", 1))
            words = [p.as_int() for p in proc.analogs()] if proc else [0] * 10
            for tid in range(1, 6):
                t = conn.exchange(t + 500_000, mb.read_request(tid, unit, mb.READ_HOLDING_REGISTERS, 0, len(words)),
                                  mb.read_registers_response(tid, unit, mb.READ_HOLDING_REGISTERS, words),
                                  self.think(2, 6))
            t = conn.close(t + 100_000)
            self.edge(target, "modbus", "tcp", mb.PORT)


__all__ = ["ArpMitm", "LateralMovement", "ReconScan", "RogueDevice"]

"""Attacks that need no industrial protocol: a SYN flood against a PLC, cleartext logins with default
credentials (Telnet to a switch, FTP to a PLC), and exfiltration of historian data to the internet."""

from __future__ import annotations

from zonewarden.errors import ConfigError
from zonewarden.simulate import enc_it, enc_tls
from zonewarden.simulate import frames as f
from zonewarden.simulate.actors import US
from zonewarden.simulate.attacks import Attack, Phase, register
from zonewarden.simulate.tcp import TcpConn, udp_send

FLOOD_BACKLOG = 64  # half-open connections a small PLC stack holds before it stops answering


@register
class DosFlood(Attack):
    name = "dos-flood"
    summary = "TCP SYN flood against a PLC's Modbus port: its backlog fills and the HMI's polls slow down"
    default_at = 0.7
    attacker_default = "hist-01"
    target_defaults = ("plc-mb-chem",)

    def extra_params(self) -> tuple[str, ...]:
        return ("rate", "duration", "port")

    def plan(self) -> list[Phase]:
        return [self.flood]

    def flood(self, t: int) -> None:
        target = self.targets[0]
        rate = int(self.spec.params.get("rate", 2000))
        duration = float(self.spec.params.get("duration", 8))
        port = int(self.spec.params.get("port", 502))
        tag = self.label("syn-flood", [target], ["T0814"],
                         f"hping3-style SYN flood, {rate} packets/s for {duration:g} s on port {port}")
        net = self.ctx.net
        src_ip = net.iface_for(self.attacker, target.ip)[0]
        gap = max(US // rate, 1)
        target.state["overloaded_until"] = t + int(duration * US) + 2 * US
        self.edge(target, f"tcp/{port}", "tcp", port)
        base = self.rng.randrange(1024, 65535)
        for n in range(int(rate * duration)):
            ts = t + n * gap + self.rng.randrange(gap)
            # hping3 increments the source port with every packet.
            sport, seq = 1024 + (base + n) % 64511, self.rng.getrandbits(32)
            syn = f.tcp(src_ip, target.ip, sport, port, seq, 0, "S", window=512)
            net.send_ip(ts, self.attacker, target.ip, f.IPPROTO_TCP, syn, tag, df=False, ttl=64)
            if n < FLOOD_BACKLOG:
                answer = ts + self.think(0.2, 2)
                net.send_ip(answer, target, src_ip, f.IPPROTO_TCP,
                            f.tcp(target.ip, src_ip, port, sport, self.rng.getrandbits(32), seq + 1, "SA",
                                  options=f.tcp_mss_option(1460)), tag)
                # No socket on the attacker's side: its kernel resets the half-open connection.
                net.send_ip(answer + 300, self.attacker, target.ip, f.IPPROTO_TCP,
                            f.tcp(src_ip, target.ip, sport, port, seq + 1, 0, "R", window=0), tag, df=False)


@register
class CleartextCredentials(Attack):
    name = "cleartext-creds"
    summary = "Default credentials in clear: Telnet to the OT core switch, FTP to a Modicon PLC"
    default_at = 0.4
    attacker_default = "hist-01"
    target_defaults = ("core-ot", "plc-mb-tank")

    def plan(self) -> list[Phase]:
        if len(self.targets) != 2:
            raise ConfigError(f"attack {self.name}: targets are a Telnet server and an FTP server")
        return [self.telnet, self.ftp]

    def _lines(self, conn: TcpConn, t: int, dialogue: list[tuple[bytes, bytes]]) -> int:
        for request, reply in dialogue:
            t = conn.exchange(t + self.think(400, 1500), request, reply, self.think(2, 20), next_us=t)
        return t

    def telnet(self, t: int) -> int:
        switch = self.targets[0]
        tag = self.label("telnet-default-login", [switch], ["T0812", "T0859"],
                         "Telnet login to the switch with the factory account admin/private, then its configuration")
        server_ip = self.ctx.net.iface_for(switch, self.attacker.ip)[0]
        conn = TcpConn(self.ctx.net, self.attacker, switch, 23, server_ip=server_ip, tag=tag)
        t = conn.open(t)
        t = conn.exchange(t + 5_000, enc_it.TELNET_CLIENT_HELLO, enc_it.TELNET_SERVER_HELLO, 3_000, next_us=t)
        t = conn.push(t + 20_000, False, b"\r\nUser: ", ack=False)
        product = switch.dev.product
        t = self._lines(conn, t, [
            (b"admin\r\n", b"admin\r\nPassword: "),
            (b"private\r\n", f"\r\n\r\n{product} Release {switch.dev.firmware}\r\n\r\n(Hirschmann) >".encode()),
            (b"enable\r\n", b"enable\r\n(Hirschmann) #"),
            (b"show running-config script\r\n", b"show running-config script\r\n! HiOS running config\r\n"
             b"users password admin private\r\nnetwork parms 10.30.0.1 255.255.255.0\r\nsnmp community public\r\n"
             b"(Hirschmann) #"),
            (b"logout\r\n", b"logout\r\n"),
        ])
        self.edge(switch, "telnet", "tcp", 23)
        return conn.close(t + 50_000, from_client=False) + 5 * US

    def ftp(self, t: int) -> None:
        plc = self.targets[1]
        client = self.ctx.node("ews-1") if "ews-1" in self.ctx.net.nodes else self.attacker
        tag = self.ctx.labels.new(self.name, "ftp-default-login", client, [plc], ["T0812", "T0859", "T0845"],
                                  "FTP to the PLC with the Modicon diagnostic account sysdiag, then the application "
                                  "file is downloaded")
        conn = TcpConn(self.ctx.net, client, plc, 21, tag=tag)
        t = conn.open(t)
        t = conn.push(t + 5_000, False, b"220 FTP server ready.\r\n", ack=False)
        data_port = 1024 + self.rng.randrange(1, 2000)
        t = self._lines(conn, t, [
            (b"USER sysdiag\r\n", b"331 Password required for sysdiag.\r\n"),
            (b"PASS factorycast@schneider\r\n", b"230 User sysdiag logged in.\r\n"),
            (b"SYST\r\n", b"215 UNIX Type: L8\r\n"),
            (b"TYPE I\r\n", b"200 Type set to I.\r\n"),
            (b"PASV\r\n", enc_it.ftp_pasv_reply(plc.ip, data_port)),
            (b"RETR /FLASH0/APP/STATION.APX\r\n", b"150 Opening BINARY mode data connection.\r\n"),
        ])
        data = TcpConn(self.ctx.net, client, plc, data_port, tag=tag)
        t = data.open(t + 2_000)
        t = data.push(t + 1_000, False, self.rng.randbytes(48_000))
        t = data.close(t + 5_000, from_client=False)
        t = conn.push(t + 2_000, False, b"226 Transfer complete.\r\n")
        t = self._lines(conn, t, [(b"QUIT\r\n", b"221 Goodbye.\r\n")])
        conn.close(t + 20_000, from_client=False)
        self.ctx.edge(client, plc, "ftp", "tcp", 21, attack=self.name)
        self.ctx.edge(client, plc, f"tcp/{data_port}", "tcp", data_port, attack=self.name)


@register
class HistorianExfiltration(Attack):
    name = "exfil-historian"
    summary = "Historian archive exfiltrated over TLS to an internet host through a stale any-any firewall rule"
    default_at = 0.8
    attacker_default = "hist-01"

    def extra_params(self) -> tuple[str, ...]:
        return ("megabytes", "ip", "domain")

    def plan(self) -> list[Phase]:
        external = [n for n in self.ctx.site.networks.values() if n.external]
        if not external:
            raise ConfigError(f"attack {self.name}: the site needs an external network (external: true) for the "
                              "exfiltration target")
        self.domain = str(self.spec.params.get("domain", "sync.cdn-telemetry.net"))
        ip = str(self.spec.params.get("ip", "198.51.100.77"))
        self.drop = self.new_device("exfil-server", external[0].name, ip, None, "unknown", "attacker infrastructure")
        self.size = int(float(self.spec.params.get("megabytes", 4)) * 1_000_000)
        return [self.lookup, self.upload]

    def lookup(self, t: int) -> int:
        dns = [self.ctx.node(p.server) for p in self.attacker.dev.polls if p.proto == "dns"]
        tag = self.label("dns-lookup", [self.drop], ["T0869"], f"The historian resolves {self.domain}")
        if dns:
            qid, port = self.rng.getrandbits(16), self.rng.randrange(49152, 65535)
            net = self.ctx.net
            t = udp_send(net, t, self.attacker, dns[0].ip, port, 53, enc_it.dns_query(qid, self.domain), tag)
            udp_send(net, t + 40_000, dns[0], self.attacker.ip, 53, port,
                     enc_it.dns_response(qid, self.domain, enc_it.DNS_A, [self.drop.ip], 60), tag)
        return t + US

    def upload(self, t: int) -> None:
        tag = self.label("tls-upload", [self.drop], ["T0882", "T0869"],
                         f"{self.size // 1_000_000} MB of archive data uploaded over TLS to {self.domain}")
        conn = TcpConn(self.ctx.net, self.attacker, self.drop, 443, tag=tag)
        self.edge(self.drop, "tls", "tcp", 443)
        t = conn.open(t)
        hello = enc_tls.client_hello(self.rng, self.domain, ("http/1.1",))
        t = conn.exchange(t + 1_000, hello, enc_tls.server_hello(self.rng, hello), 40_000, next_us=t)
        t = conn.send(t + 30_000, True, enc_tls.client_finished(self.rng))
        sent = 0
        while sent < self.size:
            chunk = min(64_000, self.size - sent)
            t = conn.push(t + self.think(60, 140), True, enc_tls.app_data(self.rng, chunk))
            sent += chunk
        t = conn.push(t + 50_000, False, enc_tls.app_data(self.rng, 300))
        conn.close(t + 200_000)

"""IT background where such hosts live: name lookups, time, web (direct and through the proxy), file shares,
remote desktop, directory and Kerberos, and the historian's PI replication. Short-lived protocols open a
connection per session; SMB, RDP and PI keep theirs open as Windows and PI do.
"""

from __future__ import annotations

from collections.abc import Callable

from zonewarden.simulate import enc_it as it
from zonewarden.simulate import enc_tls as tls
from zonewarden.simulate import enc_windows as win
from zonewarden.simulate.actors import US, Actor, Ctx, Rhythm, server_port
from zonewarden.simulate.link import NO_TAG, Node
from zonewarden.simulate.site import Poll
from zonewarden.simulate.tcp import TcpConn, udp_send

_FILETIME_1970 = 116_444_736_000_000_000
_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
_FILES = ("Reports\\weekly_production.xlsx", "Procedures\\SOP-114 chlorination.docx", "Shared\\shift_log.xlsx",
          "Finance\\budget_2026.xlsx", "Projects\\WTP_upgrade\\PID_rev7.pdf")


def filetime(us: int) -> int:
    return _FILETIME_1970 + us * 10


class ItSession(Actor):
    def __init__(self, ctx: Ctx, client: Node, server: Node, poll: Poll) -> None:
        self.ctx, self.client, self.server, self.poll = ctx, client, server, poll
        self.rng = ctx.rng(f"{poll.proto}:{client.name}->{server.name}")
        # IT sessions start anywhere in their first period: a capture catches them mid-rhythm.
        self.rhythm = Rhythm(ctx, self.rng, poll.period, min(poll.period, 60.0))
        self.next_us = self.rhythm.first()
        self.conn: TcpConn | None = None
        self.port = server_port(poll)
        self.domain = ctx.site.domain
        self.user = str(poll.options.get("user", f"{client.name.upper()}$"))
        self.mid = self.session = self.tree = 0  # SMB2 message id, session and tree of the open connection
        self.tag = NO_TAG  # attacks reuse these sessions with their step's label
        self.sessions: dict[str, Callable[[int], int]] = {
            "dns": self.dns, "ntp": self.ntp, "http": self.http, "https": self.https, "http_proxy": self.proxy,
            "smb": self.smb, "rdp": self.rdp, "ldap": self.ldap, "kerberos": self.kerberos, "pi": self.pi}

    def step(self) -> None:
        assert self.next_us is not None
        end = self.sessions[self.poll.proto](self.next_us)
        self.next_us = self.rhythm.next(after=end)

    def fqdn(self, node: Node) -> str:
        return f"{node.name}.{self.domain}"

    def _tcp(self, t: int) -> tuple[TcpConn, int]:
        conn = TcpConn(self.ctx.net, self.client, self.server, self.port, tag=self.tag)
        return conn, conn.open(t)

    def _think(self, lo_ms: float, hi_ms: float) -> int:
        return int(self.rng.uniform(lo_ms, hi_ms) * 1000)

    # --- UDP ---

    def dns(self, t: int) -> int:
        servers = [self.ctx.net.nodes[p.server] for p in self.client.dev.polls if p.proto != "dns"]
        names: list[tuple[str, list[str]]] = []
        for s in servers:
            listed = s.dev.protocols.get("https", {}).get("names") if s.external else None
            names += [(n, [s.ip]) for n in listed] if listed else [(self.fqdn(s), [s.ip])]
        if not names:
            names = [(self.fqdn(self.server), [self.server.ip])]
        name, addresses = self.rng.choice(names)
        net, port = self.ctx.net, self.rng.randrange(49152, 65535)
        for qtype in (it.DNS_A, it.DNS_AAAA) if self.client.dev.os == "windows" else (it.DNS_A,):
            qid = self.rng.getrandbits(16)
            t = udp_send(net, t, self.client, self.server.ip, port, 53, it.dns_query(qid, name, qtype), self.tag)
            t = udp_send(net, t + self._think(0.2, 3), self.server, self.client.ip, 53, port,
                         it.dns_response(qid, name, qtype, addresses), self.tag) + 300
        return t

    def ntp(self, t: int) -> int:
        net = self.ctx.net
        sport = 123 if self.client.dev.os == "windows" else self.rng.randrange(32768, 61000)
        request = it.ntp_request(t)
        t = udp_send(net, t, self.client, self.server.ip, sport, 123, request)
        received = t + self._think(0.2, 1)
        return udp_send(net, received + 40, self.server, self.client.ip, 123, sport,
                        it.ntp_response(request[40:48], received, received + 40))

    # --- web ---

    def http(self, t: int) -> int:
        conn, t = self._tcp(t)
        host = f"{self.fqdn(self.server)}:{self.port}"
        request = it.http_request("GET", host, "/selfupdate/wuident.cab",
                                  "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50")
        if self.rng.random() < 0.7:
            reply = it.http_response(304, "Not Modified", b"", "application/octet-stream", "Microsoft-IIS/10.0")
        else:
            reply = it.http_response(200, "OK", self.rng.randbytes(self.rng.randrange(2000, 9000)),
                                     "application/octet-stream", "Microsoft-IIS/10.0")
        t = conn.exchange(t + 200, request, reply, self._think(2, 15))
        return conn.close(t + self._think(5, 50))

    def _tls(self, conn: TcpConn, t: int, sni: str | None, request: int, response: int,
             alpn: tuple[str, ...] = ("h2", "http/1.1")) -> int:
        hello = tls.client_hello(self.rng, sni, alpn)
        t = conn.exchange(t + 300, hello, tls.server_hello(self.rng, hello), self._think(2, 20), next_us=t)
        t = conn.send(t + conn.latency + 500, True, tls.client_finished(self.rng) + tls.app_data(self.rng, request))
        return conn.push(t + conn.latency + self._think(5, 80), False, tls.app_data(self.rng, response))

    def https(self, t: int) -> int:
        names = self.server.dev.protocols.get("https", {}).get("names") or [self.fqdn(self.server)]
        conn, t = self._tcp(t)
        t = self._tls(conn, t, self.rng.choice(names), self.rng.randrange(300, 900),
                      self.rng.randrange(2000, 40000))
        t = conn.send(t + self._think(50, 500), True, tls.close_notify(self.rng))
        return conn.close(t + 1_000)

    def proxy(self, t: int) -> int:
        external = [n for n in self.ctx.net.nodes.values() if n.external and "https" in n.dev.protocols]
        names = [name for n in external for name in n.dev.protocols["https"].get("names", [])] or ["example.com"]
        host = self.rng.choice(names)
        conn, t = self._tcp(t)
        connect = f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\nUser-Agent: {_UA}\r\n\r\n".encode()
        t = conn.exchange(t + 200, connect, b"HTTP/1.1 200 Connection established\r\n\r\n", self._think(20, 120),
                          next_us=t)
        t = self._tls(conn, t, host, self.rng.randrange(300, 1500), self.rng.randrange(3000, 60000))
        return conn.close(t + self._think(100, 2000))

    # --- Windows ---

    def smb(self, t: int) -> int:
        ft = filetime(t)
        session, tree = 0x0000_1000_0000_0041 + self.rng.randrange(1 << 20), 1 + self.rng.randrange(8)
        if self.conn is None:
            self.conn, t = self._tcp(t)
            self.mid = 0
            domain = self.domain.split(".")[0].upper()
            t = self._smb(t, win.NEGOTIATE, win.negotiate_request(self.rng), win.negotiate_response(self.rng, ft))
            challenge = win.ntlm_challenge(self.rng, domain, self.server.name, self.domain, ft)
            t = self._smb(t, win.SESSION_SETUP, win.session_setup_request(win.ntlm_negotiate()),
                          win.session_setup_response(challenge), status=win.STATUS_MORE_PROCESSING, session=session)
            info = win._av_pairs(domain, self.server.name, self.domain, ft)
            auth = win.ntlm_authenticate(self.rng, domain, self.user.rstrip("$"), self.client.name, info, ft)
            t = self._smb(t, win.SESSION_SETUP, win.session_setup_request(auth), win.session_setup_response(b""),
                          session=session)
            share = self.poll.options.get("share") or self.server.dev.protocols.get("smb", {}).get("share", "Share")
            self.session, self.tree = session, tree
            return self._smb(t, win.TREE_CONNECT, win.tree_connect_request(f"\\\\{self.server.name}\\{share}"),
                             win.tree_connect_response(), session=session, tree=tree)
        file_id = self.rng.randbytes(16)
        size = self.rng.randrange(4000, 60000)
        name = self.rng.choice(_FILES)
        t = self._smb(t, win.CREATE, win.create_request(name), win.create_response(file_id, ft, size))
        t = self._smb(t, win.READ, win.read_request(file_id, size), win.read_response(self.rng.randbytes(size)))
        return self._smb(t, win.CLOSE, win.close_request(file_id), win.close_response())

    def _smb(self, t: int, command: int, request: bytes, reply: bytes, *, status: int = 0, session: int | None = None,
             tree: int | None = None) -> int:
        assert self.conn is not None
        self.mid += 1
        s = session if session is not None else self.session
        tr = tree if tree is not None else self.tree
        return self.conn.exchange(t + 300, win.smb2(command, self.mid, request, session=s, tree=tr),
                                  win.smb2(command, self.mid, reply, response=True, status=status, session=s, tree=tr),
                                  self._think(0.3, 4), next_us=t)

    def rdp(self, t: int) -> int:
        if self.conn is None:
            self.conn, t = self._tcp(t)
            user = self.user.split("\\")[-1]
            t = self.conn.exchange(t + 300, win.rdp_connection_request(user), win.rdp_connection_confirm(), 2_000,
                                   next_us=t)
            return self._tls(self.conn, t, None, 1200, 9000, ())
        # A burst of user activity: input events up, screen updates down.
        for _ in range(self.rng.randrange(3, 9)):
            t = self.conn.send(t, True, tls.app_data(self.rng, self.rng.randrange(30, 120)))
            t = self.conn.push(t + self.conn.latency + self._think(5, 30), False,
                               tls.app_data(self.rng, self.rng.randrange(200, 6000)))
            t += self._think(50, 400)
        return t

    def ldap(self, t: int) -> int:
        conn, t = self._tcp(t)
        base = ",".join(f"DC={p}" for p in self.domain.split("."))
        entry = win.ldap_entry(1, "", [("defaultNamingContext", [base]),
                                       ("dnsHostName", [self.fqdn(self.server)]),
                                       ("supportedSASLMechanisms", ["GSSAPI", "GSS-SPNEGO", "EXTERNAL", "DIGEST-MD5"])])
        t = conn.exchange(t + 200, win.ldap_search(1, "", 0, "objectClass",
                                                   ["defaultNamingContext", "dnsHostName", "supportedSASLMechanisms"]),
                          entry + win.ldap_result(1, 5), self._think(0.5, 3))
        t = conn.send(t + 1_000, True, win.ldap_unbind(2))
        return conn.close(t + 500)

    def kerberos(self, t: int) -> int:
        realm = str(self.server.dev.protocols.get("kerberos", {}).get("realm", self.domain.upper()))
        user = self.user.split("\\")[-1]
        now = t // US
        conn, t = self._tcp(t)
        t = conn.exchange(t + 200, win.krb_tcp(win.as_req(self.rng, user, realm, now, preauth=False)),
                          win.krb_tcp(win.krb_error_preauth(user, realm, now)), self._think(0.5, 2))
        t = conn.close(t + 500, from_client=False)
        conn, t = self._tcp(t + 1_000)
        t = conn.exchange(t + 200, win.krb_tcp(win.as_req(self.rng, user, realm, now, preauth=True)),
                          win.krb_tcp(win.kdc_rep(self.rng, win.KRB_AS_REP, user, realm, ("krbtgt", realm))),
                          self._think(1, 4))
        t = conn.close(t + 500, from_client=False)
        others = [p for p in self.client.dev.polls if p.proto in ("smb", "ldap", "http", "rdp")]
        target = self.ctx.net.nodes[self.rng.choice(others).server] if others else self.server
        service = ("cifs" if any(p.proto == "smb" for p in others) else "ldap", self.fqdn(target))
        conn, t = self._tcp(t + 1_000)
        t = conn.exchange(t + 200, win.krb_tcp(win.tgs_req(self.rng, user, realm, service, now)),
                          win.krb_tcp(win.kdc_rep(self.rng, win.KRB_TGS_REP, user, realm, service)), self._think(1, 4))
        return conn.close(t + 500, from_client=False)

    def pi(self, t: int) -> int:
        """PI-to-PI / PI Data Archive traffic: a proprietary framed protocol, opaque to a sensor."""
        if self.conn is None:
            self.conn, t = self._tcp(t)
        request = b"\x00\x01\x0b\x50" + self.rng.randbytes(self.rng.randrange(60, 140))
        reply = b"\x00\x01\x0b\x51" + self.rng.randbytes(self.rng.randrange(300, 1400))
        return self.conn.exchange(t, request, reply, self._think(2, 30))

"""TCP and UDP conversations on the simulated network, with the timing of real stacks.

``TcpConn`` keeps sequence numbers (``frames.tcp`` builds the segments) and places each segment in time:
one-way latency, server think time, the client's delayed ACK. Every method takes the time the action
starts and returns when it is over, so callers chain steps.
"""

from __future__ import annotations

from zonewarden.simulate import frames as f
from zonewarden.simulate.link import NO_TAG, Net, Node

MSS = 1460
DELAYED_ACK_US = {"windows": 200_000, "linux": 40_000, "embedded": 100_000}
_WINDOW = {"windows": 64240, "linux": 64240, "embedded": 8192}


class TcpConn:
    def __init__(self, net: Net, client: Node, server: Node, dport: int, *, sport: int | None = None,
                 server_ip: str | None = None, tag: int = NO_TAG) -> None:
        self.net, self.client, self.server = net, client, server
        self.server_ip = server_ip or server.ip
        self.client_ip = client.ip if client.external else net.iface_for(client, self.server_ip)[0]
        self.sport = sport if sport is not None else client.ephemeral_port()
        self.dport = dport
        self.tag = tag
        self._seq = {True: client.rng.getrandbits(32), False: server.rng.getrandbits(32)}
        same = not client.external and net.network_of(self.server_ip) == net.network_of(self.client_ip)
        # One-way latency: a switch hop inside a VLAN, router and firewall hops between them.
        self.latency = client.rng.randrange(60, 200) if same else client.rng.randrange(250, 900)
        self.open_ = False

    def _seg(self, ts: int, from_client: bool, flags: str, payload: bytes = b"", options: bytes = b"",
             ack_to: int | None = None) -> int:
        node = self.client if from_client else self.server
        src, dst = (self.client_ip, self.server_ip) if from_client else (self.server_ip, self.client_ip)
        sp, dp = (self.sport, self.dport) if from_client else (self.dport, self.sport)
        seq = self._seq[from_client]
        ack = (self._seq[not from_client] if ack_to is None else ack_to) if "A" in flags else 0
        segment = f.tcp(src, dst, sp, dp, seq, ack, flags, payload, _WINDOW[node.dev.os], options)
        self._seq[from_client] = (seq + len(payload) + ("S" in flags) + ("F" in flags)) & 0xFFFFFFFF
        return self.net.send_ip(ts, node, dst, f.IPPROTO_TCP, segment, self.tag, src_ip=src)

    def open(self, ts: int) -> int:
        """Three-way handshake with MSS options; returns when the client's ACK is out."""
        ts = self._seg(ts, True, "S", options=f.tcp_mss_option(MSS))
        ts = self._seg(ts + self.latency, False, "SA", options=f.tcp_mss_option(MSS))
        self.open_ = True
        return self._seg(ts + self.latency, True, "A")

    def send(self, ts: int, from_client: bool, data: bytes) -> int:
        """Data split at the MSS, PSH on the last segment; back-to-back segments 12 µs apart (1 Gbit/s). In a
        bulk transfer the receiver acknowledges every second full segment (RFC 1122), one latency later."""
        for n, i in enumerate(range(0, len(data), MSS)):
            chunk = data[i : i + MSS]
            last = i + MSS >= len(data)
            sent = self._seg(ts, from_client, "PA" if last else "A", chunk)
            if n % 2 and not last:
                self._seg(sent + self.latency, not from_client, "A", ack_to=self._seq[from_client])
            ts = sent + 12
        return ts

    def ack(self, ts: int, from_client: bool) -> int:
        return self._seg(ts, from_client, "A")

    def exchange(self, ts: int, request: bytes, reply: bytes, think_us: int, *, next_us: int | None = None,
                 from_client: bool = True) -> int:
        """Request, the reply after ``think_us``, then the requester's delayed ACK unless its next request
        (at ``next_us``) comes first and carries the ACK."""
        asker = self.client if from_client else self.server
        ts = self.send(ts, from_client, request)
        if reply:
            ts = self.send(ts + self.latency + think_us, not from_client, reply)
            ack_at = ts + self.latency + DELAYED_ACK_US[asker.dev.os]
            if next_us is None or next_us > ack_at:
                return self.ack(ack_at, from_client)
            return ts
        return self.ack(ts + self.latency + min(think_us, 40_000), not from_client)

    def push(self, ts: int, from_client: bool, data: bytes, *, ack: bool = True) -> int:
        """One-way data (an unsolicited report), acknowledged by the peer's delayed ACK."""
        ts = self.send(ts, from_client, data)
        if ack:
            peer = self.server if from_client else self.client
            return self.ack(ts + self.latency + DELAYED_ACK_US[peer.dev.os], not from_client)
        return ts

    def close(self, ts: int, from_client: bool = True) -> int:
        ts = self._seg(ts, from_client, "FA")
        ts = self._seg(ts + self.latency + 50, not from_client, "FA")
        self.open_ = False
        return self._seg(ts + self.latency, from_client, "A")

    def reset(self, ts: int, from_client: bool = True) -> int:
        self.open_ = False
        return self._seg(ts, from_client, "RA")


def udp_send(net: Net, ts: int, src: Node, dst_ip: str, sport: int, dport: int, payload: bytes,
             tag: int = NO_TAG, *, src_ip: str | None = None) -> int:
    if src_ip is None:
        src_ip = src.ip if src.external else net.iface_for(src, dst_ip)[0]
    return net.send_ip(ts, src, dst_ip, f.IPPROTO_UDP, f.udp(src_ip, dst_ip, sport, dport, payload), tag,
                       src_ip=src_ip, df=False)

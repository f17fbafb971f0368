"""IT protocols with simple wire formats: DNS (RFC 1035), DHCP (RFC 2131/2132), NTP (RFC 5905), HTTP/1.1,
syslog (RFC 3164), and the cleartext Telnet and FTP sessions attackers love.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence

DNS_A, DNS_AAAA = 1, 28
DHCP_DISCOVER, DHCP_OFFER, DHCP_REQUEST, DHCP_ACK = 1, 2, 3, 5
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 to 1970


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\x00"


def dns_query(qid: int, name: str, qtype: int = DNS_A) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", qtype, 1)


def dns_response(qid: int, name: str, qtype: int, addresses: Sequence[str], ttl: int = 1200,
                 rcode: int = 0) -> bytes:
    """Answer with A records (compression pointer 0xc00c to the question); AAAA or NXDOMAIN: no answers."""
    answers = b""
    count = 0
    if qtype == DNS_A and rcode == 0:
        for address in addresses:
            answers += struct.pack("!HHHIH", 0xC00C, DNS_A, 1, ttl, 4) + ipaddress.IPv4Address(address).packed
            count += 1
    flags = 0x8180 | rcode  # response, recursion desired and available
    question = dns_name(name) + struct.pack("!HH", qtype, 1)
    return struct.pack("!HHHHHH", qid, flags, 1, count, 0, 0) + question + answers


def ntp_timestamp(epoch_us: int) -> bytes:
    seconds, micro = divmod(epoch_us, 1_000_000)
    return struct.pack("!II", seconds + NTP_EPOCH_OFFSET, (micro << 32) // 1_000_000)


def ntp_request(epoch_us: int) -> bytes:
    # LI 0, version 4, mode 3 (client); only the transmit timestamp is set, as SNTP/w32time do.
    return struct.pack("!BBbbII4s", 0x23, 0, 6, -20, 0, 0, b"\x00" * 4) + bytes(24) + ntp_timestamp(epoch_us)


def ntp_response(request_tx: bytes, received_us: int, sent_us: int, stratum: int = 3,
                 reference: str = "10.10.120.10") -> bytes:
    ref_id = ipaddress.IPv4Address(reference).packed
    head = struct.pack("!BBbbII4s", 0x24, stratum, 6, -23, 0x0000_0A00, 0x0000_1200, ref_id)
    return head + ntp_timestamp(received_us - 64_000_000) + request_tx + ntp_timestamp(received_us) + ntp_timestamp(
        sent_us)


def dhcp(op: int, xid: int, mac: str, message_type: int, *, ciaddr: str = "0.0.0.0", yiaddr: str = "0.0.0.0",
         siaddr: str = "0.0.0.0", options: Sequence[tuple[int, bytes]] = ()) -> bytes:
    chaddr = bytes(int(x, 16) for x in mac.split(":")) + bytes(10)
    header = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, 1, 6, 0, xid, 0, 0x8000 if op == 1 else 0,
                         ipaddress.IPv4Address(ciaddr).packed, ipaddress.IPv4Address(yiaddr).packed,
                         ipaddress.IPv4Address(siaddr).packed, bytes(4), chaddr, bytes(64), bytes(128))
    opts = bytes([53, 1, message_type]) + b"".join(bytes([code, len(v)]) + v for code, v in options) + b"\xff"
    return header + b"\x63\x82\x53\x63" + opts


def http_request(method: str, host: str, uri: str, user_agent: str, body: bytes = b"",
                 extra: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"{method} {uri} HTTP/1.1", f"Host: {host}", f"User-Agent: {user_agent}", "Accept: */*"]
    lines += [f"{k}: {v}" for k, v in extra]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_response(status: int, reason: str, body: bytes, content_type: str = "text/html", server: str = "",
                  extra: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    if server:
        lines.append(f"Server: {server}")
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def syslog(priority: int, timestamp: str, host: str, tag: str, message: str) -> bytes:
    return f"<{priority}>{timestamp} {host} {tag}: {message}".encode()


# Telnet option negotiation (RFC 854/857/858/1091): IAC DO/WILL ECHO, SUPPRESS-GO-AHEAD, TERMINAL-TYPE.
IAC, DO, WILL, WONT = 255, 253, 251, 252
TELNET_SERVER_HELLO = bytes([IAC, WILL, 1, IAC, WILL, 3, IAC, DO, 24])
TELNET_CLIENT_HELLO = bytes([IAC, DO, 1, IAC, DO, 3, IAC, WONT, 24])


def ftp_pasv_reply(ip: str, port: int) -> bytes:
    h = ip.replace(".", ",")
    return f"227 Entering Passive Mode ({h},{port >> 8},{port & 0xFF}).\r\n".encode()

"""The Windows estate's protocols, far enough for a sensor to see who authenticates where: SMB2 with NTLMSSP
([MS-SMB2], [MS-NLMP]), RDP connection negotiation ([MS-RDPBCGR] 2.2.1), LDAP (RFC 4511, BER) and Kerberos
(RFC 4120, DER). Cryptographic fields are random bytes of the right size: plausible headers, no secrets.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

# --- ASN.1 DER/BER ---


def der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def seq(*items: bytes) -> bytes:
    return der(0x30, b"".join(items))


def ctx(n: int, content: bytes) -> bytes:
    """Explicit context tag [n] (constructed)."""
    return der(0xA0 | n, content)


def app(n: int, content: bytes) -> bytes:
    return der(0x60 | n, content)


def integer(value: int) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return der(0x02, value.to_bytes(size, "big", signed=True))


def octets(value: bytes) -> bytes:
    return der(0x04, value)


def enumerated(value: int) -> bytes:
    return der(0x0A, bytes([value]))


def general_string(value: str) -> bytes:
    return der(0x1B, value.encode())


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return der(0x06, body)


# --- Kerberos (over TCP: a 4-byte record mark precedes each message) ---

KRB_AS_REQ, KRB_AS_REP, KRB_TGS_REQ, KRB_TGS_REP, KRB_AP_REQ, KRB_ERROR = 10, 11, 12, 13, 14, 30
KDC_ERR_PREAUTH_REQUIRED = 25
AES256, AES128, RC4 = 18, 17, 23


def krb_tcp(message: bytes) -> bytes:
    return struct.pack("!I", len(message)) + message


def principal(name_type: int, *names: str) -> bytes:
    return seq(ctx(0, integer(name_type)), ctx(1, seq(*(general_string(n) for n in names))))


def krb_time(epoch_s: int) -> bytes:
    import time

    return der(0x18, time.strftime("%Y%m%d%H%M%SZ", time.gmtime(epoch_s)).encode())


def encrypted(rng: random.Random, etype: int, size: int, kvno: int | None = None) -> bytes:
    parts = [ctx(0, integer(etype))]
    if kvno is not None:
        parts.append(ctx(1, integer(kvno)))
    parts.append(ctx(2, octets(rng.randbytes(size))))
    return seq(*parts)


def _padata(kind: int, value: bytes) -> bytes:
    return seq(ctx(1, integer(kind)), ctx(2, octets(value)))


def ticket(rng: random.Random, realm: str, service: Sequence[str]) -> bytes:
    return app(1, seq(ctx(0, integer(5)), ctx(1, general_string(realm)), ctx(2, principal(2, *service)),
                      ctx(3, encrypted(rng, AES256, rng.randrange(900, 1100), 2))))


def kdc_req(rng: random.Random, msg_type: int, user: str, realm: str, service: Sequence[str], now_s: int,
            padata: Sequence[bytes]) -> bytes:
    # kdc-options: forwardable, renewable, canonicalize, renewable-ok (0x40810010).
    body = seq(ctx(0, der(0x03, b"\x00\x40\x81\x00\x10")),
               *([ctx(1, principal(1, user))] if msg_type == KRB_AS_REQ else []),
               ctx(2, general_string(realm)), ctx(3, principal(2, *service)),
               ctx(5, krb_time(now_s + 36000)), ctx(6, krb_time(now_s + 7 * 86400)),
               ctx(7, integer(rng.getrandbits(31))), ctx(8, seq(integer(AES256), integer(AES128), integer(RC4))))
    parts = [ctx(1, integer(5)), ctx(2, integer(msg_type))]
    if padata:
        parts.append(ctx(3, seq(*padata)))
    parts.append(ctx(4, body))
    return app(msg_type, seq(*parts))


def as_req(rng: random.Random, user: str, realm: str, now_s: int, *, preauth: bool) -> bytes:
    padata = [_padata(128, seq(ctx(0, der(0x01, b"\xff"))))]  # PA-PAC-REQUEST include-pac
    if preauth:
        padata.insert(0, _padata(2, encrypted(rng, AES256, 56)))  # PA-ENC-TIMESTAMP
    return kdc_req(rng, KRB_AS_REQ, user, realm, ("krbtgt", realm), now_s, padata)


def krb_error_preauth(user: str, realm: str, now_s: int) -> bytes:
    etype_info = seq(seq(ctx(0, integer(AES256)), ctx(1, general_string(f"{realm}{user}"))))
    methods = seq(_padata(2, b""), _padata(19, etype_info))
    return app(KRB_ERROR, seq(ctx(0, integer(5)), ctx(1, integer(KRB_ERROR)), ctx(4, krb_time(now_s)),
                              ctx(5, integer(123456)), ctx(6, integer(KDC_ERR_PREAUTH_REQUIRED)),
                              ctx(9, general_string(realm)), ctx(10, principal(2, "krbtgt", realm)),
                              ctx(12, octets(methods))))


def kdc_rep(rng: random.Random, msg_type: int, user: str, realm: str, service: Sequence[str]) -> bytes:
    return app(msg_type, seq(ctx(0, integer(5)), ctx(1, integer(msg_type)), ctx(3, general_string(realm)),
                             ctx(4, principal(1, user)), ctx(5, ticket(rng, realm, service)),
                             ctx(6, encrypted(rng, AES256, rng.randrange(300, 360), 3))))


def tgs_req(rng: random.Random, user: str, realm: str, service: Sequence[str], now_s: int) -> bytes:
    ap_req = app(KRB_AP_REQ, seq(ctx(0, integer(5)), ctx(1, integer(KRB_AP_REQ)), ctx(2, der(0x03, bytes(5))),
                                 ctx(3, ticket(rng, realm, ("krbtgt", realm))),
                                 ctx(4, encrypted(rng, AES256, rng.randrange(180, 220)))))
    return kdc_req(rng, KRB_TGS_REQ, user, realm, service, now_s, [_padata(1, ap_req)])


# --- LDAP ---


def ldap(message_id: int, op: bytes) -> bytes:
    return seq(integer(message_id), op)


def ldap_search(message_id: int, base: str, scope: int, present: str, attributes: Sequence[str]) -> bytes:
    op = app(3, octets(base.encode()) + enumerated(scope) + enumerated(0) + integer(0) + integer(0)
             + der(0x01, b"\x00") + der(0x87, present.encode()) + seq(*(octets(a.encode()) for a in attributes)))
    return ldap(message_id, op)


def ldap_entry(message_id: int, dn: str, attributes: Sequence[tuple[str, Sequence[str]]]) -> bytes:
    attrs = seq(*(seq(octets(name.encode()), der(0x31, b"".join(octets(v.encode()) for v in values)))
                  for name, values in attributes))
    return ldap(message_id, app(4, octets(dn.encode()) + attrs))


def ldap_result(message_id: int, op: int, code: int = 0) -> bytes:
    return ldap(message_id, app(op, enumerated(code) + octets(b"") + octets(b"")))


def ldap_simple_bind(message_id: int, dn: str, password: str) -> bytes:
    return ldap(message_id, app(0, integer(3) + octets(dn.encode()) + der(0x80, password.encode())))


def ldap_unbind(message_id: int) -> bytes:
    return ldap(message_id, b"\x42\x00")


# --- NTLMSSP ---

NTLM_FLAGS = 0xE2888235  # 56/128-bit, key exchange, version, target info, extended session security, NTLM, unicode


def _utf16(value: str) -> bytes:
    return value.encode("utf-16-le")


def _version() -> bytes:
    return struct.pack("<BBHBBBB", 10, 0, 19041, 0, 0, 0, 15)


def ntlm_negotiate() -> bytes:
    return b"NTLMSSP\x00" + struct.pack("<II", 1, 0xE2088297) + bytes(16) + _version()


def _av_pairs(domain: str, host: str, dns_domain: str, filetime: int) -> bytes:
    pairs = [(2, _utf16(domain)), (1, _utf16(host.upper())), (4, _utf16(dns_domain)),
             (3, _utf16(f"{host}.{dns_domain}")), (5, _utf16(dns_domain)), (7, struct.pack("<Q", filetime))]
    return b"".join(struct.pack("<HH", k, len(v)) + v for k, v in pairs) + b"\x00\x00\x00\x00"


def ntlm_challenge(rng: random.Random, domain: str, host: str, dns_domain: str, filetime: int) -> bytes:
    target = _utf16(domain)
    info = _av_pairs(domain, host, dns_domain, filetime)
    offset = 56
    head = (b"NTLMSSP\x00" + struct.pack("<IHHI", 2, len(target), len(target), offset) + struct.pack("<I", NTLM_FLAGS)
            + rng.randbytes(8) + bytes(8) + struct.pack("<HHI", len(info), len(info), offset + len(target))
            + _version())
    return head + target + info


def ntlm_authenticate(rng: random.Random, domain: str, user: str, workstation: str, server_info: bytes,
                      filetime: int) -> bytes:
    blob = struct.pack("<BBHIQ", 1, 1, 0, 0, filetime) + rng.randbytes(8) + bytes(4) + server_info + bytes(4)
    nt = rng.randbytes(16) + blob
    lm = bytes(24)
    fields = [lm, nt, _utf16(domain), _utf16(user), _utf16(workstation.upper()), rng.randbytes(16)]
    offset = 88
    descriptors = b""
    for value in fields:
        descriptors += struct.pack("<HHI", len(value), len(value), offset)
        offset += len(value)
    return (b"NTLMSSP\x00" + struct.pack("<I", 3) + descriptors + struct.pack("<I", NTLM_FLAGS) + _version()
            + rng.randbytes(16) + b"".join(fields))


# --- SMB2 over NetBIOS session service (TCP 445) ---

NEGOTIATE, SESSION_SETUP, LOGOFF, TREE_CONNECT, CREATE, CLOSE, READ, WRITE = 0, 1, 2, 3, 5, 6, 8, 9
STATUS_SUCCESS, STATUS_MORE_PROCESSING = 0x00000000, 0xC0000016


def smb2(command: int, message_id: int, body: bytes, *, response: bool = False, status: int = 0,
         session: int = 0, tree: int = 0, credits: int = 1) -> bytes:
    header = struct.pack("<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 1, status if response else 0, command, credits,
                         1 if response else 0, 0, message_id, 0xFEFF, tree, session, bytes(16))
    message = header + body
    return struct.pack("!I", len(message)) + message  # NetBIOS session message: type 0, 24-bit length


def negotiate_request(rng: random.Random) -> bytes:
    dialects = (0x0202, 0x0210, 0x0300, 0x0302)
    return struct.pack("<HHHHI16sQ", 36, len(dialects), 1, 0, 0x7F, rng.randbytes(16), 0) + struct.pack(
        f"<{len(dialects)}H", *dialects)


def negotiate_response(rng: random.Random, filetime: int) -> bytes:
    blob = app(0, oid("1.3.6.1.5.5.2") + ctx(0, seq(ctx(0, seq(oid("1.2.840.48018.1.2.2"), oid("1.2.840.113554.1.2.2"),
                                                                  oid("1.3.6.1.4.1.311.2.2.10"))))))
    return struct.pack("<HHHH16sIIIIQQHHI", 65, 1, 0x0302, 0, rng.randbytes(16), 0x2F, 8388608, 8388608, 8388608,
                       filetime, 0, 128, len(blob), 0) + blob


def session_setup_request(token: bytes) -> bytes:
    return struct.pack("<HBBIIHHQ", 25, 0, 1, 1, 0, 88, len(token), 0) + token


def session_setup_response(token: bytes) -> bytes:
    return struct.pack("<HHHH", 9, 0, 72, len(token)) + token


def tree_connect_request(path: str) -> bytes:
    raw = _utf16(path)
    return struct.pack("<HHHH", 9, 0, 72, len(raw)) + raw


def tree_connect_response() -> bytes:
    return struct.pack("<HBBIII", 16, 1, 0, 0x00000800, 0, 0x001F01FF)


def create_request(name: str, *, write: bool = False) -> bytes:
    raw = _utf16(name)
    access = 0x00130197 if write else 0x00120089
    disposition = 5 if write else 1  # overwrite-if / open
    return struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, access, 0x80, 7, disposition, 0x40, 120, len(raw),
                       0, 0) + raw


def create_response(file_id: bytes, filetime: int, size: int) -> bytes:
    return struct.pack("<HBBIQQQQQQII16sII", 89, 0, 0, 1, filetime, filetime, filetime, filetime,
                       (size + 4095) // 4096 * 4096, size, 0x20, 0, file_id, 0, 0) + b"\x00"


def read_request(file_id: bytes, length: int, offset: int = 0) -> bytes:
    return struct.pack("<HBBIQ16sIIIHH", 49, 0x50, 0, length, offset, file_id, 1, 0, 0, 0, 0) + b"\x00"


def read_response(data: bytes) -> bytes:
    return struct.pack("<HBBIII", 17, 0x50, 0, len(data), 0, 0) + data


def write_request(file_id: bytes, data: bytes, offset: int = 0) -> bytes:
    return struct.pack("<HHIQ16sIIHHI", 49, 0x70, len(data), offset, file_id, 0, 0, 0, 0, 0) + data


def write_response(count: int) -> bytes:
    return struct.pack("<HHIIHH", 17, 0, count, 0, 0, 0)


def close_request(file_id: bytes) -> bytes:
    return struct.pack("<HHI16s", 24, 0, 0, file_id)


def close_response() -> bytes:
    return struct.pack("<HHI", 60, 0, 0) + bytes(48) + struct.pack("<I", 0)


# --- RDP connection negotiation (X.224 in TPKT) ---

PROTOCOL_SSL, PROTOCOL_HYBRID, PROTOCOL_HYBRID_EX = 0x1, 0x2, 0x8


def rdp_connection_request(user: str) -> bytes:
    cookie = f"Cookie: mstshash={user}\r\n".encode()
    neg = struct.pack("<BBHI", 1, 0, 8, PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX)
    x224 = bytes([6 + len(cookie) + len(neg), 0xE0, 0, 0, 0, 0, 0]) + cookie + neg
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def rdp_connection_confirm() -> bytes:
    neg = struct.pack("<BBHI", 2, 0x1F, 8, PROTOCOL_HYBRID)
    x224 = bytes([6 + len(neg), 0xD0, 0, 0, 0x12, 0x34, 0]) + neg
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224

"""Encrypted sessions as a passive sensor sees them: the TLS 1.3 handshake in clear (RFC 8446) followed by
opaque application data, and SSH (RFC 4253) banners, KEXINIT and ECDH key exchange before encryption.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

TLS13_AES_128_GCM, TLS13_AES_256_GCM, TLS13_CHACHA20 = 0x1301, 0x1302, 0x1303
X25519, SECP256R1, SECP384R1 = 0x001D, 0x0017, 0x0018
_CLIENT_SUITES = (0x1302, 0x1301, 0x1303, 0xC02C, 0xC02B, 0xC030, 0xC02F, 0xC024, 0xC023, 0xC028, 0xC027)
_SIG_ALGS = (0x0804, 0x0805, 0x0806, 0x0403, 0x0503, 0x0603, 0x0401, 0x0501, 0x0601)


def _u16list(values: Sequence[int]) -> bytes:
    return struct.pack(f"!H{len(values)}H", 2 * len(values), *values)


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def client_hello(rng: random.Random, sni: str | None, alpn: Sequence[str] = ("h2", "http/1.1")) -> bytes:
    session_id = rng.randbytes(32)
    exts = b""
    if sni:
        name = sni.encode()
        exts += _ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
    exts += _ext(23, b"") + _ext(0xFF01, b"\x00")
    exts += _ext(10, _u16list((X25519, SECP256R1, SECP384R1))) + _ext(11, b"\x01\x00")
    if alpn:
        protos = b"".join(bytes([len(p)]) + p.encode() for p in alpn)
        exts += _ext(16, struct.pack("!H", len(protos)) + protos)
    exts += _ext(13, _u16list(_SIG_ALGS))
    key = rng.randbytes(32)
    exts += _ext(51, struct.pack("!HHH", 36, X25519, 32) + key)
    exts += _ext(45, b"\x01\x01") + _ext(43, b"\x04\x03\x04\x03\x03")
    body = (struct.pack("!H", 0x0303) + rng.randbytes(32) + bytes([32]) + session_id + _u16list(_CLIENT_SUITES)
            + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    return record(22, _handshake(1, body), 0x0301)


def server_hello(rng: random.Random, client_hello_record: bytes, suite: int = TLS13_AES_256_GCM) -> bytes:
    """ServerHello echoing the client's session id, then ChangeCipherSpec (middlebox compatibility) and the
    encrypted rest of the handshake (EncryptedExtensions, Certificate, CertificateVerify, Finished)."""
    session_id = client_hello_record[44:76]  # record 5 + handshake 4 + version 2 + random 32 + length 1
    exts = _ext(43, b"\x03\x04") + _ext(51, struct.pack("!HH", X25519, 32) + rng.randbytes(32))
    body = (struct.pack("!H", 0x0303) + rng.randbytes(32) + bytes([32]) + session_id + struct.pack("!HB", suite, 0)
            + struct.pack("!H", len(exts)) + exts)
    encrypted_handshake = record(23, rng.randbytes(rng.randrange(1800, 3200)))
    return record(22, _handshake(2, body)) + record(20, b"\x01") + encrypted_handshake


def client_finished(rng: random.Random) -> bytes:
    return record(20, b"\x01") + record(23, rng.randbytes(53))


def app_data(rng: random.Random, size: int) -> bytes:
    """``size`` bytes of plaintext as TLS 1.3 records (16 KiB each, plus type byte and 16-byte tag)."""
    out = b""
    while size > 0:
        n = min(size, 16384)
        out += record(23, rng.randbytes(n + 17))
        size -= n
    return out


def close_notify(rng: random.Random) -> bytes:
    return record(23, rng.randbytes(19))  # an encrypted alert looks like any other record


# --- SSH ---

SSH_KEX = ("curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256")
SSH_HOSTKEY = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")
SSH_CIPHERS = ("chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-gcm@openssh.com")
SSH_MACS = ("umac-64-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-256")


def _ssh_string(value: bytes) -> bytes:
    return struct.pack("!I", len(value)) + value


def _namelist(names: Sequence[str]) -> bytes:
    return _ssh_string(",".join(names).encode())


def ssh_packet(rng: random.Random, payload: bytes) -> bytes:
    """Binary packet before encryption: length, padding length, payload, 4+ random padding bytes to 8."""
    padding = 8 - (5 + len(payload)) % 8
    if padding < 4:
        padding += 8
    return struct.pack("!IB", 1 + len(payload) + padding, padding) + payload + rng.randbytes(padding)


def kexinit(rng: random.Random) -> bytes:
    payload = (bytes([20]) + rng.randbytes(16) + _namelist(SSH_KEX) + _namelist(SSH_HOSTKEY)
               + _namelist(SSH_CIPHERS) * 2 + _namelist(SSH_MACS) * 2 + _namelist(("none", "zlib@openssh.com")) * 2
               + _namelist(()) * 2 + b"\x00" + bytes(4))
    return ssh_packet(rng, payload)


def ecdh_init(rng: random.Random) -> bytes:
    return ssh_packet(rng, bytes([30]) + _ssh_string(rng.randbytes(32)))


def ecdh_reply(rng: random.Random) -> bytes:
    """K_S an RSA host key (e = 65537, 2048-bit n), Q_S, and an rsa-sha2-512 signature."""
    modulus = b"\x00" + bytes([0x80 | rng.getrandbits(7)]) + rng.randbytes(255)
    host_key = _ssh_string(b"ssh-rsa") + _ssh_string(b"\x01\x00\x01") + _ssh_string(modulus)
    signature = _ssh_string(b"rsa-sha2-512") + _ssh_string(rng.randbytes(256))
    return ssh_packet(rng, bytes([31]) + _ssh_string(host_key) + _ssh_string(rng.randbytes(32))
                      + _ssh_string(signature))


def newkeys(rng: random.Random) -> bytes:
    return ssh_packet(rng, bytes([21]))


def ssh_encrypted(rng: random.Random, size: int) -> bytes:
    """chacha20-poly1305: 4-byte encrypted length, the encrypted packet, a 16-byte tag."""
    body = 8 * ((size + 5 + 4 + 7) // 8)
    return rng.randbytes(4 + body + 16)

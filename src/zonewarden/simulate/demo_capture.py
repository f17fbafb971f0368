"""A small, deterministic converged-plant capture for the demo and end-to-end tests.

One minute of a flat 10.10.0.0/16 plant network seen from a SPAN port: an HMI polls three Modbus/TCP PLCs
every second (with one operator write), an engineering workstation talks S7comm to the Siemens PLC, plus
the IT noise a sensor must cope with (ARP, DNS, a VLAN-tagged syslog flow, IPv6, IP fragments, ping).
Everything is built with ``zonewarden.simulate.frames`` only, so the demo never depends on the decoders
it is meant to exercise. Run: ``python -m zonewarden.simulate.demo_capture OUT.pcap [--seed N]``.
"""

from __future__ import annotations

import argparse
import math
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import write_pcap

START = datetime(2026, 1, 5, 6, 0, 0, tzinfo=UTC)
START_NS = int(START.timestamp()) * 1_000_000_000
DURATION_S = 60
MODBUS_PORT = 502
S7_PORT = 102


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    ip: str
    mac: str


# Vendor OUIs are real so asset inventory has something true to find: Dell for the PCs, Siemens 00:1b:1b,
# Rockwell 00:00:bc, Schneider 00:80:f4, Hirschmann 00:80:63 for the managed switch.
HMI = Host("hmi", "10.10.2.10", "00:14:22:6a:02:0a")
PLC_SIEMENS = Host("plc-tank", "10.10.1.11", "00:1b:1b:4e:81:0b")
PLC_ROCKWELL = Host("plc-pump", "10.10.1.12", "00:00:bc:5d:22:0c")
PLC_SCHNEIDER = Host("plc-boiler", "10.10.1.13", "00:80:f4:0c:31:0d")
EWS = Host("ews", "10.10.3.20", "b8:ca:3a:77:03:14")
SERVER = Host("historian", "10.10.3.5", "f8:bc:12:3c:03:05")
SWITCH = Host("switch-mgmt", "10.10.10.2", "00:80:63:a1:0a:02")
SYSLOG = Host("syslog", "10.10.10.5", "f8:bc:12:3c:0a:05")
EWS6 = "fd00:10:3::20"
SERVER6 = "fd00:10:3::5"
MGMT_VLAN = 10


class Capture:
    """Frames with their timestamps; order of insertion does not matter, ``sorted()`` puts them in time."""

    def __init__(self) -> None:
        self._frames: list[tuple[int, bytes]] = []

    def add(self, t_s: float, frame: bytes) -> None:
        # Quantise to microseconds: the demo is written as classic µs pcap, and equal inputs must give
        # byte-identical files on every platform.
        self._frames.append((START_NS + round(t_s * 1_000_000) * 1000, frame))

    def ip(self, t_s: float, src: Host, dst: Host, packet: bytes, *, pad: bool = False) -> None:
        ethertype = f.ETH_P_IP if packet[0] >> 4 == 4 else f.ETH_P_IPV6
        self.add(t_s, f.ethernet(dst.mac, src.mac, ethertype, packet, pad=pad))

    def sorted(self) -> list[tuple[int, bytes]]:
        return sorted(self._frames, key=lambda tf: tf[0])


# --- application payloads (plausible, spec-shaped bytes) ---


def modbus_adu(tid: int, unit: int, pdu: bytes) -> bytes:
    """MBAP header (transaction, protocol 0, length counting unit id + PDU) and the PDU."""
    return struct.pack("!HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def modbus_read_holding(tid: int, start: int, count: int) -> bytes:
    return modbus_adu(tid, 1, struct.pack("!BHH", 3, start, count))


def modbus_read_holding_reply(tid: int, values: Sequence[int]) -> bytes:
    return modbus_adu(tid, 1, struct.pack(f"!BB{len(values)}H", 3, 2 * len(values), *values))


def modbus_write_single(tid: int, address: int, value: int) -> bytes:
    # The reply to function 6 echoes the request, so one builder serves both directions.
    return modbus_adu(tid, 1, struct.pack("!BHH", 6, address, value))


def tpkt(payload: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(payload)) + payload


def cotp_connect(confirm: bool) -> bytes:
    # CR/CC with TPDU size 1024 and the TSAPs TIA Portal uses for rack 0 slot 2.
    params = bytes([0xC0, 1, 0x0A, 0xC1, 2, 0x01, 0x00, 0xC2, 2, 0x01, 0x02])
    pdu = bytes([0xD0 if confirm else 0xE0]) + struct.pack("!HHB", 0x0001 if confirm else 0, 0x0001, 0) + params
    return tpkt(bytes([len(pdu)]) + pdu)


def s7_pdu(rosctr: int, ref: int, params: bytes, data: bytes = b"") -> bytes:
    header = struct.pack("!BBHHHH", 0x32, rosctr, 0, ref, len(params), len(data))
    if rosctr == 3:  # ack-data carries error class and code
        header += b"\x00\x00"
    return tpkt(b"\x02\xf0\x80" + header + params + data)  # COTP DT, last unit


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def dns_query(qid: int, name: str) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", 1, 1)


def dns_answer(qid: int, name: str, address: str) -> bytes:
    question = dns_name(name) + struct.pack("!HH", 1, 1)
    # 0xc00c: compression pointer back to the question name at offset 12.
    answer = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 300, 4, bytes(int(o) for o in address.split(".")))
    return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer


# --- plant behaviour ---


def tank_registers(t: int, rng: random.Random) -> list[int]:
    """Tank farm: level (0.1 %) rises while the inlet is open and falls while the pump drains it."""
    phase = t % 40
    filling = phase < 20
    level = 400 + (phase * 20 if filling else (40 - phase) * 20) + rng.randint(-3, 3)
    return [level, 100 if filling else 0, 0 if filling else 1, 215 + rng.randint(-2, 2), 1, 0, 0, 0, 0, t]


def pump_registers(t: int, setpoint: int, rng: random.Random) -> list[int]:
    """Pump station: flow follows the speed setpoint (register 5) with noise."""
    flow = setpoint * 12 // 10 + rng.randint(-5, 5)
    return [flow, 42 + rng.randint(-1, 1), 1, 0, 3, setpoint, 0, 0, 1500, t]


def boiler_registers(t: int, rng: random.Random) -> list[int]:
    temp = 850 + round(15 * math.sin(t / 9)) + rng.randint(-1, 1)
    return [temp, 612 + rng.randint(-4, 4), 1, 1, 0, 0, 900, 0, 0, t]


# --- traffic ---


def _arp_exchange(cap: Capture, t: float, asker: Host, target: Host) -> None:
    cap.add(
        t,
        f.ethernet(
            f.BROADCAST_MAC,
            asker.mac,
            f.ETH_P_ARP,
            f.arp(f.ARP_REQUEST, asker.mac, asker.ip, f.ZERO_MAC, target.ip),
        ),
    )
    # Frames from the far side are padded to the 60-byte Ethernet minimum and the asker's are not, so the
    # capture holds both shapes and decoders must trust the ARP/IP length, never the frame length.
    cap.add(
        t + 0.0004,
        f.ethernet(
            asker.mac,
            target.mac,
            f.ETH_P_ARP,
            f.arp(f.ARP_REPLY, target.mac, target.ip, asker.mac, asker.ip),
            pad=True,
        ),
    )


def _tcp_open(cap: Capture, t: float, conv: f.TcpConversation, client: Host, server: Host) -> None:
    syn, synack, ack = conv.handshake()
    cap.ip(t, client, server, syn)
    cap.ip(t + 0.0005, server, client, synack, pad=True)
    cap.ip(t + 0.0006, client, server, ack)


def _tcp_close(cap: Capture, t: float, conv: f.TcpConversation, client: Host, server: Host) -> None:
    fin, fin_back, last = conv.close()
    cap.ip(t, client, server, fin)
    cap.ip(t + 0.0007, server, client, fin_back, pad=True)
    cap.ip(t + 0.0008, client, server, last)


def _exchange(
    cap: Capture,
    t: float,
    conv: f.TcpConversation,
    client: Host,
    server: Host,
    request: bytes,
    reply: bytes,
    delay: float,
) -> None:
    for pkt in conv.send(True, request):
        cap.ip(t, client, server, pkt)
    for pkt in conv.send(False, reply):
        cap.ip(t + delay, server, client, pkt, pad=True)
    # Windows delayed ACK: the HMI acknowledges the reply ~200 ms later, well before the next poll.
    cap.ip(t + delay + 0.2, client, server, conv.ack(True))


def _modbus_polling(cap: Capture, rng: random.Random) -> None:
    plcs = (PLC_SIEMENS, PLC_ROCKWELL, PLC_SCHNEIDER)
    setpoint = 600
    for i, plc in enumerate(plcs):
        offset = 0.1 + 0.013 * i
        conv = f.TcpConversation(HMI.ip, plc.ip, 49800 + i, MODBUS_PORT, rng.getrandbits(32), rng.getrandbits(32))
        _tcp_open(cap, offset, conv, HMI, plc)
        tid = rng.randint(1, 1000)
        for second in range(DURATION_S):
            t = second + 0.2 + offset + rng.uniform(0, 0.02)
            if plc is PLC_SIEMENS:
                values = tank_registers(second, rng)
            elif plc is PLC_ROCKWELL:
                values = pump_registers(second, setpoint, rng)
            else:
                values = boiler_registers(second, rng)
            _exchange(
                cap,
                t,
                conv,
                HMI,
                plc,
                modbus_read_holding(tid, 0, len(values)),
                modbus_read_holding_reply(tid, values),
                rng.uniform(0.003, 0.009),
            )
            tid = (tid + 1) & 0xFFFF
            if plc is PLC_ROCKWELL and second == 30:
                # The operator raises the pump speed setpoint from the HMI faceplate.
                setpoint = 750
                write = modbus_write_single(tid, 5, setpoint)
                _exchange(cap, t + 0.35, conv, HMI, plc, write, write, rng.uniform(0.003, 0.009))
                tid = (tid + 1) & 0xFFFF
        _tcp_close(cap, DURATION_S + 0.5 + 0.01 * i, conv, HMI, plc)


def _s7_session(cap: Capture, rng: random.Random) -> None:
    t = 20.0
    _arp_exchange(cap, t - 0.01, EWS, PLC_SIEMENS)
    conv = f.TcpConversation(EWS.ip, PLC_SIEMENS.ip, 50112, S7_PORT, rng.getrandbits(32), rng.getrandbits(32))
    _tcp_open(cap, t, conv, EWS, PLC_SIEMENS)
    setup = bytes([0xF0, 0x00]) + struct.pack("!HHH", 1, 1, 480)
    read_db1 = bytes([0x04, 0x01, 0x12, 0x0A, 0x10, 0x02]) + struct.pack("!HH", 16, 1) + b"\x84\x00\x00\x00"
    db1 = bytes(rng.getrandbits(8) for _ in range(16))
    steps = [
        (cotp_connect(False), cotp_connect(True)),
        (s7_pdu(1, 0x0100, setup), s7_pdu(3, 0x0100, setup)),
        (
            s7_pdu(1, 0x0200, read_db1),
            s7_pdu(3, 0x0200, b"\x04\x01", b"\xff\x04" + struct.pack("!H", 128) + db1),
        ),
    ]
    for n, (request, reply) in enumerate(steps):
        _exchange(cap, t + 0.01 + 0.3 * n, conv, EWS, PLC_SIEMENS, request, reply, 0.004)
    _tcp_close(cap, t + 1.2, conv, EWS, PLC_SIEMENS)


def _it_traffic(cap: Capture, rng: random.Random) -> None:
    # The capture opens with the HMI resolving its neighbours (first frame at exactly START).
    for n, host in enumerate((SERVER, PLC_SIEMENS, PLC_ROCKWELL, PLC_SCHNEIDER)):
        _arp_exchange(cap, 0.02 * n, HMI, host)
    # DNS: the HMI re-resolves the historian whenever its cache entry expires.
    for n, t in enumerate((0.005, 20.005, 40.005)):
        qid = rng.getrandbits(16)
        sport = 52000 + n
        name = "historian.plant.local"
        cap.ip(
            t,
            HMI,
            SERVER,
            f.ipv4(
                HMI.ip,
                SERVER.ip,
                f.IPPROTO_UDP,
                f.udp(HMI.ip, SERVER.ip, sport, 53, dns_query(qid, name)),
                ident=100 + n,
            ),
        )
        cap.ip(
            t + 0.0011,
            SERVER,
            HMI,
            f.ipv4(
                SERVER.ip,
                HMI.ip,
                f.IPPROTO_UDP,
                f.udp(SERVER.ip, HMI.ip, 53, sport, dns_answer(qid, name, SERVER.ip)),
                ident=2000 + n,
            ),
        )
    # Management VLAN: the switch sends syslog to the collector, tagged 802.1Q VID 10 on the trunk.
    for n in range(6):
        msg = f"<189>Jan  5 06:00:{10 * n:02d} sw-core-1 link: port 7 utilisation {rng.randint(3, 9)}%"
        udp = f.udp(SWITCH.ip, SYSLOG.ip, 514, 514, msg.encode())
        cap.add(
            5.0 + 10 * n,
            f.ethernet(
                SYSLOG.mac,
                SWITCH.mac,
                f.ETH_P_IP,
                f.ipv4(SWITCH.ip, SYSLOG.ip, f.IPPROTO_UDP, udp, ident=n),
                vlans=[(f.ETH_P_8021Q, MGMT_VLAN)],
            ),
        )
    # IPv6: the workstation opens a short SSH session to the historian (banners only).
    conv = f.TcpConversation(EWS6, SERVER6, 51022, 22, rng.getrandbits(32), rng.getrandbits(32))
    _tcp_open(cap, 40.0, conv, EWS, SERVER)
    _exchange(cap, 40.01, conv, EWS, SERVER, b"SSH-2.0-OpenSSH_9.2\r\n", b"SSH-2.0-OpenSSH_8.9\r\n", 0.002)
    _tcp_close(cap, 40.5, conv, EWS, SERVER)
    # An IP-fragmented UDP export: 3208 bytes of UDP over a 1500-byte MTU gives exactly three fragments.
    export = bytes(rng.getrandbits(8) for _ in range(3200))
    for n, frag in enumerate(
        f.ipv4_fragments(EWS.ip, SERVER.ip, f.IPPROTO_UDP, f.udp(EWS.ip, SERVER.ip, 50500, 5005, export), 1480, 0x5EED)
    ):
        cap.ip(50.0 + 0.0001 * n, EWS, SERVER, frag)
    # The HMI pings a PLC once (a technician checking a flaky link).
    ping = bytes(range(32))
    cap.ip(45.0, HMI, PLC_SCHNEIDER, f.ipv4(HMI.ip, PLC_SCHNEIDER.ip, f.IPPROTO_ICMP, f.icmp_echo(1, 7, ping)))
    cap.ip(
        45.0009,
        PLC_SCHNEIDER,
        HMI,
        f.ipv4(PLC_SCHNEIDER.ip, HMI.ip, f.IPPROTO_ICMP, f.icmp_echo(1, 7, ping, reply=True)),
    )


def demo_frames(seed: int = 1) -> list[tuple[int, bytes]]:
    """All demo frames as ``(ts_ns, ethernet_frame)`` in time order; identical for identical seeds."""
    rng = random.Random(seed)
    cap = Capture()
    _it_traffic(cap, rng)
    _modbus_polling(cap, rng)
    _s7_session(cap, rng)
    return cap.sorted()


def write_demo(path: str | Path, seed: int = 1) -> int:
    """Write the demo capture as classic pcap (Ethernet, µs); returns the frame count."""
    frames = demo_frames(seed)
    write_pcap(path, frames)
    return len(frames)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zonewarden.simulate.demo_capture", description=__doc__)
    parser.add_argument("out", type=Path, help="pcap file to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    count = write_demo(args.out, args.seed)
    print(f"{args.out}: {count} frames from {START:%Y-%m-%d %H:%M:%S} UTC, seed {args.seed}")


if __name__ == "__main__":
    main()

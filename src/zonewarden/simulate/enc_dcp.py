"""PROFINET DCP (IEC 61158-6-10): Identify requests and responses, straight on Ethernet (EtherType 0x8892)."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETHERTYPE = 0x8892
IDENTIFY_MULTICAST = "01:0e:cf:00:00:00"
FRAME_IDENTIFY_REQUEST, FRAME_IDENTIFY_RESPONSE = 0xFEFE, 0xFEFF
SERVICE_IDENTIFY = 5
ROLE_IO_DEVICE, ROLE_IO_CONTROLLER, ROLE_IO_SUPERVISOR = 0x01, 0x02, 0x08
# (option, suboption) pairs.
IP_PARAMETER = (1, 2)
DEVICE_VENDOR, DEVICE_NAME_OF_STATION, DEVICE_ID, DEVICE_ROLE, DEVICE_OPTIONS, DEVICE_INSTANCE = (
    (2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 7))
ALL_SELECTOR = (0xFF, 0xFF)


@dataclass(frozen=True, slots=True)
class Station:
    """What a PROFINET device tells about itself in an Identify response."""

    name_of_station: str
    type_of_station: str  # "DeviceVendorValue", e.g. "S7-1500" or "ET200SP"
    vendor_id: int
    device_id: int
    role: int
    ip: str
    netmask: str
    gateway: str
    instance: int = 1


def _block(option: tuple[int, int], body: bytes) -> bytes:
    # Each block is padded to an even length; the padding is not part of its DCPBlockLength.
    out = struct.pack("!BBH", *option, len(body)) + body
    return out + (b"\x00" if len(out) % 2 else b"")


def identify_request(xid: int, response_delay: int = 1, name_filter: str | None = None) -> bytes:
    """Identify All (or by NameOfStation); the payload after the EtherType."""
    block = _block(DEVICE_NAME_OF_STATION, name_filter.encode()) if name_filter else _block(ALL_SELECTOR, b"")
    return struct.pack("!HBBIHH", FRAME_IDENTIFY_REQUEST, SERVICE_IDENTIFY, 0, xid, response_delay, len(block)) + block


def identify_response(xid: int, station: Station) -> bytes:
    ip = b"".join(ipaddress.IPv4Address(a).packed for a in (station.ip, station.netmask, station.gateway))
    options = [IP_PARAMETER, DEVICE_VENDOR, DEVICE_NAME_OF_STATION, DEVICE_ID, DEVICE_ROLE, DEVICE_INSTANCE]
    blocks = (
        _block(DEVICE_OPTIONS, b"\x00\x00" + b"".join(bytes(o) for o in options))
        + _block(DEVICE_VENDOR, b"\x00\x00" + station.type_of_station.encode())
        + _block(DEVICE_NAME_OF_STATION, b"\x00\x00" + station.name_of_station.encode())
        + _block(DEVICE_ID, struct.pack("!HHH", 0, station.vendor_id, station.device_id))
        + _block(DEVICE_ROLE, struct.pack("!HBB", 0, station.role, 0))
        + _block(DEVICE_INSTANCE, struct.pack("!HBB", 0, station.instance >> 8, station.instance & 0xFF))
        + _block(IP_PARAMETER, struct.pack("!H", 1) + ip)  # block info 1: IP address set
    )
    return struct.pack("!HBBIHH", FRAME_IDENTIFY_RESPONSE, SERVICE_IDENTIFY, 1, xid, 0, len(blocks)) + blocks

"""Modbus/TCP application data units (Modbus Application Protocol v1.1b3 and Messaging on TCP/IP v1.0b).

Pure builders: arguments in, the bytes a device puts after the TCP header out.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

PORT = 502
READ_COILS = 1
READ_DISCRETE_INPUTS = 2
READ_HOLDING_REGISTERS = 3
READ_INPUT_REGISTERS = 4
WRITE_SINGLE_COIL = 5
WRITE_SINGLE_REGISTER = 6
WRITE_MULTIPLE_REGISTERS = 16
ENCAPSULATED_INTERFACE = 43
MEI_READ_DEVICE_ID = 14
EXC_ILLEGAL_DATA_ADDRESS = 2
EXC_GATEWAY_TARGET_FAILED = 0x0B

# MEI 43/14 object ids (spec 6.21): 0-2 basic, 3-6 regular.
OBJ_VENDOR_NAME = 0
OBJ_PRODUCT_CODE = 1
OBJ_MAJOR_MINOR_REVISION = 2
OBJ_VENDOR_URL = 3
OBJ_PRODUCT_NAME = 4
OBJ_MODEL_NAME = 5
OBJ_USER_APPLICATION_NAME = 6


def adu(tid: int, unit: int, pdu: bytes) -> bytes:
    """MBAP header (transaction id, protocol 0, length of unit id + PDU) followed by the PDU."""
    return struct.pack("!HHHB", tid & 0xFFFF, 0, len(pdu) + 1, unit) + pdu


def read_request(tid: int, unit: int, function: int, start: int, count: int) -> bytes:
    return adu(tid, unit, struct.pack("!BHH", function, start, count))


def read_registers_response(tid: int, unit: int, function: int, values: Sequence[int]) -> bytes:
    words = [v & 0xFFFF for v in values]
    return adu(tid, unit, struct.pack(f"!BB{len(words)}H", function, 2 * len(words), *words))


def read_bits_response(tid: int, unit: int, function: int, bits: Sequence[bool]) -> bytes:
    packed = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            packed[i // 8] |= 1 << (i % 8)  # coil 0 is the least significant bit of the first byte
    return adu(tid, unit, struct.pack("!BB", function, len(packed)) + bytes(packed))


def write_single_register(tid: int, unit: int, address: int, value: int) -> bytes:
    """Request, and also the normal response, which echoes it."""
    return adu(tid, unit, struct.pack("!BHH", WRITE_SINGLE_REGISTER, address, value & 0xFFFF))


def write_single_coil(tid: int, unit: int, address: int, on: bool) -> bytes:
    """Request and echoed response; ON is 0xFF00, OFF 0x0000 (anything else is illegal data value)."""
    return adu(tid, unit, struct.pack("!BHH", WRITE_SINGLE_COIL, address, 0xFF00 if on else 0))


def write_multiple_registers(tid: int, unit: int, start: int, values: Sequence[int]) -> bytes:
    words = [v & 0xFFFF for v in values]
    body = struct.pack(f"!BHHB{len(words)}H", WRITE_MULTIPLE_REGISTERS, start, len(words), 2 * len(words), *words)
    return adu(tid, unit, body)


def write_multiple_registers_response(tid: int, unit: int, start: int, count: int) -> bytes:
    return adu(tid, unit, struct.pack("!BHH", WRITE_MULTIPLE_REGISTERS, start, count))


def exception(tid: int, unit: int, function: int, code: int) -> bytes:
    return adu(tid, unit, struct.pack("!BB", function | 0x80, code))


def read_device_id_request(tid: int, unit: int, category: int = 2, object_id: int = 0) -> bytes:
    """MEI 43/14: read device id code 1 basic, 2 regular, 3 extended, 4 one object."""
    return adu(tid, unit, struct.pack("!BBBB", ENCAPSULATED_INTERFACE, MEI_READ_DEVICE_ID, category, object_id))


def read_device_id_response(tid: int, unit: int, category: int, objects: Sequence[tuple[int, str]]) -> bytes:
    """All ``objects`` in one response (conformity level 0x82: regular identification, stream access)."""
    body = b"".join(struct.pack("!BB", oid, len(value.encode())) + value.encode() for oid, value in objects)
    header = struct.pack("!BBBBBBB", ENCAPSULATED_INTERFACE, MEI_READ_DEVICE_ID, category, 0x82, 0, 0, len(objects))
    return adu(tid, unit, header + body)

"""Modbus/TCP (port 502; recognised by content on other ports)."""

from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.modbus.analyzer import ModbusAnalyzer
from zonewarden.protocols.modbus.events import ModbusEvent
from zonewarden.protocols.modbus.wire import looks_like_modbus, parse_adu


def _fuzz(data: bytes) -> object:
    return parse_adu(data, is_response=bool(data[:1]) and data[0] & 1 == 1)


SPECS = (AnalyzerSpec(
    name="modbus",
    transport="tcp",
    factory=ModbusAnalyzer,
    events=(ModbusEvent,),
    ports=frozenset({502}),
    probe=looks_like_modbus,
    wire_parse=_fuzz,
    samples=(
        bytes.fromhex("0001 0000 0006 01 03 0000 000a"),  # read holding registers 0..9
        bytes.fromhex("0001 0000 0017 01 03 14 0192 0064 0000 00d5 0001 0000 0000 0000 0000 0000"),  # response
        bytes.fromhex("0002 0000 0005 01 2b 0e 01 00"),  # read device identification, basic
        bytes.fromhex("0003 0000 0003 01 83 02"),  # exception: illegal data address
    ),
),)

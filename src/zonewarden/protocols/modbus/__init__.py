"""Modbus/TCP (port 502; recognised by content on other ports)."""

from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.modbus.analyzer import ModbusAnalyzer
from zonewarden.protocols.modbus.events import ModbusEvent
from zonewarden.protocols.modbus.wire import looks_like_modbus, parse_adu


def _fuzz(data: bytes) -> object:
    return parse_adu(data, is_response=bool(data[:1]) and data[0] & 1 == 1)


SPEC = AnalyzerSpec(
    name="modbus",
    transport="tcp",
    factory=ModbusAnalyzer,
    events=(ModbusEvent,),
    ports=frozenset({502}),
    probe=looks_like_modbus,
    wire_parse=_fuzz,
)

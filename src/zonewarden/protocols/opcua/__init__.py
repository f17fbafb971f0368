"""OPC UA Binary over TCP (port 4840; recognised by content on any port)."""

from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.opcua.analyzer import OpcuaAnalyzer
from zonewarden.protocols.opcua.events import OpcuaEvent
from zonewarden.protocols.opcua.samples import SAMPLES
from zonewarden.protocols.opcua.wire import looks_like_opcua, parse_chunk, parse_sequence_header
from zonewarden.protocols.opcua.wire_services import parse_body


def _fuzz(data: bytes) -> object:
    """Everything the analyzer decodes from one chunk: header, sequence header, body."""
    chunk = parse_chunk(data)
    if chunk.payload:
        _, body = parse_sequence_header(chunk.payload)
        return parse_body(body)
    return chunk


SPECS = (AnalyzerSpec(
    name="opcua",
    transport="tcp",
    factory=OpcuaAnalyzer,
    events=(OpcuaEvent,),
    ports=frozenset({4840}),
    probe=looks_like_opcua,
    wire_parse=_fuzz,
    samples=SAMPLES,
),)

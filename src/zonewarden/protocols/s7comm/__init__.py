"""S7comm and S7comm-plus over ISO-on-TCP (TPKT RFC 1006 + COTP ISO 8073, TCP port 102).

One analyzer serves the port: it emits ``s7comm`` events (S7comm, protocol id 0x32), ``s7comm_plus``
events (S7comm-plus, protocol id 0x72) and COTP connection events under the connection's protocol.
"""

from zonewarden.errors import Malformed
from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.s7comm.analyzer import IsoTcpAnalyzer
from zonewarden.protocols.s7comm.codes import COTP_DT, S7_PROTOCOL_ID, S7PLUS_PROTOCOL_ID
from zonewarden.protocols.s7comm.events import CotpEvent, S7commEvent, S7commPlusEvent
from zonewarden.protocols.s7comm.wire_cotp import parse_tpkt
from zonewarden.protocols.s7comm.wire_plus import parse_plus_fragment, parse_plus_head
from zonewarden.protocols.s7comm.wire_s7 import parse_s7


def parse_message(data: bytes) -> object:
    """One TPKT and, for a complete single-TPDU data unit, the S7comm or S7comm-plus message in it."""
    cotp = parse_tpkt(data)
    if cotp.code != COTP_DT or not cotp.eot or not cotp.data:
        return cotp
    if cotp.data[0] == S7_PROTOCOL_ID:
        return parse_s7(cotp.data)
    if cotp.data[0] == S7PLUS_PROTOCOL_ID:
        fragment = parse_plus_fragment(cotp.data)
        return fragment, parse_plus_head(fragment.data)
    raise Malformed(f"data unit starts with 0x{cotp.data[0]:02x}")


SPECS = (AnalyzerSpec(
    name="s7comm",
    transport="tcp",
    factory=IsoTcpAnalyzer,
    # S7commPlusEvent carries proto "s7comm_plus": see tests/protocols/s7comm/test_plus_conformance.py.
    events=(S7commEvent, S7commPlusEvent, CotpEvent),
    ports=frozenset({102}),
    protos=frozenset({"s7comm", "s7comm_plus"}),
    wire_parse=parse_message,
    # S7comm only: the shared conformance suite requires every event's proto to be the spec name, so the
    # S7comm-plus samples live in the package's own conformance test.
    samples=(
        bytes.fromhex("0300001611e00000000100c1020100c2020302c00109"),  # COTP CR, called TSAP 0302 (rack 0 slot 2)
        bytes.fromhex("0300001902f08032010000ffff00080000f0000004000403c0"),  # setup communication job
        bytes.fromhex("0300001f02f080320100000000000e00000401120a10020004000184000000"),  # read var DB1.DBD0
        bytes.fromhex("0300001d02f0803203000000000002000800000401ff04002000010002"),  # read var ack_data
        bytes.fromhex("0300002102f080320700000100000800080001120411440100ff09000400110000"),  # read SZL 0x0011
        bytes.fromhex("0300002102f0803201000000020010000029000000000009505f50524f4752414d"),  # PLC stop
        bytes.fromhex("0300000702f000"),  # empty DT without end of TSDU
    ),
),)

"""PROFINET DCP (layer 2, EtherType 0x8892, frame ids 0xFEFC..0xFEFF): discovery and basic configuration."""

from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.profinet_dcp.analyzer import ProfinetDcpAnalyzer
from zonewarden.protocols.profinet_dcp.events import ProfinetDcpEvent
from zonewarden.protocols.profinet_dcp.wire import parse_frame

SPECS = (AnalyzerSpec(
    name="profinet_dcp",
    transport="ether",
    factory=ProfinetDcpAnalyzer,
    events=(ProfinetDcpEvent,),
    ethertypes=frozenset({0x8892}),
    wire_parse=parse_frame,
    # Real frames (after the EtherType) from the corpus: profinet/iti-ics-security-tools ChangeIPUsingDCP.pcap
    # and PROFINET-RT.pcap.
    samples=(
        bytes.fromhex("fefe 05 00 01000001 0001 0004 ffff 0000"),  # Identify request, all selector
        bytes.fromhex("feff 05 01 01000001 0000 005e"
                      "0205 001c 0000 0101 0102 0201 0202 0203 0204 0205 033d 0501 0502 0503 0504 ffff"
                      "0201 0005 0000 494e4300 0202 000b 0000 583230382d424f524400"
                      "0203 0006 0000 002a 0a01 0204 0004 0000 0100"
                      "0102 000e 0001 c0a80006 ffffff00 c0a80001"),  # Identify response: X208-BORD
        bytes.fromhex("fefd 04 00 01000001 0000 0012 0102 000e 0001 c0a8000a ffffff00 c0a80001"),  # Set IP
        bytes.fromhex("fefd 04 01 01000001 0000 0008 0504 0003 010200 00"),  # Set response, ok
        bytes.fromhex("fefe 05 00 0300bf9a 0001 000c 0202 0007 73776974636833 00"),  # Identify "switch3"
    ),
),)

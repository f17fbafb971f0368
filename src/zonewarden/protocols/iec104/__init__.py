"""IEC 60870-5-104 (TCP port 2404; recognised by content on other ports)."""

from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.iec104.analyzer import Iec104Analyzer
from zonewarden.protocols.iec104.events import Iec104Event
from zonewarden.protocols.iec104.wire import looks_like_iec104, parse_apdu

SPECS = (AnalyzerSpec(
    name="iec104",
    transport="tcp",
    factory=Iec104Analyzer,
    events=(Iec104Event,),
    ports=frozenset({2404}),
    probe=looks_like_iec104,
    wire_parse=parse_apdu,
    # Real APDUs from the corpus (emreekin-ics-pcaps iec104.pcap, 58_59.pcap, 63.pcap).
    samples=(
        bytes.fromhex("680407000000"),  # U: STARTDT act
        bytes.fromhex("680e00000000 640106000a00 00000014"),  # I: C_IC_NA_1 act, station interrogation
        bytes.fromhex("681a04000200 010414000a00 01000000 02000000 03000000 04000000"),  # M_SP_NA_1 x4, inrogen
        bytes.fromhex("6836120004001e0414000a00 0b0000003110170884070d 0c0000003110170884070d"
                      "0d0000003110170884070d 0e0000003110170884070d"),  # M_SP_TB_1 x4 with CP56Time2a
        bytes.fromhex("680e04004200 2d0106000a00 02000001"),  # C_SC_NA_1 act, ON, execute
        bytes.fromhex("681506002000 3a0106000100 e80300 01 b036110c020b13"),  # C_SC_TA_1 with time tag
        bytes.fromhex("68193e00b800 3f0106000100 701700 4260e53b 00 a8de350d020b13"),  # C_SE_TC_1 float set point
        bytes.fromhex("680401001a00"),  # S: N(R) 13
    ),
),)

"""DNP3 (IEEE 1815) over TCP and UDP, port 20000; over TCP also recognised by a valid link header."""

from zonewarden.errors import NeedMoreData
from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.dnp3.analyzer import Dnp3Analyzer, Dnp3DatagramAnalyzer
from zonewarden.protocols.dnp3.events import Dnp3Event
from zonewarden.protocols.dnp3.wire_app import Apdu, parse_apdu
from zonewarden.protocols.dnp3.wire_link import START, LinkFrame, looks_like_dnp3, parse_link_frame, parse_transport


def wire_parse(data: bytes) -> tuple[LinkFrame, Apdu | None] | Apdu:
    """A link frame (and the application fragment of a single-segment one), or a bare application fragment."""
    if data[:2] != START:
        return parse_apdu(data)
    lf = parse_link_frame(data)
    if not lf.user_data:
        return lf, None
    seg = parse_transport(lf.user_data)
    if not (seg.fir and seg.fin):
        raise NeedMoreData("a transport segment of a longer fragment")
    return lf, parse_apdu(seg.payload)


SPECS = (AnalyzerSpec(
    name="dnp3",
    transport="tcp",
    factory=Dnp3Analyzer,
    datagram_factory=Dnp3DatagramAnalyzer,
    events=(Dnp3Event,),
    ports=frozenset({20000}),
    probe=looks_like_dnp3,
    wire_parse=wire_parse,
    samples=(
        # read class 1, 2, 3, 0 data (Zeek's dnp3_read.pcap frame 4)
        bytes.fromhex("056414c4020003004503c7c8013c02063c03063c04063c010642ac"),
        # its response: g1v2, g10v2, g30v1 points (frame 6)
        bytes.fromhex("05647444030002006854f4c88100000102000008810181010101d3740101010a02000006000000000000011e6ca401"
                      "00000e01ef030000010300000001ed2178030000012bd1ffff01ed03000001e62e41c9000001170d020000000000"
                      "0001b50c02c650000000000000018a0d020000000000000693000000000000000000000000000000ffff"),
        # select of a CROB, g12v1 latch on (Zeek's dnp3_select_operate.pcap frame 4)
        bytes.fromhex("05641ac40200030040f2c6c7030c0128010001000301640000008fda6400000000005b"),
        # request link status, then the link status answer (Zeek's dnp3_udp_read.pcap frames 1 and 2)
        bytes.fromhex("05640549640001007e5f"),
        bytes.fromhex("0564058b01006400a097"),
    ),
),)

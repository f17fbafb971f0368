"""EtherNet/IP and CIP: explicit messaging on TCP 44818, list broadcasts on UDP 44818 (``enip``), and
connected implicit I/O on UDP 2222 (``enip_io``, a separate analyzer: no encapsulation header there)."""

from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.enip.analyzer import EnipDatagramAnalyzer, EnipStreamAnalyzer
from zonewarden.protocols.enip.analyzer_io import EnipIoAnalyzer
from zonewarden.protocols.enip.cip_fields import reply_fields, request_fields
from zonewarden.protocols.enip.events import EnipEvent, EnipIoEvent
from zonewarden.protocols.enip.wire_cip import CipRequest, parse_cip
from zonewarden.protocols.enip.wire_encap import parse_io_datagram, parse_message


def _fuzz(data: bytes) -> object:
    """The whole pure decode path: encapsulation, then the CIP message of each data item."""
    msg = parse_message(data)
    for item in msg.items or []:
        if item.type_id in (0xB1, 0xB2) and item.data:
            cip = parse_cip(item.data[2:] if item.type_id == 0xB1 else item.data)
            if isinstance(cip, CipRequest):
                request_fields(cip, 1, [])
            else:
                reply_fields(cip, None, [])
    return msg


SPECS = (
    AnalyzerSpec(
        name="enip",
        transport="tcp",
        factory=EnipStreamAnalyzer,
        datagram_factory=EnipDatagramAnalyzer,
        events=(EnipEvent,),
        ports=frozenset({44818}),
        wire_parse=_fuzz,
        samples=(  # from the corpus (enip-cip/): suricata-verify, emreekin, iti-ics-security-tools captures
            # ListIdentity request and reply (1756-ENBT/A)
            bytes.fromhex("630000000000000000000000000000000000000000000000"),
            bytes.fromhex("63003300000000000000000000000000000000000000000001000c002d0001000002af12c0a80a7800000000"
                          "0000000001000c003a0004073000c3ae51000b313735362d454e42542f4103"),
            # ListServices reply, RegisterSession request
            bytes.fromhex("04001a00000000000000000000000000000000000000000001000001140001002001436f6d6d756e6963"
                          "6174696f6e730000"),
            bytes.fromhex("65000400000000000000000000000000000000000000000001000000"),
            # SendRRData: Forward Open request and its reply (with socket address items)
            bytes.fromhex("6f004c000100000000000000c0a8641c0000485700000000000000000000020000000000b2003c0054022006"
                          "2401059b00000000000000000e00010022f5130002000000102700001a48102700001a28010934040000000000"
                          "000000200424062c022c01"),
            bytes.fromhex("6f0056000100000000000000c0a8641c0000485700000000000000000000040000000000b2001e00d4000000"
                          "0200a2f10300a2f10e00010022f513001027000010270000000000801000000208ae0000000000000000000000"
                          "0001801000000208aeefc005800000000000000000"),
            # SendRRData: Unconnected Send of Get_Attributes_All to the Identity object, and the reply
            bytes.fromhex("6f00240000010211000000001981300018a7e10000000000000000000a00020000000000b200140052022006"
                          "2401069a060001022001240101000100"),
            bytes.fromhex("6f00370000010211000000001981300018a7e10000000000000000000a00020000000000b2002700810000"
                          "0001000e003600101460303f82510014313735362d4c36312f42204c4f47495835353631"),
            # SendRRData: Forward Close request; Unconnected Send failure (connection failure, 0x0204)
            bytes.fromhex("6f0028000001021100000000da9b02002008e10000000000000000002000020000000000b20018004e0220"
                          "06240107f914004d00f32b95320300010020022401"),
            bytes.fromhex("6f00180000010211000000001681300018a7e10000000000000000000a00020000000000b2000800d2000101"
                          "04020100"),
            # SendUnitData: Multiple Service Packet of 11 Get_Attribute_List; Stop (service 7) to class 0x8E
            bytes.fromhex("7000ba0000010211000000000000000000000000000000000000000001000200a1000400010b7c00b100a600"
                          "89070a02200224010b00180022002c0036004c005800640072007c008a0094000302200124010100050003"
                          "022069240001000b0003022073240101000200030220ac240107000100020003000500070009000a000303"
                          "206825002024010013000302207024010200120013000302208e2401030003000800100003022069240001"
                          "00090003022068240003000f0018001900030220772401010002000302208b240101000600"),
            bytes.fromhex("70001c0001002a00000000000000000000000000000000000000000001000200a1000400224095ffb10008"
                          "0006010702208e2401"),
        ),
    ),
    AnalyzerSpec(
        name="enip_io",
        transport="udp",
        factory=EnipIoAnalyzer,
        events=(EnipIoEvent,),
        ports=frozenset({2222}),
        wire_parse=parse_io_datagram,
        samples=(  # enip-cip/ndpi/cip_io.pcap: O->T and T->O datagrams (sequenced address + connected data)
            bytes.fromhex("020002800800787b3a00e8cb5e04b1000c000300fdffffffffffffff0000"),
            bytes.fromhex("020002800800ebb4917654cc5e04b1001000c6e401000000fdffffffffffffff0000"),
        ),
    ),
)

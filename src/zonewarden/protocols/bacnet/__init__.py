"""BACnet/IP (UDP 47808 = 0xBAC0; on other ports, e.g. 47809..47823 for further BACnet/IP networks on
one host, recognised by content: a BVLC whose length is the datagram's, with a valid NPDU).

BACnet over other data links (Ethernet 802.2 LLC, MS/TP, ARCNET) is out of scope: only what a BACnet/IP
router forwards from them is seen, with its SNET/SADR.
"""

from zonewarden.protocols.bacnet.analyzer import BacnetAnalyzer
from zonewarden.protocols.bacnet.codes import COMPLEX_ACK, CONFIRMED_REQUEST, ERROR, UNCONFIRMED_REQUEST
from zonewarden.protocols.bacnet.events import BacnetEvent
from zonewarden.protocols.bacnet.wire import Message, looks_like_bvlc, parse_message
from zonewarden.protocols.bacnet.wire_services import Service, parse_service
from zonewarden.protocols.base import AnalyzerSpec


def _fuzz(data: bytes) -> tuple[Message, Service | None]:
    message = parse_message(data)
    apdu = message.apdu
    if apdu is None or apdu.service_choice is None or apdu.apdu_type not in (
            CONFIRMED_REQUEST, UNCONFIRMED_REQUEST, COMPLEX_ACK, ERROR):
        return message, None
    return message, parse_service(apdu.apdu_type, apdu.service_choice, apdu.body)


SPECS = (AnalyzerSpec(
    name="bacnet",
    transport="udp",
    factory=BacnetAnalyzer,
    events=(BacnetEvent,),
    ports=frozenset({47808}),
    probe=looks_like_bvlc,
    wire_parse=_fuzz,
    samples=(
        # Samples from bacnet_services.pcap (cisagov/icsnpp-bacnet): ReadProperty request and its ACK (real 100.0)
        bytes.fromhex("810a0016 0124 0003016c ff 02 0301 0c 0c00400065 1955"),
        bytes.fromhex("810a001b 0108 0003016c 30 01 0c 0c00400065 1955 3e 4442c80000 3f"),
        # WriteProperty present-value 50.0 priority 10, and its SimpleACK
        bytes.fromhex("810a001f 0124 0003016c ff 02 0302 0f 0c00400065 1955 3e 4442480000 3f 490a"),
        bytes.fromhex("810a000d 0108 0003016c 20 02 0f"),
        # Who-Is 108..108 to the global broadcast network, I-Am (device 111, 1476 octets, no segmentation)
        bytes.fromhex("810b0010 0120 ffff 00 ff 10 08 096c 196c"),
        bytes.fromhex("810b0017 0120 ffff 00 ff 10 00 c40200006f 2132 9103 212a"),
        # I-Have, Who-Has by name, DeviceCommunicationControl request and its Error (security/password failure)
        bytes.fromhex("810b001c 0100 1001 c4023fffff c40200006c 75080055 6e6b6e6f776e"),
        bytes.fromhex("810b0018 0120 ffff 00 ff 1007 3d0a0072656c617920313038"),
        bytes.fromhex("810a0013 0124 0003016c ff 02 03 84 11 1901 2900"),
        bytes.fromhex("810a0011 0108 0003016c 50 84 11 9105 911a"),
        # ReadPropertyMultiple (two objects) and a ReadPropertyMultiple-ACK with one value and one error
        bytes.fromhex("810a001e 0104 0205 0e 0e 0c00000001 1e 0955 094d 1f 0c00800002 1e 0955 1f"),
        bytes.fromhex("810a0021 0100 30 0e 0e 0c00000001 1e 2955 4e 4441200000 4f 2975 5e 9102 9120 5f 1f"),
        # Who-Is-Router-To-Network, I-Am-Router-To-Network (networks 2 and 3)
        bytes.fromhex("810b0007 0180 00"),
        bytes.fromhex("810b000b 0180 01 0002 0003"),
        # BACnet-BBMD-on-same-subnet.cap (Wireshark wiki): a BBMD's Forwarded-NPDU of an I-Am from device
        # 884456, MS/TP station 0x56 on network 4; Register-Foreign-Device (TTL 60000) and its BVLC-Result
        bytes.fromhex("81040022 c0a80012 bac0 0128 ffff 00 0004 01 56 fe 10 00 c4020d7ee8 2201e0 9103 2156"),
        bytes.fromhex("81050006 ea60"),
        bytes.fromhex("81000006 0000"),
        # bacnet-stack-services.cap (Wireshark wiki): an unconfirmed COV notification routed from network 2
        bytes.fromhex("810a0025 0120ffff00ff 10 02 0901 1c02000002 2c00c00004 3905 4e 0955 2e 4442c80000 2f 4f"),
        # bacnet_segmented_data.pcap: a SegmentACK and the last segment (2) of a segmented object-list ACK
        bytes.fromhex("810a000a 0100 40 5e 00 03"),
        bytes.fromhex("810a0070 0104 38 5e 02 03 0c c404400181 c404400182 c404400183 c404400184 c404400185"
                      "c404400186 c404400187 c404400188 c404400189 c40440018a c40440018b c40440018c c40440018d"
                      "c40440018e c40440018f c405c00001 c405c00002 c405c00003 c405c00004 c405c00005 3f"),
    ),
),)

"""Decode error codes set per packet by the compiled decoder, and their names.

Names follow ``layer.reason`` so they read the same as the analyzers' anomaly events.
"""

OK = 0
UNKNOWN_LINKTYPE = 1
L2_TRUNCATED = 2
VLAN_TRUNCATED = 3
ARP_TRUNCATED = 4
IPV4_TRUNCATED = 5
IPV4_BAD_IHL = 6
IPV4_BAD_TOTAL_LENGTH = 7
IPV6_TRUNCATED = 8
IPV6_BAD_EXTENSION = 9
TCP_TRUNCATED = 10
TCP_BAD_OFFSET = 11
UDP_TRUNCATED = 12
UDP_BAD_LENGTH = 13
ICMP_TRUNCATED = 14
IP_BAD_VERSION = 15
NULL_UNKNOWN_FAMILY = 16
IPV4_BAD_FRAGMENT = 17
IPV6_BAD_FRAGMENT = 18

# Codes from SOFT up mark an anomaly in a packet that is still usable: it is counted in its flow and
# its payload is delivered; codes below SOFT make the packet unusable beyond the failing layer.
SOFT = 64
UDP_LENGTH_EXCEEDS_IP = 64

NAMES: dict[int, str] = {
    UDP_LENGTH_EXCEEDS_IP: "udp.length_exceeds_ip_payload",
    UNKNOWN_LINKTYPE: "link.unknown_linktype",
    L2_TRUNCATED: "link.truncated_header",
    VLAN_TRUNCATED: "vlan.truncated_tag",
    ARP_TRUNCATED: "arp.truncated",
    IPV4_TRUNCATED: "ipv4.truncated_header",
    IPV4_BAD_IHL: "ipv4.bad_header_length",
    IPV4_BAD_TOTAL_LENGTH: "ipv4.bad_total_length",
    IPV6_TRUNCATED: "ipv6.truncated_header",
    IPV6_BAD_EXTENSION: "ipv6.bad_extension_header",
    TCP_TRUNCATED: "tcp.truncated_header",
    TCP_BAD_OFFSET: "tcp.bad_data_offset",
    UDP_TRUNCATED: "udp.truncated_header",
    UDP_BAD_LENGTH: "udp.bad_length",
    ICMP_TRUNCATED: "icmp.truncated_header",
    IP_BAD_VERSION: "ip.bad_version",
    NULL_UNKNOWN_FAMILY: "null.unknown_address_family",
    IPV4_BAD_FRAGMENT: "ipv4.bad_fragment",
    IPV6_BAD_FRAGMENT: "ipv6.bad_fragment",
}


def anomaly_name(code: int) -> str:
    return NAMES.get(code, f"unknown-{code}")

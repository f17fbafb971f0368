"""MQTT code tables (MQTT 3.1.1 OASIS standard, MQTT 5.0 OASIS standard). Unknown codes read ``unknown-N``."""

from __future__ import annotations

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

PACKET_TYPES: dict[int, str] = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK", PUBREC: "PUBREC",
    PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE", SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE",
    UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}

# The fixed-header flags each packet type must carry (PUBLISH's are dup/qos/retain and vary).
REQUIRED_FLAGS: dict[int, int] = {t: (2 if t in (PUBREL, SUBSCRIBE, UNSUBSCRIBE) else 0) for t in PACKET_TYPES}

# Which packet answers which: answer type -> (request type, the request travels the other way).
ANSWERS: dict[int, int] = {
    CONNACK: CONNECT, PUBACK: PUBLISH, PUBREC: PUBLISH, PUBREL: PUBREC, PUBCOMP: PUBREL,
    SUBACK: SUBSCRIBE, UNSUBACK: UNSUBSCRIBE, PINGRESP: PINGREQ,
}

# Protocol level in CONNECT: 3 is MQTT 3.1 ("MQIsdp"), 4 is 3.1.1, 5 is 5.0.
LEVEL_311, LEVEL_5 = 4, 5

# CONNACK return codes of MQTT 3.1/3.1.1.
CONNACK_V3: dict[int, str] = {
    0: "Connection Accepted", 1: "Unacceptable protocol version", 2: "Identifier rejected",
    3: "Server unavailable", 4: "Bad user name or password", 5: "Not authorized",
}

# MQTT 5 reason codes (2.4): one table for every packet that carries one.
REASON_CODES_V5: dict[int, str] = {
    0x00: "Success", 0x01: "Granted QoS 1", 0x02: "Granted QoS 2", 0x04: "Disconnect with Will Message",
    0x10: "No matching subscribers", 0x11: "No subscription existed", 0x18: "Continue authentication",
    0x19: "Re-authenticate", 0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
    0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid", 0x86: "Bad User Name or Password", 0x87: "Not authorized",
    0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned", 0x8B: "Server shutting down",
    0x8C: "Bad authentication method", 0x8D: "Keep Alive timeout", 0x8E: "Session taken over",
    0x8F: "Topic Filter invalid", 0x90: "Topic Name invalid", 0x91: "Packet Identifier in use",
    0x92: "Packet Identifier not found", 0x93: "Receive Maximum exceeded", 0x94: "Topic Alias invalid",
    0x95: "Packet too large", 0x96: "Message rate too high", 0x97: "Quota exceeded",
    0x98: "Administrative action", 0x99: "Payload format invalid", 0x9A: "Retain not supported",
    0x9B: "QoS not supported", 0x9C: "Use another server", 0x9D: "Server moved",
    0x9E: "Shared Subscriptions not supported", 0x9F: "Connection rate exceeded",
    0xA0: "Maximum connect time", 0xA1: "Subscription Identifiers not supported",
    0xA2: "Wildcard Subscriptions not supported",
}

# MQTT 5 property identifiers (2.2.2.2) by value type.
PROPERTY_BYTE = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
PROPERTY_U16 = frozenset({0x13, 0x21, 0x22, 0x23})
PROPERTY_U32 = frozenset({0x02, 0x11, 0x18, 0x27})
PROPERTY_VARINT = frozenset({0x0B})
PROPERTY_STRING = frozenset({0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F})
PROPERTY_BINARY = frozenset({0x09, 0x16})
PROPERTY_PAIR = frozenset({0x26})
PROP_CONTENT_TYPE, PROP_ASSIGNED_CLIENT_ID, PROP_AUTH_METHOD, PROP_REASON_STRING = 0x03, 0x12, 0x15, 0x1F
PROP_TOPIC_ALIAS = 0x23

# Sparkplug B (Eclipse Sparkplug 3.0): spBv1.0/<group>/<message type>/<edge node>[/<device>], and
# spBv1.0/STATE/<host application> for host applications.
SPARKPLUG_NAMESPACE = "spBv1.0"
SPARKPLUG_TYPES = frozenset({"NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD", "STATE"})
# Birth certificates: every metric of the edge node (NBIRTH) or of a device behind it (DBIRTH), by name.
SPARKPLUG_BIRTHS = frozenset({"NBIRTH", "DBIRTH"})
# Sparkplug datatypes Int8, Int16, Int32, Int64: two's complement in the unsigned int_value/long_value fields.
SPARKPLUG_SIGNED_BITS: dict[int, int] = {1: 8, 2: 16, 3: 32, 4: 64}


def packet_name(kind: int) -> str:
    return PACKET_TYPES.get(kind, f"unknown-{kind}")


def reason_name(code: int, level: int | None, packet_type: int) -> str:
    if level == LEVEL_5:
        return REASON_CODES_V5.get(code, f"unknown-{code}")
    if packet_type == CONNACK:
        return CONNACK_V3.get(code, f"unknown-{code}")
    # SUBACK return codes of 3.1.1: the granted QoS or 0x80 failure
    return {0: "Granted QoS 0", 1: "Granted QoS 1", 2: "Granted QoS 2", 0x80: "Failure"}.get(code, f"unknown-{code}")

"""MQTT wire format: fixed header, every control packet in 3.1.1 and 5.0, properties, Sparkplug B topics and
payloads."""

from __future__ import annotations

import pytest

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.mqtt.samples import SAMPLES, SPARKPLUG_NBIRTH
from zonewarden.protocols.mqtt.wire import (
    MAX_PROPERTIES,
    looks_like_mqtt_connect,
    packet_length,
    parse_fixed_header,
    parse_packet,
)
from zonewarden.protocols.mqtt.wire_sparkplug import (
    MAX_METRICS,
    MAX_TEXT,
    Sparkplug,
    parse_sparkplug,
    parse_sparkplug_payload,
)

CONNECT_V311_WILL_AND_CREDENTIALS = bytes.fromhex(
    "10"  # CONNECT, flags 0
    "28"  # remaining length 40
    "0004" "4d515454"  # protocol name "MQTT"
    "04"  # protocol level 4 (3.1.1)
    "ee"  # flags: user name, password, will retain, will QoS 1, will flag, clean session
    "003c"  # keep alive 60
    "0003" "633031"  # client id "c01"
    "0005" "616c61726d"  # will topic "alarm"
    "0002" "6869"  # will payload "hi"
    "0004" "75736572"  # user name "user"
    "0006" "736563726574"  # password "secret"
)
CONNACK_V311_NOT_AUTHORIZED = bytes.fromhex(
    "20" "02"  # CONNACK, remaining 2
    "00"  # acknowledge flags: no session present
    "05"  # return code 5: not authorized
)
CONNACK_V5_ASSIGNED_CLIENT_ID = bytes.fromhex(
    "20" "0c"  # CONNACK, remaining 12
    "01"  # session present
    "00"  # reason code 0: success
    "09"  # property length 9
    "12" "0006" "6175746f2d31"  # assigned client identifier "auto-1"
)
PUBLISH_QOS2_DUP_RETAIN = bytes.fromhex(
    "3d"  # PUBLISH, dup, QoS 2, retain
    "0a"  # remaining 10
    "0003" "612f62"  # topic "a/b"
    "0007"  # packet id 7
    "78797a"  # payload "xyz"
)
PUBLISH_V5_ALIAS_ONLY = bytes.fromhex(
    "30" "07"  # PUBLISH QoS 0, remaining 7
    "0000"  # empty topic: the alias stands for it
    "03" "230005"  # properties: topic alias 5
    "31"  # payload "1"
)
SUBSCRIBE_TWO_FILTERS = bytes.fromhex(
    "82" "0e"  # SUBSCRIBE (flags 2), remaining 14
    "0001"  # packet id 1
    "0003" "612f23" "01"  # "a/#" QoS 1
    "0003" "782f2b" "02"  # "x/+" QoS 2
)
SUBACK_GRANTED_AND_FAILED = bytes.fromhex(
    "90" "04"  # SUBACK, remaining 4
    "0001"  # packet id 1
    "01" "80"  # granted QoS 1, failure
)
UNSUBSCRIBE_ONE = bytes.fromhex("a2" "07" "0002" "0003" "612f23")  # UNSUBSCRIBE id 2 "a/#"
UNSUBACK_V311 = bytes.fromhex("b0" "02" "0002")  # UNSUBACK id 2
PUBACK_V5_NO_SUBSCRIBERS = bytes.fromhex(
    "40" "04"  # PUBACK, remaining 4
    "0007"  # packet id 7
    "10"  # reason 0x10: no matching subscribers
    "00"  # property length 0
)
DISCONNECT_V5_TAKEN_OVER = bytes.fromhex("e0" "01" "8e")  # DISCONNECT reason 0x8e: session taken over
AUTH_V5_CONTINUE = bytes.fromhex(
    "f0" "0e"  # AUTH, remaining 14
    "18"  # reason 0x18: continue authentication
    "0c"  # property length 12
    "15" "0009" "534352414d2d534841"  # authentication method "SCRAM-SHA"
)


def test_connect_keeps_no_password() -> None:
    p = parse_packet(CONNECT_V311_WILL_AND_CREDENTIALS)
    assert (p.packet_type, p.protocol_name, p.protocol_level, p.keep_alive, p.clean_session) == (
        1, "MQTT", 4, 60, True)
    assert (p.client_id, p.will_topic, p.will_qos, p.will_retain, p.username, p.password_present) == (
        "c01", "alarm", 1, True, "user", True)
    assert p.problem is None
    assert "secret" not in repr(p)


def test_mqtt5_connect_with_properties_and_will_properties() -> None:
    p = parse_packet(SAMPLES[7])  # mosquitto: session expiry, receive maximum, user properties, will props
    assert (p.protocol_level, p.client_id, p.will_topic, p.username, p.password_present, p.problem) == (
        5, "myvoiceismypassport", "willtopic", "user", True, None)
    assert p.properties.count == 6


def test_connack() -> None:
    v3 = parse_packet(CONNACK_V311_NOT_AUTHORIZED, 4)
    assert (v3.session_present, v3.return_code, v3.problem) == (False, 5, None)
    v5 = parse_packet(CONNACK_V5_ASSIGNED_CLIENT_ID, 5)
    assert (v5.session_present, v5.return_code, v5.properties.assigned_client_id) == (True, 0, "auto-1")


def test_publish() -> None:
    p = parse_packet(PUBLISH_QOS2_DUP_RETAIN, 4)
    assert (p.dup, p.qos, p.retain, p.topic, p.packet_id, p.payload_length) == (True, 2, True, "a/b", 7, 3)
    alias = parse_packet(PUBLISH_V5_ALIAS_ONLY, 5)
    assert (alias.topic, alias.properties.topic_alias, alias.payload_length) == ("", 5, 1)
    props = parse_packet(SAMPLES[9], 5)
    assert (props.topic, props.qos, props.packet_id, props.properties.content_type, props.payload_length) == (
        "topicX", 1, 1, "mytype", 16)


def test_large_publish_is_measured_from_its_declared_length() -> None:
    head = bytes.fromhex("30" "ffff03" "0003" "612f62") + b"x" * 100  # remaining 65535: only 107 bytes here
    p = parse_packet(head, 4, remaining=65535)
    assert (p.topic, p.payload_length, p.problem) == ("a/b", 65535 - 5, None)


def test_subscribe_and_suback() -> None:
    sub = parse_packet(SUBSCRIBE_TWO_FILTERS, 4)
    assert (sub.packet_id, sub.topics, sub.qos_levels, sub.problem) == (1, ["a/#", "x/+"], [1, 2], None)
    ack = parse_packet(SUBACK_GRANTED_AND_FAILED, 4)
    assert (ack.packet_id, ack.return_codes) == (1, [1, 0x80])


def test_unsubscribe_and_unsuback() -> None:
    unsub = parse_packet(UNSUBSCRIBE_ONE, 4)
    assert (unsub.packet_id, unsub.topics, unsub.qos_levels) == (2, ["a/#"], None)
    assert parse_packet(UNSUBACK_V311, 4).return_codes is None
    v5 = parse_packet(SAMPLES[12], 5)
    assert (v5.packet_id, v5.return_codes) == (3, [0x11])


def test_mqtt5_acks_disconnect_and_auth() -> None:
    puback = parse_packet(PUBACK_V5_NO_SUBSCRIBERS, 5)
    assert (puback.packet_id, puback.return_code, puback.problem) == (7, 0x10, None)
    assert parse_packet(bytes.fromhex("4002" "0007"), 5).return_code is None  # reason omitted: success
    assert parse_packet(DISCONNECT_V5_TAKEN_OVER, 5).return_code == 0x8E
    assert parse_packet(bytes.fromhex("e000"), 5).return_code is None
    auth = parse_packet(AUTH_V5_CONTINUE, 5)
    assert (auth.return_code, auth.properties.auth_method) == (0x18, "SCRAM-SHA")


@pytest.mark.parametrize(("packet", "level", "issue"), [
    (bytes.fromhex("3600" ), 4, "invalid_qos"),  # PUBLISH with QoS 3 (and no topic)
    (bytes.fromhex("8005" "0001" "0000" "00"), 4, "invalid_flags"),  # SUBSCRIBE must have flags 2
    (bytes.fromhex("0000"), 4, "unknown_packet_type"),  # type 0 is reserved
    (bytes.fromhex("8202" "0001"), 4, "malformed_packet"),  # SUBSCRIBE without topic filters
    (bytes.fromhex("2003" "0000" "05"), 5, "malformed_packet"),  # property length 5 with no bytes left
    (bytes.fromhex("2005" "0000" "02" "7f00"), 5, "malformed_packet"),  # property id 0x7f unknown
    (bytes.fromhex("c001" "00"), 4, "malformed_packet"),  # PINGREQ with a byte after it
    (bytes.fromhex("3803" "0001" "61"), 4, "invalid_flags"),  # DUP on a QoS 0 PUBLISH
    (bytes.fromhex("3005" "0003" "612f23"), 4, "invalid_topic"),  # PUBLISH to "a/#"
])
def test_protocol_violations_keep_the_packet(packet: bytes, level: int, issue: str) -> None:
    p = parse_packet(packet, level)
    assert p.issue == issue and p.problem


def test_property_count_is_bounded() -> None:
    props = bytes.fromhex("0100") * (MAX_PROPERTIES + 1)  # payload format indicator, over and over
    remaining = 2 + 2 + len(props)  # flags, reason code, two-byte property length, properties
    body = bytes([0x00, 0x00]) + bytes([(len(props) & 0x7F) | 0x80, len(props) >> 7]) + props
    header = bytes([0x20, (remaining & 0x7F) | 0x80, remaining >> 7])  # CONNACK, two-byte remaining length
    p = parse_packet(header + body, 5)
    assert p.issue == "malformed_packet" and "more than" in (p.problem or "")


def test_fixed_header() -> None:
    h = parse_fixed_header(bytes.fromhex("30" "c102"))
    assert (h.packet_type, h.flags, h.header_length, h.remaining, h.total) == (3, 0, 3, 321, 324)
    assert packet_length(bytes.fromhex("30ffffff7f")) == 1 + 4 + 268_435_455
    with pytest.raises(Malformed, match="longer than 4 bytes"):
        parse_fixed_header(bytes.fromhex("30ffffffff01"))
    for cut in (b"", b"\x30", b"\x30\x80"):
        with pytest.raises(NeedMoreData):
            parse_fixed_header(cut)
    with pytest.raises(NeedMoreData):
        parse_packet(PUBLISH_QOS2_DUP_RETAIN[:-1], 4)


@pytest.mark.parametrize(("topic", "expected"), [
    ("spBv1.0/Plant1/DDATA/Edge1/Pump3", Sparkplug("Plant1", "DDATA", "Edge1", "Pump3", None)),
    ("spBv1.0/Plant1/NBIRTH/Edge1", Sparkplug("Plant1", "NBIRTH", "Edge1", None, None)),
    ("spBv1.0/STATE/scada-1", Sparkplug(None, "STATE", None, None, "scada-1")),
    ("spBv1.0/Plant1", None),
    ("spAv1.0/Plant1/DDATA/Edge1", None),
    ("factory/line1/temp", None),
])
def test_sparkplug_topics(topic: str, expected: Sparkplug | None) -> None:
    assert parse_sparkplug(topic) == expected


def test_probe() -> None:
    assert looks_like_mqtt_connect(CONNECT_V311_WILL_AND_CREDENTIALS)
    assert looks_like_mqtt_connect(SAMPLES[0])  # MQTT 3.1 "MQIsdp"
    assert not looks_like_mqtt_connect(PUBLISH_QOS2_DUP_RETAIN)
    assert not looks_like_mqtt_connect(bytes.fromhex("160301020001"))  # a TLS record
    assert not looks_like_mqtt_connect(b"")


# ---- Sparkplug B payloads (protobuf key = field number << 3 | wire type)
NBIRTH_PAYLOAD = SPARKPLUG_NBIRTH[32:]  # after the fixed header (3 bytes) and the topic (2 + 27)


def _metric(body: bytes) -> bytes:
    return b"\x12" + bytes([len(body)]) + body  # Payload.metrics (2, length-delimited)


def test_sparkplug_payload_keeps_string_integer_and_boolean_metrics() -> None:
    p = parse_packet(SPARKPLUG_NBIRTH, 4)
    assert p.payload_offset == 32 and p.payload_length == len(NBIRTH_PAYLOAD)
    payload = parse_sparkplug_payload(NBIRTH_PAYLOAD)
    # the Float "Supply Voltage" is walked, not kept
    assert payload.metrics == {"bdSeq": 0, "Properties/Hardware Make": "Raspberry Pi", "Properties/FW": "1.2",
                               "Temperature": -5}
    assert payload.metric_count == 5


@pytest.mark.parametrize(("metric", "expected"), [
    (bytes.fromhex("0a0142" "2001" "50ff01"), -1),  # Int8, int_value 0xff
    (bytes.fromhex("0a0142" "2006" "50ffff03"), 0xFFFF),  # UInt16 stays unsigned
    (bytes.fromhex("0a0142" "2004" "58ffffffffffffffffff01"), -1),  # Int64, long_value 2**64 - 1
    (bytes.fromhex("0a0142" "200b" "7001"), True),  # Boolean, boolean_value (14) 1
    (bytes.fromhex("0a0142" "200c" "7a0141" "3801"), None),  # String "A" but is_null (7) set: not kept
    (bytes.fromhex("0a0142" "2011" "820101ff"), None),  # Bytes, bytes_value (16): not kept
])
def test_sparkplug_metric_values(metric: bytes, expected: object) -> None:
    assert parse_sparkplug_payload(_metric(metric)).metrics.get("B") == expected


def test_sparkplug_payload_bounds() -> None:
    many = b"".join(_metric(b"\x0a\x04" + f"m{i:03d}".encode() + b"\x50\x01") for i in range(MAX_METRICS + 5))
    payload = parse_sparkplug_payload(many + _metric(b"\x0a\x04m000\x50\x02"))
    assert len(payload.metrics) == MAX_METRICS and payload.metric_count == MAX_METRICS + 6
    assert payload.metrics["m000"] == 1  # the first of a repeated name
    long_name = "n" * 300
    body = b"\x0a\xac\x02" + long_name.encode() + b"\x50\x01"
    (name,) = parse_sparkplug_payload(b"\x12" + bytes([len(body) & 0x7F | 0x80, len(body) >> 7]) + body).metrics
    assert name == "n" * MAX_TEXT


@pytest.mark.parametrize("payload", [
    bytes.fromhex("12020a03"),  # a metric of two bytes whose name claims three
    bytes.fromhex("1205"),  # metrics length 5, nothing follows
    bytes.fromhex("0b"),  # field 1, wire type 3 (start group)
    bytes.fromhex("00"),  # field number 0
    bytes.fromhex("1001"),  # metrics as a varint
    bytes.fromhex("08" + "ff" * 10 + "01"),  # varint longer than ten bytes
    b"ONLINE",  # Sparkplug 2.2 STATE text, not protobuf
])
def test_malformed_sparkplug_payloads(payload: bytes) -> None:
    with pytest.raises(Malformed):
        parse_sparkplug_payload(payload)


def test_sparkplug_payload_cut_short_keeps_the_metrics_before_the_cut() -> None:
    cut = NBIRTH_PAYLOAD[:60]  # inside Properties/Hardware Make
    with pytest.raises(Malformed):
        parse_sparkplug_payload(cut)
    assert parse_sparkplug_payload(cut, complete=False).metrics == {"bdSeq": 0}

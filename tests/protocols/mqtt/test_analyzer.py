"""MQTT analyzer: session state, acknowledgement matching, topic aliases, Sparkplug, large PUBLISH, limits."""

from __future__ import annotations

import struct

import pytest

from tests.protocols.mqtt.test_wire import (
    CONNACK_V5_ASSIGNED_CLIENT_ID,
    CONNECT_V311_WILL_AND_CREDENTIALS,
    PUBLISH_QOS2_DUP_RETAIN,
    PUBLISH_V5_ALIAS_ONLY,
    SUBACK_GRANTED_AND_FAILED,
    SUBSCRIBE_TWO_FILTERS,
)
from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.mqtt import analyzer as analyzer_module
from zonewarden.protocols.mqtt.analyzer import LARGE_PUBLISH, MqttAnalyzer
from zonewarden.protocols.mqtt.events import MqttEvent
from zonewarden.protocols.mqtt.samples import SAMPLES, SPARKPLUG_NBIRTH

CONNACK_OK = bytes.fromhex("20020000")
PINGREQ = bytes.fromhex("c000")


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 1, props: bytes | None = None) -> bytes:
    body = struct.pack("!H", len(topic)) + topic.encode()
    if qos:
        body += struct.pack("!H", packet_id)
    if props is not None:
        body += remaining_length(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1]) + remaining_length(len(body)) + body


def run(*parts: tuple[int, bytes]) -> tuple[list[MqttEvent], list[AnomalyEvent], MqttAnalyzer]:
    events: list[Event] = []
    analyzer = MqttAnalyzer(FlowContext("Ct", "10.0.0.1", "10.0.0.2", 50000, 1883), events.append)
    for frame, (direction, data) in enumerate(parts, start=1):
        if direction < 0:
            analyzer.gap(0, len(data), frame * 1000, frame)
        else:
            analyzer.data(direction, data, frame * 1000, frame)
    return ([e for e in events if isinstance(e, MqttEvent)], [e for e in events if isinstance(e, AnomalyEvent)],
            analyzer)


def test_session_client_id_level_and_matching() -> None:
    msgs, anomalies, _ = run((0, CONNECT_V311_WILL_AND_CREDENTIALS), (1, CONNACK_OK), (0, SUBSCRIBE_TWO_FILTERS),
                             (1, SUBACK_GRANTED_AND_FAILED), (0, PINGREQ), (1, bytes.fromhex("d000")))
    assert not anomalies
    assert [m.packet_name for m in msgs] == ["CONNECT", "CONNACK", "SUBSCRIBE", "SUBACK", "PINGREQ", "PINGRESP"]
    assert {m.client_id for m in msgs} == {"c01"} and {m.protocol_level for m in msgs} == {4}
    assert [m.request_frame for m in msgs] == [None, 1, None, 3, None, 5]
    assert (msgs[1].return_code, msgs[1].reason) == (0, "Connection Accepted")
    assert (msgs[3].topics, msgs[3].return_codes) == (["a/#", "x/+"], [1, 0x80])  # SUBACK: the request's topics
    assert msgs[0].username == "user" and msgs[0].password_present and "secret" not in repr(msgs)


def test_qos2_exchange_is_matched_step_by_step() -> None:
    msgs, _, _ = run((0, PUBLISH_QOS2_DUP_RETAIN), (1, bytes.fromhex("50020007")), (0, bytes.fromhex("62020007")),
                     (1, bytes.fromhex("70020007")))
    assert [m.packet_name for m in msgs] == ["PUBLISH", "PUBREC", "PUBREL", "PUBCOMP"]
    assert [m.request_frame for m in msgs] == [None, 1, 2, 3]
    assert (msgs[0].topic, msgs[0].qos, msgs[0].dup, msgs[0].retain, msgs[0].payload_length) == ("a/b", 2, True,
                                                                                                  True, 3)


def test_broker_assigned_client_id_and_topic_aliases() -> None:
    connect = SAMPLES[7]  # an MQTT 5 CONNECT
    define = publish("plant/temp", b"20", props=bytes.fromhex("230005"))
    msgs, _, _ = run((0, connect), (1, CONNACK_V5_ASSIGNED_CLIENT_ID), (0, define), (0, PUBLISH_V5_ALIAS_ONLY))
    assert msgs[1].client_id == "myvoiceismypassport"  # the CONNECT had one: an assigned id does not replace it
    assert [(m.topic, m.topic_alias) for m in msgs[2:]] == [("plant/temp", 5), ("plant/temp", 5)]
    empty_id = bytes.fromhex("100d" "00044d515454" "05" "02" "003c" "00" "0000")  # MQTT 5, empty client id
    msgs, _, _ = run((0, empty_id), (1, CONNACK_V5_ASSIGNED_CLIENT_ID), (0, PINGREQ))
    assert [m.client_id for m in msgs] == ["", "auto-1", "auto-1"]


def test_sparkplug_topic_fields() -> None:
    msgs, _, _ = run((0, publish("spBv1.0/Plant1/DDATA/Edge1/Pump3", b"\x08\x01")),
                     (0, publish("spBv1.0/STATE/scada-1", b"ONLINE")))
    ddata, state = msgs
    assert (ddata.sparkplug_group, ddata.sparkplug_message_type, ddata.sparkplug_edge_node,
            ddata.sparkplug_device) == ("Plant1", "DDATA", "Edge1", "Pump3")
    assert (state.sparkplug_message_type, state.sparkplug_host_id, state.sparkplug_group) == ("STATE", "scada-1",
                                                                                              None)


def test_sparkplug_birth_metrics() -> None:
    nbirth_payload = SPARKPLUG_NBIRTH[32:]
    msgs, anomalies, _ = run((0, SPARKPLUG_NBIRTH),
                             (0, publish("spBv1.0/Plant1/DBIRTH/Edge1/Pump3", nbirth_payload)),
                             (0, publish("spBv1.0/Plant1/NDATA/Edge1", nbirth_payload)),
                             (0, publish("spBv1.0/Plant1/NBIRTH/Edge1", b"ONLINE")))
    nbirth, dbirth, ndata, broken = msgs
    assert nbirth.sparkplug_metrics == dbirth.sparkplug_metrics == {
        "bdSeq": 0, "Properties/Hardware Make": "Raspberry Pi", "Properties/FW": "1.2", "Temperature": -5}
    assert ndata.sparkplug_metrics is None  # only births are decoded
    assert broken.sparkplug_metrics is None and broken.packet_name == "PUBLISH"
    assert [(a.anomaly, a.frame) for a in anomalies] == [("mqtt.malformed_sparkplug_payload", 4)]


def test_large_sparkplug_birth_is_read_from_its_head() -> None:
    metric = bytes.fromhex("120d" "0a0b") + b"Properties/"  # a metric (2) whose name alone fills it
    padding = metric * (LARGE_PUBLISH // len(metric) + 100)
    big = publish("spBv1.0/Plant1/NBIRTH/Edge1", SPARKPLUG_NBIRTH[32:] + padding)
    msgs, anomalies, _ = run(*[(0, big[i : i + 1460]) for i in range(0, len(big), 1460)])
    assert msgs[0].sparkplug_metrics is not None and msgs[0].sparkplug_metrics["Properties/FW"] == "1.2"
    assert not anomalies


def test_large_publish_payload_is_skipped_not_buffered() -> None:
    big = publish("cam/1", b"\xff" * (LARGE_PUBLISH * 3), qos=1, packet_id=9)
    stream = CONNECT_V311_WILL_AND_CREDENTIALS + big + PINGREQ
    segments = [(0, stream[i : i + 1460]) for i in range(0, len(stream), 1460)]
    events: list[Event] = []
    analyzer = MqttAnalyzer(FlowContext("Ct", "10.0.0.1", "10.0.0.2", 50000, 1883), events.append)
    most = 0
    for n, (direction, data) in enumerate(segments, start=1):
        analyzer.data(direction, data, n, n)
        most = max(most, len(analyzer._buf[0]))
    msgs = [e for e in events if isinstance(e, MqttEvent)]
    assert [(m.packet_name, m.topic, m.packet_id, m.payload_length) for m in msgs] == [
        ("CONNECT", None, None, None), ("PUBLISH", "cam/1", 9, LARGE_PUBLISH * 3), ("PINGREQ", None, None, None)]
    assert most < LARGE_PUBLISH + 1460 * 2


def test_gap_inside_a_skipped_payload_keeps_framing() -> None:
    big = publish("cam/1", b"\xff" * (LARGE_PUBLISH * 2))
    head, tail = big[: LARGE_PUBLISH + 100], big[LARGE_PUBLISH + 100 :]
    msgs, anomalies, _ = run((0, head), (-1, tail[:5000]), (0, tail[5000:] + PINGREQ))
    assert [m.packet_name for m in msgs] == ["PUBLISH", "PINGREQ"] and not anomalies


def test_after_a_gap_only_clean_packets_resume_the_stream() -> None:
    msgs, anomalies, _ = run((0, CONNECT_V311_WILL_AND_CREDENTIALS), (-1, b"lost" * 10),
                             (0, bytes.fromhex("8000") + b"garbage"), (0, PINGREQ))
    assert [m.packet_name for m in msgs] == ["CONNECT", "PINGREQ"] and not anomalies


def test_missing_connect_level_is_guessed_from_connack() -> None:
    v5_connack = CONNACK_V5_ASSIGNED_CLIENT_ID
    puback_v5 = bytes.fromhex("4004" "0007" "10" "00")
    msgs, anomalies, _ = run((1, v5_connack), (1, puback_v5))
    assert not anomalies
    assert (msgs[1].return_code, msgs[1].reason, msgs[1].protocol_level) == (0x10, "No matching subscribers", None)


def test_protocol_violations_are_anomalies_and_events() -> None:
    msgs, anomalies, _ = run((0, CONNECT_V311_WILL_AND_CREDENTIALS), (0, bytes.fromhex("3605" "0001" "61" "0001")))
    assert [a.anomaly for a in anomalies] == ["mqtt.invalid_qos"]
    assert msgs[1].qos == 3


def test_not_mqtt_is_handed_back() -> None:
    tls_hello = bytes.fromhex("16030100a5010000a10303") + bytes(160)
    msgs, anomalies, analyzer = run((0, tls_hello))
    assert analyzer.rejected and not msgs and not anomalies


def test_rule_breaking_packets_in_a_row_give_the_flow_up() -> None:
    bad = bytes.fromhex("8002" "0001")  # SUBSCRIBE with wrong flags and no filters
    _, anomalies, analyzer = run((0, CONNECT_V311_WILL_AND_CREDENTIALS), *[(0, bad)] * 10)
    assert analyzer.rejected and len(anomalies) == 8


def test_outstanding_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyzer_module, "MAX_OUTSTANDING", 2)
    pubs = [(0, publish("t", b"x", qos=1, packet_id=i)) for i in range(1, 5)]
    _, _, analyzer = run(*pubs)
    assert [k[2] for k in analyzer._pending] == [3, 4]


def test_oversized_non_publish_breaks_framing() -> None:
    huge_subscribe = bytes([0x82]) + remaining_length(2 << 20) + b"\x00\x01"
    msgs, anomalies, _ = run((0, CONNECT_V311_WILL_AND_CREDENTIALS), (0, huge_subscribe))
    assert [a.anomaly for a in anomalies] == ["mqtt.malformed_framing"] and len(msgs) == 1

"""MQTT 3.1/3.1.1/5.0 over TCP (port 1883; a CONNECT is recognised on any port). 8883 is MQTT over TLS."""

from zonewarden.protocols.base import AnalyzerSpec
from zonewarden.protocols.mqtt.analyzer import MqttAnalyzer
from zonewarden.protocols.mqtt.events import MqttEvent
from zonewarden.protocols.mqtt.samples import SAMPLES
from zonewarden.protocols.mqtt.wire import looks_like_mqtt_connect, parse_packet
from zonewarden.protocols.mqtt.wire_sparkplug import parse_sparkplug_payload


def _fuzz(data: bytes) -> object:
    """Every way the analyzer decodes bytes: a packet as MQTT 3.1.1 and as MQTT 5 (properties, reason codes),
    and a Sparkplug B payload, whole or cut short."""
    return (parse_packet(data, 4), parse_packet(data, 5), parse_sparkplug_payload(data),
            parse_sparkplug_payload(data, complete=False))


SPECS = (AnalyzerSpec(
    name="mqtt",
    transport="tcp",
    factory=MqttAnalyzer,
    events=(MqttEvent,),
    ports=frozenset({1883}),
    probe=looks_like_mqtt_connect,
    wire_parse=_fuzz,
    samples=SAMPLES,
),)

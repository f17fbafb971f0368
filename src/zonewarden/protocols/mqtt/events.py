"""The event the MQTT analyzer emits (one per control packet)."""

from __future__ import annotations

from zonewarden.model.events import Event


class MqttEvent(Event, kw_only=True):
    """One MQTT 3.1/3.1.1/5.0 control packet. ``is_response`` is true for packets the broker (server) side
    sends. Passwords are never recorded, nor are message payloads, except the metrics of Sparkplug B birth
    certificates (``sparkplug_metrics``)."""

    proto: str = "mqtt"
    packet_type: int
    """Control packet type: 1 CONNECT, 2 CONNACK, 3 PUBLISH, 4 PUBACK ... 14 DISCONNECT, 15 AUTH."""
    packet_name: str
    """``CONNECT``, ``PUBLISH``... (``unknown-N`` for reserved types)."""
    client_id: str | None = None
    """The session's client identifier: from the CONNECT (or the broker-assigned one when the CONNECT's
    was empty), repeated on every packet of the connection."""
    topic: str | None = None
    """PUBLISH topic name (MQTT 5 topic aliases resolved)."""
    qos: int | None = None
    """PUBLISH QoS level (0, 1, 2)."""
    retain: bool | None = None
    """PUBLISH retain flag."""
    dup: bool | None = None
    """PUBLISH duplicate-delivery flag."""
    packet_id: int | None = None
    """Packet identifier (PUBLISH with QoS > 0, acknowledgements, SUBSCRIBE/UNSUBSCRIBE and their ACKs)."""
    payload_length: int | None = None
    """PUBLISH application message length in bytes (the message itself is not kept)."""
    protocol_name: str | None = None
    """CONNECT protocol name: ``MQTT`` (3.1.1, 5.0) or ``MQIsdp`` (3.1)."""
    protocol_level: int | None = None
    """Protocol level: 3 (MQTT 3.1), 4 (3.1.1), 5 (5.0); from the CONNECT, repeated on later packets."""
    clean_session: bool | None = None
    """CONNECT clean session (MQTT 5: clean start) flag."""
    keep_alive: int | None = None
    """CONNECT keep alive in seconds."""
    username: str | None = None
    """CONNECT user name."""
    password_present: bool | None = None
    """CONNECT carries a password (its value is never recorded)."""
    will_topic: str | None = None
    """CONNECT will topic."""
    will_qos: int | None = None
    """CONNECT will QoS."""
    will_retain: bool | None = None
    """CONNECT will retain flag."""
    session_present: bool | None = None
    """CONNACK session present flag."""
    return_code: int | None = None
    """CONNACK return code; MQTT 5 reason code of CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT, AUTH
    (null when the packet omits it, which means success)."""
    reason: str | None = None
    """The return/reason code's name, e.g. ``Connection Accepted``, ``Not authorized``."""
    topics: list[str] | None = None
    """SUBSCRIBE/UNSUBSCRIBE topic filters; on SUBACK/UNSUBACK those of the matched request."""
    qos_levels: list[int] | None = None
    """SUBSCRIBE requested QoS of each topic filter."""
    return_codes: list[int] | None = None
    """SUBACK return codes (granted QoS or failure 0x80) and MQTT 5 UNSUBACK reason codes, per topic filter."""
    topic_alias: int | None = None
    """MQTT 5 PUBLISH topic alias."""
    auth_method: str | None = None
    """MQTT 5 authentication method (CONNECT, CONNACK, AUTH), e.g. ``SCRAM-SHA-1``."""
    reason_string: str | None = None
    """MQTT 5 reason string property."""
    content_type: str | None = None
    """MQTT 5 PUBLISH content type property."""
    sparkplug_group: str | None = None
    """Sparkplug B group id (topic ``spBv1.0/<group>/<type>/<edge node>[/<device>]``)."""
    sparkplug_message_type: str | None = None
    """Sparkplug B message type: NBIRTH, NDEATH, DBIRTH, DDEATH, NDATA, DDATA, NCMD, DCMD or STATE."""
    sparkplug_edge_node: str | None = None
    """Sparkplug B edge node id."""
    sparkplug_device: str | None = None
    """Sparkplug B device id (device-level messages)."""
    sparkplug_host_id: str | None = None
    """Sparkplug B host application id (``spBv1.0/STATE/<host id>``)."""
    sparkplug_metrics: dict[str, str | int | bool] | None = None
    """Sparkplug B birth certificates (NBIRTH: the edge node's, DBIRTH: a device's behind it): the metrics
    with a string, integer or boolean value by name, e.g. ``{"Properties/Hardware Make": "Opto 22",
    "Node Control/Rebirth": false}``. Integers are signed for the Int8..Int64 datatypes; float, bytes,
    dataset and template values are not kept. At most 256 metrics (the first of a repeated name), names and
    texts cut to 256 characters; null when the payload is no Sparkplug payload (an anomaly says why)."""
    request_frame: int | None = None
    """For acknowledgements (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP): the frame of
    the packet they answer."""

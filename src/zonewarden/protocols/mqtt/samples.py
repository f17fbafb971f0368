"""Real MQTT packets (Zeek's mqtt.pcap, MQTT 3.1; suricata-verify MQTT 5 captures) and a Sparkplug B NBIRTH,
seeding the conformance suite's mutation fuzzing and the unit tests."""

# No corpus capture carries Sparkplug B: an NBIRTH written from the Eclipse Sparkplug 3.0 specification
# (sparkplug_b.proto; protobuf key = field << 3 | wire type), its metrics in the spec example's style.
SPARKPLUG_NBIRTH = bytes.fromhex(
    "30" "a701"  # PUBLISH QoS 0, remaining length 167
    "001b" "73704276312e302f506c616e74312f4e42495254482f4564676531"  # topic spBv1.0/Plant1/NBIRTH/Edge1
    "08" "eaf2f5a8a02b"  # Payload.timestamp (1, varint) 1486144502122
    "120b" "0a05" "6264536571" "2008" "5800"  # metric (2, 11 bytes): name bdSeq, datatype 8 UInt64, long_value 0
    "122a" "0a18" "50726f706572746965732f4861726477617265204d616b65"  # metric, name Properties/Hardware Make
    "200c" "7a0c" "526173706265727279205069"  # datatype 12 String, string_value (15) "Raspberry Pi"
    "1216" "0a0d" "50726f706572746965732f4657" "200c" "7a03" "312e32"  # Properties/FW, String "1.2"
    "1215" "0a0b" "54656d7065726174757265"  # metric, name Temperature
    "2003" "50" "fbffffff0f"  # datatype 3 Int32, int_value (10) 0xfffffffb: -5
    "1217" "0a0e" "537570706c7920566f6c74616765" "2009" "65" "9a994141"  # Supply Voltage, Float 12.1 (fixed32)
    "1800"  # Payload.seq (3) 0
)

SAMPLES: tuple[bytes, ...] = (
    # MQTT 3.1 CONNECT "MQIsdp" level 3, clean session, keep alive 5, client id paho/34AAE54A75D839566E
    bytes.fromhex("102500064d51497364700302000500177061686f2f333441414535344137354438333935363645"),
    bytes.fromhex("20020000"),  # CONNACK accepted
    bytes.fromhex("82100001000b53616d706c65546f70696300"),  # SUBSCRIBE id 1 SampleTopic QoS 0
    bytes.fromhex("9003000100"),  # SUBACK id 1 granted QoS 0
    # PUBLISH retain QoS 0 SampleTopic "Hello from the Paho blocking client"
    bytes.fromhex("3130000b53616d706c65546f70696348656c6c6f2066726f6d20746865205061686f20626c6f636b696e6720636c69656e74"),
    bytes.fromhex("c000"),  # PINGREQ
    bytes.fromhex("e000"),  # DISCONNECT
    # MQTT 5 CONNECT with will, will properties, user properties, user name and password (mosquitto)
    bytes.fromhex(
        "10cc0100044d51545405c6003c3c2700002b672100de110000022b22029a2600097573657270726f703100087573657276616c31"
        "2600097573657270726f703200087573657276616c3200136d79766f69636569736d7970617373706f72744b03000a6d7977696c"
        "6c74797065090007313233343536370200000085019008000f726573706f6e73655f746f706963312600097573657270726f7035"
        "00087573657276616c3518000000c8000977696c6c746f706963000b77696c6c6d657373616765000475736572000470617373"
    ),
    bytes.fromhex("200600000322000a"),  # MQTT 5 CONNACK with topic alias maximum 10
    # MQTT 5 PUBLISH QoS 1 with properties (content type, correlation data, response topic, user property)
    bytes.fromhex(
        "325e0006746f706963580001430300066d79747970650900053132333435020000004d015808000f726573706f6e73655f746f70"
        "6963312300052600097573657270726f703300087573657276616c33626161626161626c61636b7368656570"
    ),
    bytes.fromhex("4003000110"),  # MQTT 5 PUBACK id 1 reason 0x10 no matching subscribers
    bytes.fromhex("a20b0002000006746f70696358"),  # MQTT 5 UNSUBSCRIBE id 2 topicX
    bytes.fromhex("b00400030011"),  # MQTT 5 UNSUBACK id 3 reason 0x11 no subscription existed
    bytes.fromhex("e00104"),  # MQTT 5 DISCONNECT with will message
    SPARKPLUG_NBIRTH,
)

"""Identity facts from protocol events: which message describes which device, and how sure we are."""

from __future__ import annotations

from typing import Any

import pytest

from zonewarden.inventory.identity import (
    APPLICATION,
    CLIENT_APPLICATION,
    CODE_NAMED,
    SELF_DESCRIBED,
    UNSURE_TARGET,
    bacnet,
    bacnet_subject,
    enip,
    mqtt,
    opcua,
    product_of_uri,
)


@pytest.mark.parametrize(("uri", "product"), [
    ("urn:kepware.com:KEPServerEX:V6", "KEPServerEX 6"),  # a version segment becomes a bare number
    ("urn:UnifiedAutomation:UaServerCpp", "UaServerCpp"),
    ("urn:prosysopc.com:OPCUA:SimulationServer", "OPCUA SimulationServer"),
    ("urn:opcfoundation.org/UA/ServerTest", "UA ServerTest"),
    ("https://github.com/azure-samples/iot-edge-opc-plc?x=1", "azure-samples iot-edge-opc-plc"),
    ("http://open62541.org", None),  # only an authority: no product named
    ("NodeOPCUA-Server", "NodeOPCUA-Server"),  # not a URI: the name itself
    ("  ", None),
    (None, None),
])
def test_product_of_an_opcua_product_uri(uri: str | None, product: str | None) -> None:
    assert product_of_uri(uri) == product


def _ua(**fields: Any) -> dict[str, Any]:
    return {"proto": "opcua", "is_response": True, "service": "GetEndpointsResponse", **fields}


def test_opcua_product_comes_from_the_product_uri_and_the_application_name_is_evidence() -> None:
    facts = opcua(_ua(application_uri="urn:opcua-1:Kepware.KEPServerEX.V6:UA Server",
                      product_uri="urn:kepware.com:KEPServerEX:V6", application_name="KEPServerEX/UA@opcua-1"))
    assert sorted(facts) == [("application_name", "KEPServerEX/UA@opcua-1", APPLICATION),
                             ("application_uri", "urn:opcua-1:Kepware.KEPServerEX.V6:UA Server", APPLICATION),
                             ("product_name", "KEPServerEX 6", APPLICATION),
                             ("product_uri", "urn:kepware.com:KEPServerEX:V6", APPLICATION)]


def test_opcua_application_name_is_the_product_when_the_product_uri_names_none() -> None:
    facts = opcua(_ua(is_response=False, service="CreateSessionRequest", application_uri="urn:open62541.client",
                      product_uri="http://open62541.org", application_name="open62541-based OPC UA Application"))
    assert ("product_name", "open62541-based OPC UA Application", CLIENT_APPLICATION) in facts


def _birth(kind: str, metrics: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    return {"proto": "mqtt", "is_response": False, "packet_name": "PUBLISH", "sparkplug_message_type": kind,
            "sparkplug_edge_node": "edge-water", "sparkplug_metrics": metrics, **fields}


PROPERTIES = {"bdSeq": 0, "Node Control/Rebirth": False, "Properties/Hardware Make": "Opto 22",
              "Properties/Hardware Model": "groov EPIC GRV-EPIC-PR1", "Properties/FW": "3.5.1",
              "Properties/Serial Number": 2094217, "Pump/Vibration": 3}


def test_sparkplug_nbirth_properties_describe_the_edge_node() -> None:
    assert sorted(mqtt(_birth("NBIRTH", PROPERTIES))) == [
        ("firmware", "3.5.1", SELF_DESCRIBED), ("product_name", "groov EPIC GRV-EPIC-PR1", SELF_DESCRIBED),
        ("serial", "2094217", SELF_DESCRIBED), ("vendor", "Opto 22", SELF_DESCRIBED)]


def test_sparkplug_dbirth_properties_describe_a_device_behind_the_edge_node() -> None:
    facts = mqtt(_birth("DBIRTH", {"Properties/Hardware Make": "Siemens", "Properties/FW": "V4.5"},
                        sparkplug_device="Pump3"))
    assert facts == [("routed_device", "sparkplug device edge-water/Pump3: Siemens fw V4.5", SELF_DESCRIBED)]


@pytest.mark.parametrize("event", [
    _birth("NBIRTH", PROPERTIES, is_response=True),  # the broker forwarding the birth to a subscriber
    _birth("NDATA", PROPERTIES),
    _birth("NBIRTH", None),  # not a Sparkplug payload
    _birth("DBIRTH", {"Pump/Vibration": 3}, sparkplug_device="Pump3"),
    _birth("NBIRTH", {"Properties/Hardware Make": True, "Properties/FW": " "}),
])
def test_sparkplug_messages_without_identity_of_their_sender(event: dict[str, Any]) -> None:
    assert mqtt(event) == []


# An Identity object reply over a CIP connection (SendUnitData), as the enip analyzer reports it
L61_IDENTITY = {"proto": "enip", "is_response": True, "command": 0x70, "command_name": "send_unit_data",
                "vendor_id": 1, "vendor_name": "Rockwell Automation/Allen-Bradley", "device_type": 14,
                "device_type_name": "programmable_logic_controller", "product_code": 54, "revision_major": 16,
                "revision_minor": 20, "serial_number": 0x0051823F, "product_name": "1756-L61/B LOGIX5561"}


def test_connected_identity_reply_on_a_routed_connection_is_a_routed_device_note() -> None:
    assert enip({**L61_IDENTITY, "route_path": "0100"}) == [
        ("routed_device", "cip route 0100: Rockwell Automation/Allen-Bradley 1756-L61/B LOGIX5561 rev 16.020 "
                          "serial 0x0051823f", SELF_DESCRIBED)]


def test_connected_identity_reply_without_a_route_is_the_senders_but_unsure() -> None:
    assert sorted(enip(L61_IDENTITY)) == [
        ("device_type", "programmable_logic_controller", UNSURE_TARGET), ("firmware", "16.020", UNSURE_TARGET),
        ("product_code", "54", UNSURE_TARGET), ("product_name", "1756-L61/B LOGIX5561", UNSURE_TARGET),
        ("serial", "0x0051823f", UNSURE_TARGET), ("vendor", "Rockwell Automation/Allen-Bradley", UNSURE_TARGET),
        ("vendor_id", 1, UNSURE_TARGET)]


def _i_am(**fields: Any) -> dict[str, Any]:
    return {"proto": "bacnet", "src": "192.168.0.24", "service": "i_am", "device_instance": 123, "vendor_id": 260,
            "vendor": "BACnet Stack at SourceForge", **fields}


def test_a_forwarded_npdu_speaks_for_the_device_its_bvlc_header_names() -> None:
    forwarded = _i_am(forwarded_ip="192.168.0.105")
    assert bacnet_subject(forwarded) == "192.168.0.105"
    assert sorted(bacnet(forwarded)) == [("vendor", "BACnet Stack at SourceForge", CODE_NAMED),
                                         ("vendor_id", 260, SELF_DESCRIBED)]
    assert bacnet_subject(_i_am(forwarded_ip="192.168.0.24")) is None  # the BBMD forwarding its own message
    assert bacnet_subject(_i_am()) is None

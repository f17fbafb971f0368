"""Role rules: each case is the behaviour a real device shows on the wire and the role a user expects."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from zonewarden.inventory.protection_relays import protection_relay
from zonewarden.inventory.roles import Behaviour, infer_role, response_marks, sender_marks


def role(**behaviour: Any) -> tuple[str, float | None, bool, str]:
    decision = infer_role(Behaviour(**behaviour))
    assert decision is not None
    return decision.role, decision.purdue_level, decision.fixed, decision.reason


def modbus_answer(unit: int, exception: int | None = None, function: int | None = 3) -> dict[str, Any]:
    return {"proto": "modbus", "is_response": True, "unit_id": unit, "exception_code": exception,
            "function_code": function}


def test_an_opc_ua_server_that_polls_controllers_is_still_an_opc_server() -> None:
    # KEPServerEX, RSLinx Enterprise, Matrikon: collect from PLCs, serve OPC UA to SCADA and historians.
    name, level, fixed, reason = role(served={"opcua"}, used={"enip", "s7comm"},
                                      polled={"enip": {"10.0.1.11"}, "s7comm": {"10.0.1.12"}})
    assert (name, level, fixed) == ("opc_server", 2, True)
    assert "enip, s7comm" in reason


def test_a_scada_server_is_a_client_polling_many_controllers() -> None:
    polled = {"dnp3": {"10.2.0.11", "10.2.0.12"}, "iec104": {"10.2.0.20"}, "modbus": {"10.1.0.20"},
              "opcua": {"10.0.2.20"}, "mqtt": {"10.0.3.30"}}
    name, _, _, reason = role(used=set(polled), polled=polled)
    assert name == "scada_server" and reason.startswith("polls 5 controllers")  # the MQTT broker is no controller
    assert role(used={"modbus"}, polled={"modbus": {"10.1.0.11", "10.1.0.12"}})[0] == "hmi"


def test_a_historian_replica_pulls_pi_to_pi_and_serves_https() -> None:
    name, level, fixed, reason = role(ports_used={5450}, ports_served={443}, servers=1)
    assert (name, level, fixed) == ("historian", 3, False)
    assert "PI-to-PI" in reason and "HTTPS" in reason


def test_a_pi_client_alone_is_not_a_historian() -> None:
    """PI ProcessBook and PI SDK clients connect to 5450 too; only serving the data on makes a replica."""
    assert role(ports_used={5450, 443}, servers=2)[0] == "it_host"


@pytest.mark.parametrize("exception", [10, 11])
def test_a_modbus_server_answering_gateway_exceptions_is_a_gateway(exception: int) -> None:
    marks = set(response_marks(modbus_answer(7, exception, 0x83)))
    name, level, fixed, reason = role(served={"modbus"}, marks=marks)
    assert (name, level, fixed) == ("iot_gateway", 1, True)
    assert f"0x0{exception:X}" in reason


def test_a_modbus_server_answering_for_several_unit_ids_is_a_gateway() -> None:
    marks = {m for unit in (1, 2, 3, 255) for m in response_marks(modbus_answer(unit))}
    assert marks == {"modbus_unit:1", "modbus_unit:2", "modbus_unit:3"}  # 255 addresses the TCP device itself
    name, level, _, reason = role(served={"modbus"}, marks=marks)
    assert (name, level) == ("iot_gateway", 1) and "1, 2, 3" in reason


def test_a_modbus_plc_answering_one_unit_id_stays_a_plc() -> None:
    marks = {m for unit in (1, 255) for m in response_marks(modbus_answer(unit))}
    assert role(served={"modbus"}, marks=marks)[:3] == ("plc", 1, True)


def test_only_modbus_answers_mark_their_sender() -> None:
    assert response_marks({**modbus_answer(1), "is_response": False}) == ()
    assert response_marks({**modbus_answer(1), "proto": "dnp3"}) == ()
    assert response_marks(modbus_answer(1, 2, 0x83)) == ()  # illegal data address: any server says that


def test_a_dnp3_outstation_naming_a_protection_relay_is_an_ied() -> None:
    name, level, fixed, reason = role(served={"dnp3"}, products=["SEL-751 Feeder Protection Relay"])
    assert (name, level, fixed) == ("ied", 1, True)
    assert "SEL-751" in reason
    assert role(served={"dnp3"}, products=["SEL-3530 RTAC"])[0] == "rtu"
    assert role(served={"modbus"}, products=["Multilin 850"])[0] == "ied"


@pytest.mark.parametrize("product", ["SEL-751A", "SEL-311C", "SEL-421", "SEL-547", "GE Multilin 850", "REF615",
                                     "RET 670", "SIPROTEC 5", "7SJ82", "Feeder protection relay"])
def test_protection_relay_families(product: str) -> None:
    assert protection_relay([product]) is not None


@pytest.mark.parametrize("product", ["SEL-3530 RTAC", "SEL-2411", "SEL-3620", "RTU560 560CMU05", "CPU 1214C",
                                     "PFC200 750-8212", "relay output module"])
def test_not_protection_relays(product: str) -> None:
    assert protection_relay([product]) is None


def test_a_bacnet_device_polling_several_others_is_the_supervisory_controller() -> None:
    devices = {"10.4.0.21", "10.4.0.22", "10.4.0.23"}
    name, level, fixed, _ = role(served={"bacnet"}, used={"bacnet"}, polled={"bacnet": devices})
    assert (name, level, fixed) == ("scada_server", 2, True)
    assert role(used={"bacnet"}, polled={"bacnet": devices})[0] == "scada_server"


def test_a_bacnet_controller_reading_a_peer_stays_a_controller() -> None:
    assert role(served={"bacnet"}, used={"bacnet"}, polled={"bacnet": {"10.4.0.21"}})[0] == "plc"


def cotp_connect(tsap: str, proto: str = "s7comm_plus", response: bool = False) -> dict[str, Any]:
    """A COTP connection request (CR) or confirm (CC) as the ISO-on-TCP analyzer reports it; ``proto`` is what
    the connection went on to speak."""
    return {"proto": proto, "kind": "message", "src": "10.0.3.20", "dst": "10.0.1.12", "is_response": response,
            "pdu_type": 0x0D if response else 0x0E, "dst_tsap_text": tsap}


def test_a_connection_to_the_engineering_tsap_marks_its_client() -> None:
    assert sender_marks(cotp_connect("SIMATIC-ROOT-ES")) == ("engineering_connection:SIMATIC-ROOT-ES:10.0.1.12",)
    assert sender_marks(cotp_connect("SIMATIC-ROOT-HMI")) == ()  # WinCC
    assert sender_marks(cotp_connect("SIMATIC-ROOT-ES", response=True)) == ()  # the CPU's confirm
    assert sender_marks(cotp_connect("SIMATIC-ROOT-ES", proto="s7comm")) == ()  # no S7comm-plus followed
    assert sender_marks(modbus_answer(2)) == response_marks(modbus_answer(2))


def test_tia_portal_going_online_is_an_engineering_workstation() -> None:
    """Going online reads and explores; it downloads nothing, but only the engineering system opens this."""
    marks = set(sender_marks(cotp_connect("SIMATIC-ROOT-ES")))
    polled = {"s7comm_plus": {"10.0.1.12"}}
    name, level, fixed, reason = role(used={"s7comm_plus"}, polled=polled, marks=marks,
                                      client_ops=Counter(session=3, diagnostics=2, write=1))
    assert (name, level, fixed) == ("engineering_workstation", 3, False)
    assert reason == "opens TIA Portal engineering connections (SIMATIC-ROOT-ES) to 10.0.1.12"
    assert role(used={"s7comm_plus"}, polled=polled, client_ops=Counter(session=3, read=9, write=1))[0] == "hmi"


def test_an_engineering_workstation_with_both_reasons_and_many_controllers() -> None:
    marks = {f"engineering_connection:SIMATIC-ROOT-ES:10.0.1.{n}" for n in range(11, 16)}
    reason = role(used={"s7comm_plus"}, marks=marks, client_ops=Counter(program=4))[3]
    assert reason == ("performs program operations on controllers (s7comm_plus); opens TIA Portal engineering "
                      "connections (SIMATIC-ROOT-ES) to 10.0.1.11, 10.0.1.12, 10.0.1.13 and 2 more")


def test_roles_that_do_not_fix_a_level() -> None:
    ews = role(used={"s7comm"}, client_ops=Counter(program=1), polled={"s7comm": {"10.0.1.11"}})
    assert ews[0] == "engineering_workstation" and not ews[2]
    assert role(served={"mqtt"})[:3] == ("iot_gateway", 2, False)
    assert role(ports_served={445})[:3] == ("it_host", 4, False)
    assert role(forwards_for=6)[:3] == ("network_device", None, False)
    assert infer_role(Behaviour()) is None

"""Operation class of each request: read, write, program, diagnostics, control, file transfer, session.

The vocabulary of the communication map and of detection: it says what a client *does* to a server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zonewarden.model.events import field_of as _g

Classifier = Callable[[Any], str | None]

_MODBUS = {**dict.fromkeys((1, 2, 3, 4, 7, 11, 12, 20, 24), "read"),
           **dict.fromkeys((5, 6, 15, 16, 21, 22, 23), "write"),
           **dict.fromkeys((8, 17, 43), "diagnostics"), 90: "program"}
# S7comm job functions: 0x04 read var, 0x05 write var, 0x1a-0x1f download/upload, 0x28 PI (start,
# compress, copy...), 0x29 PLC stop, 0xf0 setup communication.
_S7 = {0x04: "read", 0x05: "write", 0x1A: "program", 0x1B: "program", 0x1C: "program", 0x1D: "program",
       0x1E: "program", 0x1F: "program", 0x28: "control", 0x29: "control", 0xF0: "session"}
# S7comm-plus request functions, as named by Wireshark's s7comm_plus plugin (Thomas Wiens). It has no
# download function: TIA Portal loads blocks inside a transaction on the CPU's object store that
# BeginSequence opens and EndSequence closes (the plugin names the store-transaction errors), creating each
# block with CreateObject in between; the plugin's trace S7-1200-Uploading-OB1-TIAV12 begins a
# "DLTransaction", sends the OB "Main" with its compressed code and ends the sequence. Explore and
# GetVarSubStreamed are TIA Portal looking the CPU over (its object tree, its I&M0 identification record),
# as S7comm's SZL and block-list reads are. The session setup is a SetMultiVariables on the session object,
# so every session counts one write.
_S7PLUS = {
    0x054C: "read",  # GetMultiVariables
    0x04FC: "read",  # GetVariable
    0x0524: "read",  # GetLink: the link id a watch table then reads variables from
    0x0542: "write",  # SetMultiVariables
    0x04F2: "write",  # SetVariable (also the CPU's operating state: its attribute is not in the event)
    0x057C: "write",  # SetVarSubStreamed
    0x04BB: "diagnostics",  # Explore
    0x0586: "diagnostics",  # GetVarSubStreamed
    0x0556: "program",  # BeginSequence
    0x0560: "program",  # EndSequence
    0x04CA: "session",  # CreateObject
    0x04D4: "session",  # DeleteObject
    0x05B3: "session",  # InitSSL (TLS on port 102, TIA Portal V17 and later)
    0x056B: "control",  # Invoke: a method of a CPU object
}
_S7PLUS_REQUEST = 0x31  # opcode; responses (0x32, 0x02) and notifications (0x33) perform nothing
_S7PLUS_SESSION_VERSIONS = (0xFE, 0xFF)  # system events and keep-alives have no opcode: they hold the session
_DNP3 = {1: "read", 2: "write", 3: "control", 4: "control", 5: "control", 6: "control", 7: "control",
         8: "control", 9: "control", 10: "control", 11: "control", 12: "control", 13: "control", 14: "control",
         15: "control", 16: "control", 17: "control", 18: "control", 19: "control", 20: "control", 21: "control",
         22: "control", 23: "diagnostics", 24: "control", 25: "file_transfer", 26: "file_transfer",
         27: "file_transfer", 28: "file_transfer", 29: "file_transfer", 30: "file_transfer", 31: "file_transfer",
         32: "session", 33: "session"}
_CIP = {0x01: "read", 0x0E: "read", 0x03: "read", 0x4C: "read", 0x52: "read", 0x02: "write", 0x10: "write",
        0x04: "write", 0x4D: "write", 0x4E: "session", 0x54: "session", 0x5B: "session", 0x05: "control",
        0x06: "control", 0x07: "control", 0x0A: "other"}


def modbus(e: Any) -> str | None:
    return _MODBUS.get(_g(e, "function_code") or -1, "other")


def s7comm(e: Any) -> str | None:
    if _g(e, "rosctr") == 7:
        return "diagnostics"
    return _S7.get(_g(e, "function") or -1, "other")


def s7comm_plus(e: Any) -> str | None:
    if _g(e, "pdu_type") is not None:
        return "session"  # the connection's COTP connect or disconnect
    opcode = _g(e, "opcode")
    if opcode is None:
        return "session" if _g(e, "version") in _S7PLUS_SESSION_VERSIONS else "other"
    return _S7PLUS.get(_g(e, "function") or -1, "other") if opcode == _S7PLUS_REQUEST else None


def dnp3(e: Any) -> str | None:
    fc = _g(e, "function_code")
    return None if fc is None else _DNP3.get(fc, "other")


def enip(e: Any) -> str | None:
    service = _g(e, "cip_service")
    if service is None:
        return "diagnostics" if _g(e, "command") in (0x63, 0x64, 0x04) else "session"
    if _g(e, "cip_class") == 0x37:
        return "file_transfer"
    return _CIP.get(service & 0x7F, "other")


def iec104(e: Any) -> str | None:
    t = _g(e, "type_id")
    if t is None:
        return "session"
    if 45 <= t <= 69:
        return "control"
    if t in (100, 101, 102):
        return "read"
    if t in (103, 104, 105, 106, 107):
        return "control"
    if 110 <= t <= 113:
        return "write"
    if 120 <= t <= 127:
        return "file_transfer"
    return "read"


def bacnet(e: Any) -> str | None:
    service = str(_g(e, "service") or "")
    if "cov_notification" in service:
        return "read"  # the present values the subscriber asked to be sent
    if "read" in service and "file" not in service:
        return "read"
    if "write" in service and "file" not in service:
        return "write"
    if "file" in service:
        return "file_transfer"
    if service in ("reinitialize_device", "device_communication_control"):
        return "control"
    if service in ("who_is", "i_am", "who_has", "i_have"):
        return "diagnostics"
    return "other"


def opcua(e: Any) -> str | None:
    service = str(_g(e, "service") or "").lower()
    if "write" in service:
        return "write"
    if "call" in service:
        return "control"
    if any(k in service for k in ("read", "browse", "publish", "monitored", "subscription")):
        return "read"
    return "session"


def mqtt(e: Any) -> str | None:
    kind = str(_g(e, "packet_type") or "").lower()
    if kind == "publish":
        return "write"
    if kind in ("subscribe", "unsubscribe"):
        return "read"
    return "session"


def profinet_dcp(e: Any) -> str | None:
    return "write" if _g(e, "service_id") in (4, "set") else "diagnostics"


CLASSIFIERS: dict[str, Classifier] = {
    "modbus": modbus, "s7comm": s7comm, "s7comm_plus": s7comm_plus, "dnp3": dnp3, "enip": enip, "iec104": iec104,
    "bacnet": bacnet, "opcua": opcua, "mqtt": mqtt, "profinet_dcp": profinet_dcp,
}


# S7comm functions whose jobs the server sends inside an operation of its client: in a download the PLC,
# after the programming device's "request download" (0x1a), asks it for each block (0x1b) and says when it
# has them all (0x1c); the programming device answers. The operation is the programming device's.
S7_ASKED_BY_SERVER = frozenset({0x1B, 0x1C})


# BACnet notifications: the device a client subscribed to (SubscribeCOV, event enrollment) sends them to the
# subscriber, which acknowledges the confirmed ones. The subscription, and the values it brings, are the
# subscriber's.
BACNET_NOTIFICATIONS = frozenset({
    "confirmed_cov_notification", "confirmed_cov_notification_multiple", "confirmed_event_notification",
    "unconfirmed_cov_notification", "unconfirmed_cov_notification_multiple", "unconfirmed_event_notification"})


def on_behalf_of_peer(e: Any) -> bool:
    """The message's request/response roles are the reverse of who runs the operation (an S7 download's
    block transfer, a BACnet notification to a subscriber): the inventory counts it as the peer's request,
    or the answer to it."""
    proto = _g(e, "proto")
    if proto == "s7comm":
        return _g(e, "rosctr") in (1, 2, 3) and _g(e, "function") in S7_ASKED_BY_SERVER
    return proto == "bacnet" and _g(e, "service") in BACNET_NOTIFICATIONS


def operation(e: Any) -> str | None:
    """The operation a request performs; None for responses and unknown protocols."""
    if _g(e, "is_response") or _g(e, "kind") != "message":
        return None
    classify = CLASSIFIERS.get(str(_g(e, "proto")))
    return classify(e) if classify else None

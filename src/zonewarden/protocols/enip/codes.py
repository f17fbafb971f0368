"""EtherNet/IP and CIP code tables (ODVA CIP Vol. 1 and Vol. 2). Unknown codes read ``unknown-N``.

Names are snake_case so rules can match them. The vendor table is deliberately compact: the vendors
seen in the corpus and the large automation vendors, with ids checked against Wireshark 4.0's CIP
vendor value strings (``tshark -G values``); the asset inventory ships the full table as data.
"""

from __future__ import annotations

# Encapsulation commands (CIP Vol. 2, 2-3.2).
NOP = 0x0000
LIST_SERVICES = 0x0004
LIST_IDENTITY = 0x0063
LIST_INTERFACES = 0x0064
REGISTER_SESSION = 0x0065
UNREGISTER_SESSION = 0x0066
SEND_RR_DATA = 0x006F
SEND_UNIT_DATA = 0x0070
START_DTLS = 0x00C8

COMMANDS: dict[int, str] = {
    NOP: "nop", LIST_SERVICES: "list_services", LIST_IDENTITY: "list_identity", LIST_INTERFACES: "list_interfaces",
    REGISTER_SESSION: "register_session", UNREGISTER_SESSION: "unregister_session", SEND_RR_DATA: "send_rr_data",
    SEND_UNIT_DATA: "send_unit_data", START_DTLS: "start_dtls",
}

# The list commands' request carries no data; their reply carries items (how a reply is told apart
# from a request over UDP, where both ends may use port 44818).
LIST_COMMANDS = frozenset({LIST_SERVICES, LIST_IDENTITY, LIST_INTERFACES})

ENCAP_STATUS: dict[int, str] = {
    0x0000: "success", 0x0001: "invalid_command", 0x0002: "insufficient_memory", 0x0003: "incorrect_data",
    0x0064: "invalid_session_handle", 0x0065: "invalid_length", 0x0069: "unsupported_protocol_revision",
    0x006A: "encapsulated_cip_service_not_allowed_on_this_port",
}

# Common Packet Format item type ids (CIP Vol. 2, 2-6).
CPF_NULL_ADDRESS = 0x0000
CPF_LIST_IDENTITY = 0x000C
CPF_CONNECTED_ADDRESS = 0x00A1
CPF_CONNECTED_DATA = 0x00B1
CPF_UNCONNECTED_DATA = 0x00B2
CPF_LIST_SERVICES = 0x0100
CPF_SOCKADDR_OT = 0x8000
CPF_SOCKADDR_TO = 0x8001
CPF_SEQUENCED_ADDRESS = 0x8002

# CIP common services (CIP Vol. 1, Appendix A).
GET_ATTRIBUTES_ALL = 0x01
SET_ATTRIBUTES_ALL = 0x02
GET_ATTRIBUTE_LIST = 0x03
SET_ATTRIBUTE_LIST = 0x04
MULTIPLE_SERVICE_PACKET = 0x0A
GET_ATTRIBUTE_SINGLE = 0x0E
SET_ATTRIBUTE_SINGLE = 0x10

COMMON_SERVICES: dict[int, str] = {
    0x01: "get_attributes_all", 0x02: "set_attributes_all", 0x03: "get_attribute_list", 0x04: "set_attribute_list",
    0x05: "reset", 0x06: "start", 0x07: "stop", 0x08: "create", 0x09: "delete", 0x0A: "multiple_service_packet",
    0x0D: "apply_attributes", 0x0E: "get_attribute_single", 0x10: "set_attribute_single",
    0x11: "find_next_object_instance", 0x14: "error_response", 0x15: "restore", 0x16: "save", 0x17: "nop",
    0x18: "get_member", 0x19: "set_member", 0x1A: "insert_member", 0x1B: "remove_member", 0x1C: "group_sync",
}

# Services 0x4B-0x63 are object specific: the same code means different things per class.
CLASS_CONNECTION_MANAGER = 0x06
FORWARD_CLOSE = 0x4E
UNCONNECTED_SEND = 0x52
FORWARD_OPEN = 0x54
LARGE_FORWARD_OPEN = 0x5B
CONNECTION_MANAGER_SERVICES: dict[int, str] = {
    FORWARD_CLOSE: "forward_close", UNCONNECTED_SEND: "unconnected_send", FORWARD_OPEN: "forward_open",
    0x56: "get_connection_data", 0x57: "search_connection_data", 0x5A: "get_connection_owner",
    LARGE_FORWARD_OPEN: "large_forward_open",
}
# Rockwell Logix tag services: requests addressed by symbolic path or to the Logix symbol/template classes.
LOGIX_CLASSES = frozenset({0x6B, 0x6C})
LOGIX_SERVICES: dict[int, str] = {
    0x4C: "read_tag", 0x4D: "write_tag", 0x4E: "read_modify_write_tag", 0x52: "read_tag_fragmented",
    0x53: "write_tag_fragmented", 0x55: "get_instance_attribute_list",
}
CLASS_PCCC = 0x67
PCCC_SERVICES: dict[int, str] = {0x4B: "execute_pccc", 0x4C: "execute_dh_plus", 0x4D: "execute_local_pccc"}

# General status codes (CIP Vol. 1, Appendix B).
GENERAL_STATUS: dict[int, str] = {
    0x00: "success", 0x01: "connection_failure", 0x02: "resource_unavailable", 0x03: "invalid_parameter_value",
    0x04: "path_segment_error", 0x05: "path_destination_unknown", 0x06: "partial_transfer",
    0x07: "connection_lost", 0x08: "service_not_supported", 0x09: "invalid_attribute_value",
    0x0A: "attribute_list_error", 0x0B: "already_in_requested_mode", 0x0C: "object_state_conflict",
    0x0D: "object_already_exists", 0x0E: "attribute_not_settable", 0x0F: "privilege_violation",
    0x10: "device_state_conflict", 0x11: "reply_data_too_large", 0x12: "fragmentation_of_primitive_value",
    0x13: "not_enough_data", 0x14: "attribute_not_supported", 0x15: "too_much_data",
    0x16: "object_does_not_exist", 0x17: "service_fragmentation_sequence_not_in_progress",
    0x18: "no_stored_attribute_data", 0x19: "store_operation_failure", 0x1A: "request_packet_too_large",
    0x1B: "response_packet_too_large", 0x1C: "missing_attribute_list_entry_data",
    0x1D: "invalid_attribute_value_list", 0x1E: "embedded_service_error", 0x1F: "vendor_specific_error",
    0x20: "invalid_parameter", 0x21: "write_once_value_already_written", 0x22: "invalid_reply_received",
    0x23: "buffer_overflow", 0x24: "invalid_message_format", 0x25: "key_failure_in_path",
    0x26: "path_size_invalid", 0x27: "unexpected_attribute_in_list", 0x28: "invalid_member_id",
    0x29: "member_not_settable", 0x2A: "group_2_only_server_general_failure", 0x2B: "unknown_modbus_error",
    0x2C: "attribute_not_gettable",
}

CLASS_IDENTITY = 0x01

# Identity object (class 1) instance attributes with a fixed layout.
IDENTITY_ATTRIBUTES: dict[int, str] = {
    1: "vendor_id", 2: "device_type", 3: "product_code", 4: "revision", 5: "device_status", 6: "serial_number",
    7: "product_name", 8: "device_state",
}

DEVICE_TYPES: dict[int, str] = {
    0x00: "generic_device", 0x02: "ac_drive", 0x03: "motor_overload", 0x04: "limit_switch",
    0x05: "inductive_proximity_switch", 0x06: "photoelectric_sensor", 0x07: "general_purpose_discrete_io",
    0x09: "resolver", 0x0C: "communications_adapter", 0x0E: "programmable_logic_controller",
    0x10: "position_controller", 0x13: "dc_drive", 0x15: "contactor", 0x16: "motor_starter", 0x17: "soft_start",
    0x18: "human_machine_interface", 0x1A: "mass_flow_controller", 0x1B: "pneumatic_valve",
    0x1C: "vacuum_pressure_gauge", 0x22: "encoder", 0x23: "safety_discrete_io", 0x25: "cip_motion_drive",
    0x28: "cip_modbus_device", 0x2B: "generic_device_keyable", 0x2C: "managed_ethernet_switch",
    0x32: "controlnet_physical_layer_component", 0x33: "circuit_breaker", 0x34: "hart_device",
    0xC8: "embedded_component",
}

VENDORS: dict[int, str] = {
    1: "Rockwell Automation/Allen-Bradley", 5: "Rockwell Automation/Reliance Elec.", 8: "Molex Incorporated",
    40: "Wago Corporation", 47: "Omron Corporation", 77: "Rockwell Software, Inc.", 90: "HMS Industrial Networks AB",
    108: "Beckhoff Automation GmbH", 145: "Siemens Energy & Automation/Drives",
    161: "Mitsubishi Electric Corporation", 243: "Schneider Automation, Inc.", 283: "Hilscher GmbH",
    309: "Prosoft Technology", 562: "Phoenix Contact", 796: "Siemens Energy & Automation, Inc.",
    808: "SICK AG", 971: "Siemens L&A",
}


def command_name(code: int) -> str:
    return COMMANDS.get(code) or f"unknown-{code}"


def service_name(service: int, cip_class: int | None, symbolic: bool) -> str:
    """Name of a CIP service code (without the reply bit), in the context of the object it addresses."""
    if service in COMMON_SERVICES:
        return COMMON_SERVICES[service]
    if cip_class == CLASS_CONNECTION_MANAGER and service in CONNECTION_MANAGER_SERVICES:
        return CONNECTION_MANAGER_SERVICES[service]
    if (symbolic or cip_class in LOGIX_CLASSES) and service in LOGIX_SERVICES:
        return LOGIX_SERVICES[service]
    if cip_class == CLASS_PCCC and service in PCCC_SERVICES:
        return PCCC_SERVICES[service]
    return f"unknown-{service}"


def status_name(code: int) -> str:
    return GENERAL_STATUS.get(code) or f"unknown-{code}"


def vendor_name(vendor_id: int) -> str:
    return VENDORS.get(vendor_id) or f"unknown-{vendor_id}"


def device_type_name(device_type: int) -> str:
    return DEVICE_TYPES.get(device_type) or f"unknown-{device_type}"

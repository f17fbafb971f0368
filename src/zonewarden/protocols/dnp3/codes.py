"""DNP3 code tables (IEEE 1815-2012). Unknown codes read unknown-N.

Application function names are the lower-cased names Zeek's DNP3 analyzer logs, so the two read alike.
"""

# Application layer function codes (IEEE 1815-2012 table 4-1).
FUNCTIONS: dict[int, str] = {
    0: "confirm", 1: "read", 2: "write", 3: "select", 4: "operate", 5: "direct_operate",
    6: "direct_operate_nr", 7: "immed_freeze", 8: "immed_freeze_nr", 9: "freeze_clear", 10: "freeze_clear_nr",
    11: "freeze_at_time", 12: "freeze_at_time_nr", 13: "cold_restart", 14: "warm_restart",
    15: "initialize_data", 16: "initialize_appl", 17: "start_appl", 18: "stop_appl", 19: "save_config",
    20: "enable_unsolicited", 21: "disable_unsolicited", 22: "assign_class", 23: "delay_measure",
    24: "record_current_time", 25: "open_file", 26: "close_file", 27: "delete_file", 28: "get_file_info",
    29: "authenticate_file", 30: "abort_file", 31: "activate_config", 32: "authenticate_req",
    33: "authenticate_err", 129: "response", 130: "unsolicited_response", 131: "authenticate_resp",
}

RESPONSE_FUNCTIONS = frozenset({129, 130, 131})
FC_CONFIRM = 0
FC_UNSOLICITED = 130

# Requests whose object headers carry point data (writes, controls, files, applications, authentication).
# In the others (read, freeze, class assignment, unsolicited enable/disable...) headers name points only.
DATA_REQUESTS = frozenset({2, 3, 4, 5, 6, 16, 17, 18, 25, 26, 27, 28, 29, 30, 31, 32, 33})
# Freeze-at-time requests: the g50 time-and-interval object carries data, the headers after it do not.
FREEZE_AT_TIME = frozenset({11, 12})

# Operation class of each request, for inventory and detection.
READ_FUNCTIONS = frozenset({1})
WRITE_FUNCTIONS = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 22, 24, 31})
CONTROL_FUNCTIONS = frozenset({3, 4, 5, 6})
RESTART_FUNCTIONS = frozenset({13, 14})
APPLICATION_FUNCTIONS = frozenset({15, 16, 17, 18, 19})
FILE_FUNCTIONS = frozenset({25, 26, 27, 28, 29, 30})

# Data link function codes; the meaning depends on the PRM (primary) bit.
LINK_PRIMARY: dict[int, str] = {
    0: "reset_link_states", 1: "reset_user_process", 2: "test_link_states", 3: "confirmed_user_data",
    4: "unconfirmed_user_data", 9: "request_link_status",
}
LINK_SECONDARY: dict[int, str] = {
    0: "ack", 1: "nack", 11: "link_status", 14: "link_not_functioning", 15: "link_not_supported",
}
# Link functions that never carry transport/application data (as Wireshark decides too: reset link,
# ACK, request link status, link status).
LINK_NO_DATA = frozenset({0, 9, 11})

# Internal indications, as the 16-bit value IIN1 << 8 | IIN2.
IIN_BITS: dict[int, str] = {
    0x0100: "broadcast", 0x0200: "class1_events", 0x0400: "class2_events", 0x0800: "class3_events",
    0x1000: "need_time", 0x2000: "local_control", 0x4000: "device_trouble", 0x8000: "device_restart",
    0x0001: "no_func_code_support", 0x0002: "object_unknown", 0x0004: "parameter_error",
    0x0008: "event_buffer_overflow", 0x0010: "already_executing", 0x0020: "config_corrupt",
    0x0040: "reserved_2_6", 0x0080: "reserved_2_7",
}

# Group 0 (device attributes) variations; identity ones are also copied to explicit event fields.
DEVICE_ATTRIBUTES: dict[int, str] = {
    196: "config_id", 197: "config_version", 198: "config_build_date", 199: "config_change_date",
    200: "config_signature", 201: "config_signature_algorithm", 202: "master_resource_id", 203: "altitude",
    204: "longitude", 205: "latitude", 206: "secondary_operator_name", 207: "primary_operator_name",
    208: "system_name", 209: "secure_auth_version", 210: "security_stats_per_association",
    211: "user_specific_attributes", 212: "master_data_set_prototypes", 213: "outstation_data_set_prototypes",
    214: "master_data_sets", 215: "outstation_data_sets", 216: "max_binary_outputs_per_request",
    217: "local_timing_accuracy", 218: "timing_accuracy_duration", 219: "analog_output_events",
    220: "max_analog_output_index", 221: "analog_outputs", 222: "binary_output_events",
    223: "max_binary_output_index", 224: "binary_outputs", 225: "frozen_counter_events", 226: "frozen_counters",
    227: "counter_events", 228: "max_counter_index", 229: "counters", 230: "frozen_analog_inputs",
    231: "analog_input_events", 232: "max_analog_input_index", 233: "analog_inputs",
    234: "double_bit_input_events", 235: "max_double_bit_input_index", 236: "double_bit_inputs",
    237: "binary_input_events", 238: "max_binary_input_index", 239: "binary_inputs",
    240: "max_tx_fragment_size", 241: "max_rx_fragment_size", 242: "software_version", 243: "hardware_version",
    244: "owner_name", 245: "location", 246: "device_id_code", 247: "device_name", 248: "serial_number",
    249: "dnp_subset_conformance", 250: "product_name_model", 252: "manufacturer_name", 254: "all_attributes",
    255: "attribute_list",
}
ATTR_SOFTWARE_VERSION = 242
ATTR_HARDWARE_VERSION = 243
ATTR_LOCATION = 245
ATTR_DEVICE_NAME = 247
ATTR_SERIAL_NUMBER = 248
ATTR_PRODUCT = 250
ATTR_MANUFACTURER = 252

# Group 120 (Secure Authentication) variations.
SA_VARIATIONS: dict[int, str] = {
    1: "challenge", 2: "reply", 3: "aggressive_mode_request", 4: "session_key_status_request",
    5: "session_key_status", 6: "session_key_change", 7: "error", 8: "user_certificate", 9: "mac",
    10: "user_status_change", 11: "update_key_change_request", 12: "update_key_change_reply",
    13: "update_key_change", 14: "update_key_change_signature", 15: "update_key_change_confirmation",
}

# CROB (g12v1) control code, operation type (low nibble).
CONTROL_OPERATIONS: dict[int, str] = {0: "nul", 1: "pulse_on", 2: "pulse_off", 3: "latch_on", 4: "latch_off"}
# CROB trip/close field (top two bits).
CONTROL_TRIP_CLOSE: dict[int, str] = {0: "nul", 1: "close", 2: "trip", 3: "reserved"}


def function_name(code: int) -> str:
    return FUNCTIONS.get(code) or f"unknown-{code}"


def link_function_name(function: int, primary: bool) -> str:
    table = LINK_PRIMARY if primary else LINK_SECONDARY
    return table.get(function) or f"unknown-{function}"


_IIN_HIGH_FIRST = sorted(IIN_BITS.items(), reverse=True)


def iin_names(iin: int) -> list[str]:
    return [name for bit, name in _IIN_HIGH_FIRST if iin & bit] if iin else []


def attribute_name(variation: int) -> str:
    return DEVICE_ATTRIBUTES.get(variation) or f"attribute-{variation}"

"""BACnet code tables (ASHRAE 135, Annex J for BVLC). Unknown codes read ``unknown-N``.

Names are the standard's identifiers in snake_case (``read_property``, ``analog_input``,
``present_value``). The object type and property tables hold the commonly used codes, not the whole
standard: an unlisted code still travels as its number in the event.
"""

from __future__ import annotations

BVLC_TYPE_IP = 0x81
BVLC_TYPE_IPV6 = 0x82

BVLC_FUNCTIONS: dict[int, str] = {
    0x00: "bvlc_result", 0x01: "write_broadcast_distribution_table", 0x02: "read_broadcast_distribution_table",
    0x03: "read_broadcast_distribution_table_ack", 0x04: "forwarded_npdu", 0x05: "register_foreign_device",
    0x06: "read_foreign_device_table", 0x07: "read_foreign_device_table_ack",
    0x08: "delete_foreign_device_table_entry", 0x09: "distribute_broadcast_to_network",
    0x0A: "original_unicast_npdu", 0x0B: "original_broadcast_npdu", 0x0C: "secure_bvll",
}
BVLC_RESULTS: dict[int, str] = {
    0x0000: "successful_completion", 0x0010: "write_broadcast_distribution_table_nak",
    0x0020: "read_broadcast_distribution_table_nak", 0x0030: "register_foreign_device_nak",
    0x0040: "read_foreign_device_table_nak", 0x0050: "delete_foreign_device_table_entry_nak",
    0x0060: "distribute_broadcast_to_network_nak",
}

NETWORK_MESSAGES: dict[int, str] = {
    0x00: "who_is_router_to_network", 0x01: "i_am_router_to_network", 0x02: "i_could_be_router_to_network",
    0x03: "reject_message_to_network", 0x04: "router_busy_to_network", 0x05: "router_available_to_network",
    0x06: "initialize_routing_table", 0x07: "initialize_routing_table_ack", 0x08: "establish_connection_to_network",
    0x09: "disconnect_connection_to_network", 0x0A: "challenge_request", 0x0B: "security_payload",
    0x0C: "security_response", 0x0D: "request_key_update", 0x0E: "update_key_set",
    0x0F: "update_distribution_key", 0x10: "request_master_key", 0x11: "set_master_key",
    0x12: "what_is_network_number", 0x13: "network_number_is",
}
# Network-layer messages that answer another one (is_response).
NETWORK_ANSWERS = frozenset({0x01, 0x02, 0x03, 0x07, 0x13})
NETWORK_REJECT_REASONS: dict[int, str] = {
    0: "other", 1: "unknown_route", 2: "router_busy", 3: "unknown_message_type", 4: "message_too_long",
    5: "security_error", 6: "addressing_error",
}

APDU_TYPES: dict[int, str] = {
    0: "confirmed_request", 1: "unconfirmed_request", 2: "simple_ack", 3: "complex_ack", 4: "segment_ack",
    5: "error", 6: "reject", 7: "abort",
}
CONFIRMED_REQUEST, UNCONFIRMED_REQUEST, SIMPLE_ACK, COMPLEX_ACK, SEGMENT_ACK, ERROR, REJECT, ABORT = range(8)

CONFIRMED_SERVICES: dict[int, str] = {
    0: "acknowledge_alarm", 1: "confirmed_cov_notification", 2: "confirmed_event_notification",
    3: "get_alarm_summary", 4: "get_enrollment_summary", 5: "subscribe_cov", 6: "atomic_read_file",
    7: "atomic_write_file", 8: "add_list_element", 9: "remove_list_element", 10: "create_object",
    11: "delete_object", 12: "read_property", 13: "read_property_conditional", 14: "read_property_multiple",
    15: "write_property", 16: "write_property_multiple", 17: "device_communication_control",
    18: "confirmed_private_transfer", 19: "confirmed_text_message", 20: "reinitialize_device", 21: "vt_open",
    22: "vt_close", 23: "vt_data", 24: "authenticate", 25: "request_key", 26: "read_range",
    27: "life_safety_operation", 28: "subscribe_cov_property", 29: "get_event_information",
    30: "subscribe_cov_property_multiple", 31: "confirmed_cov_notification_multiple",
    32: "confirmed_audit_notification", 33: "audit_log_query",
}
UNCONFIRMED_SERVICES: dict[int, str] = {
    0: "i_am", 1: "i_have", 2: "unconfirmed_cov_notification", 3: "unconfirmed_event_notification",
    4: "unconfirmed_private_transfer", 5: "unconfirmed_text_message", 6: "time_synchronization", 7: "who_has",
    8: "who_is", 9: "utc_time_synchronization", 10: "write_group", 11: "unconfirmed_cov_notification_multiple",
    12: "unconfirmed_audit_notification", 13: "who_am_i", 14: "you_are",
}
# Unconfirmed services that answer a broadcast query (is_response).
UNCONFIRMED_ANSWERS = frozenset({0, 1})
I_AM, I_HAVE, WHO_HAS, WHO_IS = 0, 1, 7, 8

OBJECT_TYPES: dict[int, str] = dict(enumerate((
    "analog_input", "analog_output", "analog_value", "binary_input", "binary_output", "binary_value", "calendar",
    "command", "device", "event_enrollment", "file", "group", "loop", "multi_state_input", "multi_state_output",
    "notification_class", "program", "schedule", "averaging", "multi_state_value", "trend_log",
    "life_safety_point", "life_safety_zone", "accumulator", "pulse_converter", "event_log", "global_group",
    "trend_log_multiple", "load_control", "structured_view", "access_door", "timer", "access_credential",
    "access_point", "access_rights", "access_user", "access_zone", "credential_data_input",
    "network_security", "bitstring_value", "characterstring_value", "date_pattern_value", "date_value",
    "datetime_pattern_value", "datetime_value", "integer_value", "large_analog_value", "octetstring_value",
    "positive_integer_value", "time_pattern_value", "time_value", "notification_forwarder", "alert_enrollment",
    "channel", "lighting_output", "binary_lighting_output", "network_port", "elevator_group", "escalator",
    "lift", "staging", "audit_log", "audit_reporter", "color", "color_temperature",
)))
OBJECT_DEVICE = 8
# The wildcard device instance: "whichever device receives this" (ReadProperty of device,4194303).
WILDCARD_INSTANCE = 0x3FFFFF

# The properties seen on real networks (object lists, values, status) and every identity property.
PROPERTIES: dict[int, str] = {
    0: "acked_transitions", 1: "ack_required", 2: "action", 3: "action_text", 4: "active_text",
    5: "active_vt_sessions", 6: "alarm_value", 7: "alarm_values", 8: "all", 9: "all_writes_successful",
    10: "apdu_segment_timeout", 11: "apdu_timeout", 12: "application_software_version", 13: "archive",
    14: "bias", 15: "change_of_state_count", 16: "change_of_state_time", 17: "notification_class",
    19: "controlled_variable_reference", 20: "controlled_variable_units", 21: "controlled_variable_value",
    22: "cov_increment", 23: "date_list", 24: "daylight_savings_status", 25: "deadband",
    26: "derivative_constant", 27: "derivative_constant_units", 28: "description", 29: "description_of_halt",
    30: "device_address_binding", 31: "device_type", 32: "effective_period", 33: "elapsed_active_time",
    34: "error_limit", 35: "event_enable", 36: "event_state", 37: "event_type", 38: "exception_schedule",
    39: "fault_values", 40: "feedback_value", 41: "file_access_method", 42: "file_size", 43: "file_type",
    44: "firmware_revision", 45: "high_limit", 46: "inactive_text", 47: "in_process", 48: "instance_of",
    49: "integral_constant", 50: "integral_constant_units", 52: "limit_enable", 53: "list_of_group_members",
    54: "list_of_object_property_references", 56: "local_date", 57: "local_time", 58: "location",
    59: "low_limit", 60: "manipulated_variable_reference", 61: "maximum_output", 62: "max_apdu_length_accepted",
    63: "max_info_frames", 64: "max_master", 65: "max_pres_value", 66: "minimum_off_time",
    67: "minimum_on_time", 68: "minimum_output", 69: "min_pres_value", 70: "model_name",
    71: "modification_date", 72: "notify_type", 73: "number_of_apdu_retries", 74: "number_of_states",
    75: "object_identifier", 76: "object_list", 77: "object_name", 78: "object_property_reference",
    79: "object_type", 80: "optional", 81: "out_of_service", 82: "output_units", 83: "event_parameters",
    84: "polarity", 85: "present_value", 86: "priority", 87: "priority_array", 88: "priority_for_writing",
    89: "process_identifier", 90: "program_change", 91: "program_location", 92: "program_state",
    93: "proportional_constant", 94: "proportional_constant_units", 95: "protocol_conformance_class",
    96: "protocol_object_types_supported",
    97: "protocol_services_supported", 98: "protocol_version", 99: "read_only", 100: "reason_for_halt",
    102: "recipient_list", 103: "reliability", 104: "relinquish_default", 105: "required", 106: "resolution",
    107: "segmentation_supported", 108: "setpoint", 109: "setpoint_reference", 110: "state_text",
    111: "status_flags", 112: "system_status", 113: "time_delay", 114: "time_of_active_time_reset",
    115: "time_of_state_count_reset", 116: "time_synchronization_recipients", 117: "units",
    118: "update_interval", 119: "utc_offset", 120: "vendor_identifier", 121: "vendor_name",
    122: "vt_classes_supported", 123: "weekly_schedule", 124: "attempted_samples", 125: "average_value",
    126: "buffer_size", 127: "client_cov_increment", 128: "cov_resubscription_interval",
    130: "event_time_stamps", 131: "log_buffer", 132: "log_device_object_property", 133: "enable",
    134: "log_interval", 135: "maximum_value", 136: "minimum_value", 137: "notification_threshold",
    139: "protocol_revision", 140: "records_since_notification", 141: "record_count", 142: "start_time",
    143: "stop_time", 144: "stop_when_full", 145: "total_record_count", 146: "valid_samples",
    147: "window_interval", 148: "window_samples", 149: "maximum_value_timestamp",
    150: "minimum_value_timestamp", 151: "variance_value", 152: "active_cov_subscriptions",
    153: "backup_failure_timeout", 154: "configuration_files", 155: "database_revision", 156: "direct_reading",
    157: "last_restore_time", 158: "maintenance_required", 159: "member_of", 160: "mode",
    161: "operation_expected", 162: "setting", 163: "silenced", 164: "tracking_value", 165: "zone_members",
    166: "life_safety_alarm_values", 167: "max_segments_accepted", 168: "profile_name",
    169: "auto_slave_discovery", 170: "manual_slave_address_binding", 171: "slave_address_binding",
    172: "slave_proxy_enable", 173: "last_notify_record", 174: "schedule_default", 175: "accepted_modes",
    176: "adjust_value", 177: "count", 178: "count_before_change", 179: "count_change_time", 180: "cov_period",
    181: "input_reference", 182: "limit_monitoring_interval", 183: "logging_object", 184: "logging_record",
    185: "prescale", 186: "pulse_rate", 187: "scale", 188: "scale_factor", 189: "update_time",
    190: "value_before_change", 191: "value_set", 192: "value_change_time", 193: "align_intervals",
    195: "interval_offset", 196: "last_restart_reason", 197: "logging_type",
    202: "restart_notification_recipients", 203: "time_of_device_restart", 204: "time_synchronization_interval",
    205: "trigger", 206: "utc_time_synchronization_recipients", 207: "node_subtype", 208: "node_type",
    209: "structured_object_list", 210: "subordinate_annotations", 211: "subordinate_list",
    371: "property_list", 372: "serial_number",
}
PROP_OBJECT_IDENTIFIER = 75
PROP_OBJECT_NAME = 77

# Device-object properties that identify a device: property id -> event field.
IDENTITY_PROPERTIES: dict[int, str] = {
    121: "vendor_name", 120: "vendor_id", 70: "model_name", 44: "firmware_revision",
    12: "application_software_version", 77: "device_name", 58: "location", 28: "description",
    372: "serial_number",
}

ERROR_CLASSES: dict[int, str] = dict(enumerate((
    "device", "object", "property", "resources", "security", "services", "vt", "communication",
)))
ERROR_CODES: dict[int, str] = dict(enumerate((
    "other", "authentication_failed", "configuration_in_progress", "device_busy",
    "dynamic_creation_not_supported", "file_access_denied", "incompatible_security_levels",
    "inconsistent_parameters", "inconsistent_selection_criterion", "invalid_data_type",
    "invalid_file_access_method", "invalid_file_start_position", "invalid_operator_name",
    "invalid_parameter_data_type", "invalid_time_stamp", "key_generation_error", "missing_required_parameter",
    "no_objects_of_specified_type", "no_space_for_object", "no_space_to_add_list_element",
    "no_space_to_write_property", "no_vt_sessions_available", "property_is_not_a_list",
    "object_deletion_not_permitted", "object_identifier_already_exists", "operational_problem",
    "password_failure", "read_access_denied", "security_not_supported", "service_request_denied", "timeout",
    "unknown_object", "unknown_property", "unknown-33", "unknown_vt_class", "unknown_vt_session",
    "unsupported_object_type", "value_out_of_range", "vt_session_already_closed",
    "vt_session_termination_failure", "write_access_denied", "character_set_not_supported",
    "invalid_array_index", "cov_subscription_failed", "not_cov_property", "optional_functionality_not_supported",
    "invalid_configuration_data", "datatype_not_supported", "duplicate_name", "duplicate_object_id",
    "property_is_not_an_array", "abort_buffer_overflow", "abort_invalid_apdu_in_this_state",
    "abort_preempted_by_higher_priority_task", "abort_segmentation_not_supported", "abort_proprietary",
    "abort_other", "invalid_tag", "network_down", "reject_buffer_overflow", "reject_inconsistent_parameters",
    "reject_invalid_parameter_data_type", "reject_invalid_tag", "reject_missing_required_parameter",
    "reject_parameter_out_of_range", "reject_too_many_arguments", "reject_undefined_enumeration",
    "reject_unrecognized_service", "reject_proprietary", "reject_other", "unknown_device", "unknown_route",
    "value_not_initialized", "invalid_event_state", "no_alarm_configured", "log_buffer_full",
    "logged_value_purged", "no_property_specified", "not_configured_for_triggered_logging",
    "unknown_subscription", "parameter_out_of_range", "list_element_not_found", "busy",
    "communication_disabled", "success", "access_denied", "bad_destination_address",
)))
REJECT_REASONS: dict[int, str] = dict(enumerate((
    "other", "buffer_overflow", "inconsistent_parameters", "invalid_parameter_data_type", "invalid_tag",
    "missing_required_parameter", "parameter_out_of_range", "too_many_arguments", "undefined_enumeration",
    "unrecognized_service",
)))
ABORT_REASONS: dict[int, str] = dict(enumerate((
    "other", "buffer_overflow", "invalid_apdu_in_this_state", "preempted_by_higher_priority_task",
    "segmentation_not_supported", "security_error", "insufficient_security", "window_size_out_of_range",
    "application_exceeded_reply_time", "out_of_resources", "tsm_timeout", "apdu_too_long",
)))

SEGMENTATION: dict[int, str] = {0: "segmented_both", 1: "segmented_transmit", 2: "segmented_receive",
                                3: "no_segmentation"}
# Confirmed-request header codes: max APDU length accepted (octets) and max segments accepted.
MAX_APDU_OCTETS: dict[int, int] = {0: 50, 1: 128, 2: 206, 3: 480, 4: 1024, 5: 1476}
MAX_SEGMENTS: dict[int, int] = {1: 2, 2: 4, 3: 8, 4: 16, 5: 32, 6: 64, 7: 65}  # 0 unspecified, 7 "more than 64"

DCC_STATES: dict[int, str] = {0: "enable", 1: "disable", 2: "disable_initiation"}
REINITIALIZE_STATES: dict[int, str] = dict(enumerate((
    "coldstart", "warmstart", "start_backup", "end_backup", "start_restore", "end_restore", "abort_restore",
    "activate_changes",
)))

# ASHRAE-assigned vendor identifiers: the commonest on building networks and those in our test captures.
VENDORS: dict[int, str] = {
    0: "ASHRAE", 1: "NIST", 2: "The Trane Company", 3: "Daikin Applied Americas", 4: "PolarSoft",
    5: "Johnson Controls, Inc.", 6: "ABB (Formerly American Auto-Matrix)",
    7: "Siemens Schweiz AG (Formerly: Landis & Staefa Division Europe)",
    8: "Delta Controls", 9: "Siemens Schweiz AG", 10: "Schneider Electric", 11: "TAC", 14: "Cimetrics Technology",
    15: "Cornell University", 16: "United Technologies Carrier", 17: "Honeywell Inc.", 18: "Alerton / Honeywell",
    22: "Siemens Schweiz AG (Formerly: Cerberus AG)", 24: "Automated Logic Corporation",
    26: "Phoenix Controls Corporation", 28: "KMC Controls, Inc.", 35: "Reliable Controls Corporation",
    36: "Tridium Inc.", 42: "Acuity Brands Lighting, Inc.", 46: "ESS Engineering", 51: "SAMSON AG",
    53: "DAIKIN Industries Ltd.", 65: "Reliance Electric", 85: "Yamatake Building Systems Co., Ltd.",
    86: "The Watt Stopper, Inc.", 100: "Custom Mechanical Equipment, LLC", 103: "D-Tek Controls",
    107: "JCI Systems Integration Services", 116: "M&M Systems, Inc.", 123: "Scada Engine",
    130: "Shenzhen Junzhi Hi-Tech Co., Ltd.", 133: "Veris Industries", 134: "Centaurus Prime",
    138: "PowerCold Comfort Air Solutions, Inc.", 139: "I Controls", 154: "Unitec Corporation",
    162: "ASI Controls", 165: "Smart Temp Australia Pty. Ltd.", 167: "Duksan Mecasys Co., Ltd.",
    173: "Mitsubishi Electric Building Techno-Service Co., Ltd.", 181: "Micro Control Systems, Inc.",
    206: "Onicon Incorporated", 212: "TSC21 Association of Japan", 215: "Lighting Control & Design, Inc.",
    221: "OpenGeneral Pty., Ltd.", 230: "Integrated Control Technology Limited", 240: "Aricent Ltd.",
    251: "WILO SE", 260: "BACnet Stack at SourceForge",
}


def _name(table: dict[int, str], code: int) -> str:
    return table.get(code, f"unknown-{code}")


def bvlc_function_name(code: int) -> str:
    return _name(BVLC_FUNCTIONS, code)


def network_message_name(code: int) -> str:
    return _name(NETWORK_MESSAGES, code) if code < 0x80 else f"proprietary-{code}"


def apdu_type_name(code: int) -> str:
    return _name(APDU_TYPES, code)


def service_name(apdu_type: int, choice: int) -> str:
    return _name(UNCONFIRMED_SERVICES if apdu_type == UNCONFIRMED_REQUEST else CONFIRMED_SERVICES, choice)


def object_type_name(code: int) -> str:
    # 128..1023 are vendor-proprietary object types
    return _name(OBJECT_TYPES, code) if code < 128 else f"proprietary-{code}"


def property_name(code: int) -> str:
    return _name(PROPERTIES, code) if code < 512 or code > 4194303 else f"proprietary-{code}"


def vendor_name(code: int) -> str:
    return _name(VENDORS, code)

"""S7comm, S7comm-plus and ISO transport (COTP) code tables. Unknown codes read ``unknown-N``.

Names follow the Wireshark S7comm dissector and the Siemens system manuals (SZL lists), in
snake_case so they can be matched by rules.
"""

from __future__ import annotations

S7_PROTOCOL_ID = 0x32
S7PLUS_PROTOCOL_ID = 0x72

# ---- ISO 8073 / X.224 COTP (class 0 on ISO-on-TCP), keyed by the TPDU code (high nibble)
COTP_TYPES: dict[int, str] = {
    0x1: "ED", 0x2: "EA", 0x5: "RJ", 0x6: "AK", 0x7: "ER", 0x8: "DR", 0xC: "DC", 0xD: "CC", 0xE: "CR", 0xF: "DT",
}
COTP_CR, COTP_CC, COTP_DR, COTP_DC, COTP_ER, COTP_DT = 0xE, 0xD, 0x8, 0xC, 0x7, 0xF

# First byte of a two-byte S7 TSAP: the kind of connection the client asks for.
TSAP_CONNECTION_TYPES: dict[int, str] = {1: "pg", 2: "op", 3: "s7_basic"}

# ---- S7comm header
ROSCTR: dict[int, str] = {1: "job", 2: "ack", 3: "ack_data", 7: "userdata"}
ROSCTR_JOB, ROSCTR_ACK, ROSCTR_ACK_DATA, ROSCTR_USERDATA = 1, 2, 3, 7

ERROR_CLASSES: dict[int, str] = {
    0x00: "no_error", 0x81: "application_relationship", 0x82: "object_definition", 0x83: "no_resources",
    0x84: "service_processing", 0x85: "supplies", 0x87: "access",
}

# ---- Job / Ack_Data parameter function codes
FUNCTIONS: dict[int, str] = {
    0x00: "cpu_services", 0xF0: "setup_communication", 0x04: "read_var", 0x05: "write_var",
    0x1A: "request_download", 0x1B: "download_block", 0x1C: "download_ended", 0x1D: "start_upload",
    0x1E: "upload", 0x1F: "end_upload", 0x28: "plc_control", 0x29: "plc_stop",
}
FN_SETUP, FN_READ_VAR, FN_WRITE_VAR, FN_PI_SERVICE, FN_PLC_STOP = 0xF0, 0x04, 0x05, 0x28, 0x29
FN_REQUEST_DOWNLOAD, FN_DOWNLOAD_BLOCK, FN_DOWNLOAD_ENDED = 0x1A, 0x1B, 0x1C
FN_START_UPLOAD, FN_UPLOAD, FN_END_UPLOAD = 0x1D, 0x1E, 0x1F
BLOCK_FUNCTIONS = frozenset({0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F})

# Variable specification syntax ids (read/write var items)
SYNTAX_S7ANY, SYNTAX_DBREAD = 0x10, 0xB0
SYNTAX_IDS: dict[int, str] = {
    0x10: "s7any", 0x13: "pbc_r_id", 0x15: "alarm_lockfree", 0x16: "alarm_ind", 0x19: "alarm_ack",
    0x1A: "alarm_query_req", 0x1C: "notify_ind", 0x82: "nck", 0x83: "nck_metric", 0x84: "nck_inch",
    0xA2: "driveesany", 0xB0: "dbread", 0xB2: "tia_1200_symbolic",
}

AREAS: dict[int, str] = {
    0x03: "system_info", 0x05: "system_flags", 0x06: "analog_inputs", 0x07: "analog_outputs",
    0x1C: "counter", 0x1D: "timer", 0x1E: "iec_counter", 0x1F: "iec_timer", 0x80: "peripheral",
    0x81: "inputs", 0x82: "outputs", 0x83: "flags", 0x84: "data_block", 0x85: "instance_db",
    0x86: "local_data", 0x87: "previous_local_data",
}

# Item transport sizes (parameter part)
ITEM_TRANSPORT_SIZES: dict[int, str] = {
    0x01: "bit", 0x02: "byte", 0x03: "char", 0x04: "word", 0x05: "int", 0x06: "dword", 0x07: "dint",
    0x08: "real", 0x09: "date", 0x0A: "tod", 0x0B: "time", 0x0C: "s5time", 0x0F: "date_and_time",
    0x1C: "counter", 0x1D: "timer", 0x1E: "iec_timer", 0x1F: "iec_counter", 0x20: "hs_counter",
}

# Data-part transport sizes whose length field counts bits rather than bytes.
DATA_SIZE_IN_BITS = frozenset({0x03, 0x04, 0x05})

RETURN_CODES: dict[int, str] = {
    0x00: "reserved", 0x01: "hardware_fault", 0x03: "access_denied", 0x05: "invalid_address",
    0x06: "data_type_not_supported", 0x07: "data_type_inconsistent", 0x0A: "object_does_not_exist",
    0xFF: "success",
}
RETURN_SUCCESS = 0xFF

# Block types as the two ASCII characters of upload/download file names and PI block lists.
BLOCK_TYPES: dict[str, str] = {"08": "OB", "0A": "DB", "0B": "SDB", "0C": "FC", "0D": "SFC", "0E": "FB", "0F": "SFB"}
FILESYSTEMS: dict[str, str] = {"P": "passive", "A": "active", "B": "active_and_passive"}

# ---- Userdata
USERDATA_TYPES: dict[int, str] = {0x0: "push", 0x4: "request", 0x8: "response", 0x3: "nc_push", 0x1: "nc_request",
                                  0x2: "nc_response"}
USERDATA_REQUEST, USERDATA_RESPONSE = 0x4, 0x8

FUNCTION_GROUPS: dict[int, str] = {
    0x0: "mode_transition", 0x1: "programmer_commands", 0x2: "cyclic_data", 0x3: "block_functions",
    0x4: "cpu_functions", 0x5: "security", 0x6: "pbc_bsend_brecv", 0x7: "time_functions", 0xF: "nc_programming",
}
GROUP_CYCLIC, GROUP_CPU = 0x2, 0x4
SUBFUNC_READ_SZL = 0x01

SUBFUNCTIONS: dict[int, dict[int, str]] = {
    0x0: {0: "stop", 1: "warm_restart", 2: "run", 3: "hot_restart", 4: "hold", 6: "cold_restart", 9: "run_r",
          11: "link_up", 12: "update"},
    0x1: {0x01: "request_diag_data_type1", 0x02: "vartab", 0x0C: "erase", 0x0E: "read_diag_data",
          0x0F: "remove_diag_data", 0x10: "forces", 0x13: "request_diag_data_type2"},
    0x2: {0x01: "cyclic_transfer", 0x04: "unsubscribe", 0x05: "change_driven", 0x07: "change_driven_mod"},
    0x3: {0x01: "list_blocks", 0x02: "list_blocks_of_type", 0x03: "get_block_info"},
    0x4: {0x01: "read_szl", 0x02: "message_service", 0x03: "diagnostic_message", 0x05: "alarm8_indication",
          0x06: "notify_indication", 0x07: "alarm8_lock", 0x08: "alarm8_unlock", 0x09: "scan_indication",
          0x0B: "alarm_ack", 0x0C: "alarm_ack_indication", 0x0D: "alarm_lock_indication",
          0x0E: "alarm_unlock_indication", 0x11: "alarm_sq_indication", 0x12: "alarm_s_indication",
          0x13: "alarm_query", 0x16: "notify8_indication"},
    0x5: {0x01: "plc_password", 0x02: "clear_password"},
    0x6: {0x01: "bsend_brecv"},
    0x7: {0x01: "read_clock", 0x02: "set_clock", 0x03: "read_clock_following", 0x04: "set_clock_2"},
}

# ---- SZL (System Status List) ids worth a name; the low byte is the partial list number.
SZL_IDS: dict[int, str] = {
    0x0000: "partial_lists", 0x0011: "module_identification", 0x0012: "cpu_characteristics",
    0x0013: "user_memory_areas", 0x0014: "system_areas", 0x0015: "block_types", 0x0019: "led_status",
    0x001C: "component_identification", 0x0022: "interrupt_status", 0x0024: "modes", 0x0025: "process_image_partitions",
    0x0037: "ethernet_details", 0x0074: "led_status", 0x0091: "module_status", 0x0092: "rack_status",
    0x00A0: "diagnostic_buffer", 0x00B1: "module_diagnostics", 0x0131: "communication_capabilities",
    0x0132: "communication_status", 0x0424: "current_mode", 0x0111: "module_identification_record",
    0x011C: "component_identification_record",
}

# SZL 0x0424 (current mode): requested-mode nibble of the bzu-id byte.
CPU_MODES: dict[int, str] = {
    0x0: "unknown", 0x1: "stop_update", 0x2: "stop_memory_reset", 0x3: "stop_self_initialization",
    0x4: "stop", 0x5: "startup_cold", 0x6: "startup_warm", 0x7: "startup_hot", 0x8: "run", 0x9: "run_redundant",
    0xA: "hold", 0xD: "defect",
}

# ---- S7comm-plus
S7PLUS_VERSIONS: dict[int, str] = {0x01: "v1", 0x02: "v2", 0x03: "v3", 0xFE: "system_event", 0xFF: "keep_alive"}
S7PLUS_SYSTEM_EVENT, S7PLUS_KEEPALIVE = 0xFE, 0xFF

S7PLUS_OPCODES: dict[int, str] = {0x31: "request", 0x32: "response", 0x33: "notification", 0x02: "response2"}
OPCODE_REQUEST, OPCODE_RESPONSE, OPCODE_NOTIFICATION, OPCODE_RESPONSE2 = 0x31, 0x32, 0x33, 0x02

S7PLUS_FUNCTIONS: dict[int, str] = {
    0x04B1: "error", 0x04BB: "explore", 0x04CA: "create_object", 0x04D4: "delete_object", 0x04F2: "set_variable",
    0x04FC: "get_variable", 0x0506: "add_link", 0x051A: "remove_link", 0x0524: "get_link",
    0x0542: "set_multi_variables", 0x054C: "get_multi_variables", 0x0556: "begin_sequence",
    0x0560: "end_sequence", 0x056B: "invoke", 0x057C: "set_var_sub_streamed", 0x0586: "get_var_sub_streamed",
    0x0590: "get_variables_address", 0x059A: "abort", 0x05A9: "error2", 0x05B3: "init_ssl",
}


def name(table: dict[int, str], code: int | None) -> str | None:
    """The table's name for ``code`` (``unknown-N`` when unlisted, None when there is no code)."""
    if code is None:
        return None
    return table.get(code) or f"unknown-{code}"


def subfunction_name(group: int, subfunction: int) -> str:
    return SUBFUNCTIONS.get(group, {}).get(subfunction) or f"unknown-{subfunction}"

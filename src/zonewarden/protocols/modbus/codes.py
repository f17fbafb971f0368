"""Modbus code tables (Modbus Application Protocol Specification V1.1b3). Unknown codes read unknown-N."""

FUNCTIONS: dict[int, str] = {
    1: "read_coils", 2: "read_discrete_inputs", 3: "read_holding_registers", 4: "read_input_registers",
    5: "write_single_coil", 6: "write_single_register", 7: "read_exception_status", 8: "diagnostics",
    11: "get_comm_event_counter", 12: "get_comm_event_log", 15: "write_multiple_coils",
    16: "write_multiple_registers", 17: "report_server_id", 20: "read_file_record", 21: "write_file_record",
    22: "mask_write_register", 23: "read_write_multiple_registers", 24: "read_fifo_queue",
    43: "encapsulated_interface_transport",
}

EXCEPTIONS: dict[int, str] = {
    1: "illegal_function", 2: "illegal_data_address", 3: "illegal_data_value", 4: "server_device_failure",
    5: "acknowledge", 6: "server_device_busy", 8: "memory_parity_error", 10: "gateway_path_unavailable",
    11: "gateway_target_failed_to_respond",
}

# MEI type 14 (Read Device Identification) object ids.
DEVICE_ID_OBJECTS: dict[int, str] = {
    0: "vendor_name", 1: "product_code", 2: "major_minor_revision", 3: "vendor_url", 4: "product_name",
    5: "model_name", 6: "user_application_name",
}

MEI_CANOPEN = 13
MEI_READ_DEVICE_ID = 14

# Operation class of each function, for inventory and detection.
READ_FUNCTIONS = frozenset({1, 2, 3, 4, 7, 11, 12, 20, 24})
WRITE_FUNCTIONS = frozenset({5, 6, 15, 16, 21, 22, 23})


def function_name(code: int) -> str:
    return FUNCTIONS.get(code & 0x7F) or f"unknown-{code & 0x7F}"


def exception_name(code: int) -> str:
    return EXCEPTIONS.get(code) or f"unknown-{code}"

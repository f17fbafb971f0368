"""PROFINET DCP code tables (IEC 61158-6-10, clause 4.3). Unknown codes read ``unknown-N``."""

from __future__ import annotations

# PROFINET frame ids carried after EtherType 0x8892 that belong to DCP.
FRAME_ID_HELLO = 0xFEFC
FRAME_ID_GET_SET = 0xFEFD
FRAME_ID_IDENTIFY_REQUEST = 0xFEFE
FRAME_ID_IDENTIFY_RESPONSE = 0xFEFF
DCP_FRAME_IDS = range(FRAME_ID_HELLO, FRAME_ID_IDENTIFY_RESPONSE + 1)

SERVICE_GET = 3
SERVICE_SET = 4
SERVICE_IDENTIFY = 5
SERVICE_HELLO = 6
SERVICES: dict[int, str] = {SERVICE_GET: "get", SERVICE_SET: "set", SERVICE_IDENTIFY: "identify",
                            SERVICE_HELLO: "hello"}

SERVICE_TYPE_REQUEST = 0
SERVICE_TYPE_RESPONSE = 1
SERVICE_TYPE_UNSUPPORTED = 5
SERVICE_TYPES: dict[int, str] = {SERVICE_TYPE_REQUEST: "request", SERVICE_TYPE_RESPONSE: "response",
                                 SERVICE_TYPE_UNSUPPORTED: "response_unsupported"}

OPTION_IP = 1
OPTION_DEVICE = 2
OPTION_DHCP = 3
OPTION_CONTROL = 5
OPTION_DEVICE_INITIATIVE = 6
OPTION_ALL = 0xFF

OPTIONS: dict[int, str] = {OPTION_IP: "ip", OPTION_DEVICE: "device", OPTION_DHCP: "dhcp", 4: "reserved",
                           OPTION_CONTROL: "control", OPTION_DEVICE_INITIATIVE: "device_initiative",
                           OPTION_ALL: "all"}

# (option, suboption) -> name; DHCP suboptions are DHCP option codes.
SUBOPTIONS: dict[tuple[int, int], str] = {
    (1, 1): "mac_address", (1, 2): "ip_parameter", (1, 3): "full_ip_suite",
    (2, 1): "type_of_station", (2, 2): "name_of_station", (2, 3): "device_id", (2, 4): "device_role",
    (2, 5): "device_options", (2, 6): "alias_name", (2, 7): "device_instance", (2, 8): "oem_device_id",
    (2, 9): "standard_gateway", (2, 10): "rsi_properties",
    (3, 12): "host_name", (3, 43): "vendor_specific", (3, 54): "server_identifier",
    (3, 55): "parameter_request_list", (3, 60): "class_identifier", (3, 61): "client_identifier",
    (3, 81): "fqdn", (3, 97): "uuid_client_identifier", (3, 255): "control_dhcp",
    (5, 1): "start_transaction", (5, 2): "end_transaction", (5, 3): "signal", (5, 4): "response",
    (5, 5): "factory_reset", (5, 6): "reset_to_factory",
    (6, 1): "device_initiative",
    (255, 255): "all",
}

# DeviceRoleDetails bits.
DEVICE_ROLES: dict[int, str] = {0x01: "io_device", 0x02: "io_controller", 0x04: "io_multidevice",
                                0x08: "io_supervisor"}

BLOCK_ERRORS: dict[int, str] = {0: "ok", 1: "option_unsupported", 2: "suboption_unsupported",
                                3: "suboption_not_set", 4: "resource_error", 5: "set_not_possible_local",
                                6: "set_not_possible_in_operation"}

# IP BlockInfo bit 7: the device detected an address conflict.
IP_CONFLICT = 0x80


def service_name(code: int) -> str:
    return SERVICES.get(code, f"unknown-{code}")


def service_type_name(code: int) -> str:
    return SERVICE_TYPES.get(code, f"unknown-{code}")


def option_name(option: int, suboption: int) -> str:
    """``option.suboption`` by name, e.g. ``ip.ip_parameter``; manufacturer options read ``manufacturer-N.M``."""
    if 0x80 <= option <= 0xFE:
        return f"manufacturer-{option}.{suboption}"
    head = OPTIONS.get(option, f"unknown-{option}")
    return f"{head}.{SUBOPTIONS.get((option, suboption), f'unknown-{suboption}')}"


def role_names(role: int) -> list[str]:
    return [name for bit, name in DEVICE_ROLES.items() if role & bit]

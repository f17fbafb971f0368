"""IEC 60870-5-101/104 code tables (IEC 60870-5-101 clause 7.2, IEC 60870-5-104 clause 5).

Unknown codes read ``unknown-N``. ``ELEMENTS`` describes each ASDU type's information element as a
sequence of field codes (sizes and meanings in ``wire_elements``), so adding a type is adding a row.
"""

from __future__ import annotations

TYPE_NAMES: dict[int, str] = {
    # process information in monitor direction
    1: "M_SP_NA_1", 2: "M_SP_TA_1", 3: "M_DP_NA_1", 4: "M_DP_TA_1", 5: "M_ST_NA_1", 6: "M_ST_TA_1",
    7: "M_BO_NA_1", 8: "M_BO_TA_1", 9: "M_ME_NA_1", 10: "M_ME_TA_1", 11: "M_ME_NB_1", 12: "M_ME_TB_1",
    13: "M_ME_NC_1", 14: "M_ME_TC_1", 15: "M_IT_NA_1", 16: "M_IT_TA_1", 17: "M_EP_TA_1", 18: "M_EP_TB_1",
    19: "M_EP_TC_1", 20: "M_PS_NA_1", 21: "M_ME_ND_1",
    30: "M_SP_TB_1", 31: "M_DP_TB_1", 32: "M_ST_TB_1", 33: "M_BO_TB_1", 34: "M_ME_TD_1", 35: "M_ME_TE_1",
    36: "M_ME_TF_1", 37: "M_IT_TB_1", 38: "M_EP_TD_1", 39: "M_EP_TE_1", 40: "M_EP_TF_1", 41: "S_IT_TC_1",
    # process information in control direction
    45: "C_SC_NA_1", 46: "C_DC_NA_1", 47: "C_RC_NA_1", 48: "C_SE_NA_1", 49: "C_SE_NB_1", 50: "C_SE_NC_1",
    51: "C_BO_NA_1", 58: "C_SC_TA_1", 59: "C_DC_TA_1", 60: "C_RC_TA_1", 61: "C_SE_TA_1", 62: "C_SE_TB_1",
    63: "C_SE_TC_1", 64: "C_BO_TA_1",
    # system information
    70: "M_EI_NA_1",
    # secure authentication (IEC 62351-5 / 60870-5-7)
    81: "S_CH_NA_1", 82: "S_RP_NA_1", 83: "S_AR_NA_1", 84: "S_KR_NA_1", 85: "S_KS_NA_1", 86: "S_KC_NA_1",
    87: "S_ER_NA_1", 90: "S_US_NA_1", 91: "S_UQ_NA_1", 92: "S_UR_NA_1", 93: "S_UK_NA_1", 94: "S_UA_NA_1",
    95: "S_UC_NA_1",
    100: "C_IC_NA_1", 101: "C_CI_NA_1", 102: "C_RD_NA_1", 103: "C_CS_NA_1", 104: "C_TS_NA_1", 105: "C_RP_NA_1",
    106: "C_CD_NA_1", 107: "C_TS_TA_1",
    # parameters
    110: "P_ME_NA_1", 111: "P_ME_NB_1", 112: "P_ME_NC_1", 113: "P_AC_NA_1",
    # file transfer
    120: "F_FR_NA_1", 121: "F_SR_NA_1", 122: "F_SC_NA_1", 123: "F_LS_NA_1", 124: "F_AF_NA_1", 125: "F_SG_NA_1",
    126: "F_DR_TA_1", 127: "F_SC_NB_1",
}

# The information element of each type as field codes (see wire_elements.FIELDS). Types absent here
# (secure authentication, unassigned ids) have no fixed layout: their objects are not decoded.
ELEMENTS: dict[int, tuple[str, ...]] = {
    1: ("siq",), 2: ("siq", "cp24"), 3: ("diq",), 4: ("diq", "cp24"), 5: ("vti", "qds"), 6: ("vti", "qds", "cp24"),
    7: ("bsi", "qds"), 8: ("bsi", "qds", "cp24"), 9: ("nva", "qds"), 10: ("nva", "qds", "cp24"),
    11: ("sva", "qds"), 12: ("sva", "qds", "cp24"), 13: ("flt", "qds"), 14: ("flt", "qds", "cp24"),
    15: ("bcr",), 16: ("bcr", "cp24"), 17: ("sep", "cp16", "cp24"), 18: ("spe", "qdp", "cp16", "cp24"),
    19: ("oci", "qdp", "cp16", "cp24"), 20: ("scd", "qds"), 21: ("nva",),
    30: ("siq", "cp56"), 31: ("diq", "cp56"), 32: ("vti", "qds", "cp56"), 33: ("bsi", "qds", "cp56"),
    34: ("nva", "qds", "cp56"), 35: ("sva", "qds", "cp56"), 36: ("flt", "qds", "cp56"), 37: ("bcr", "cp56"),
    38: ("sep", "cp16", "cp56"), 39: ("spe", "qdp", "cp16", "cp56"), 40: ("oci", "qdp", "cp16", "cp56"),
    41: ("aid", "bcr", "cp56"),
    45: ("sco",), 46: ("dco",), 47: ("rco",), 48: ("nva", "qos"), 49: ("sva", "qos"), 50: ("flt", "qos"),
    51: ("bsi",), 58: ("sco", "cp56"), 59: ("dco", "cp56"), 60: ("rco", "cp56"), 61: ("nva", "qos", "cp56"),
    62: ("sva", "qos", "cp56"), 63: ("flt", "qos", "cp56"), 64: ("bsi", "cp56"),
    70: ("coi",),
    100: ("qoi",), 101: ("qcc",), 102: (), 103: ("cp56",), 104: ("fbp",), 105: ("qrp",), 106: ("cp16",),
    107: ("tsc", "cp56"),
    110: ("nva", "qpm"), 111: ("sva", "qpm"), 112: ("flt", "qpm"), 113: ("qpa",),
    120: ("nof", "lof", "frq"), 121: ("nof", "nos", "lof", "srq"), 122: ("nof", "nos", "scq"),
    123: ("nof", "nos", "lsq", "chs"), 124: ("nof", "nos", "afq"), 125: ("nof", "nos", "segment"),
    126: ("nof", "lof", "sof", "cp56"), 127: ("nof", "cp56", "cp56"),
}

# Commands whose qualifier carries the select/execute bit (S/E): select-before-operate.
SELECT_EXECUTE_TYPES = frozenset({45, 46, 47, 48, 49, 50, 58, 59, 60, 61, 62, 63})
COMMAND_TYPES = frozenset({45, 46, 47, 48, 49, 50, 51, 58, 59, 60, 61, 62, 63, 64})
SYSTEM_COMMAND_TYPES = frozenset({100, 101, 102, 103, 104, 105, 106, 107})
PARAMETER_TYPES = frozenset({110, 111, 112, 113})
FILE_TYPES = frozenset(range(120, 128))

# Cause of transmission (6 bits).
CAUSES: dict[int, str] = {
    1: "per_cyc", 2: "back", 3: "spont", 4: "init", 5: "req", 6: "act", 7: "actcon", 8: "deact", 9: "deactcon",
    10: "actterm", 11: "retrem", 12: "retloc", 13: "file", 14: "auth", 15: "seskey", 16: "usrkey",
    **{20 + g: ("inrogen" if g == 0 else f"inro{g}") for g in range(17)},
    **{37 + g: ("reqcogen" if g == 0 else f"reqco{g}") for g in range(5)},
    44: "unknown_type_id", 45: "unknown_cause", 46: "unknown_common_address", 47: "unknown_ioa",
}

# U-format functions: the control field's first octet with its two format bits removed (as tshark's utype).
U_FUNCTIONS: dict[int, str] = {
    0x01: "startdt_act", 0x02: "startdt_con", 0x04: "stopdt_act", 0x08: "stopdt_con", 0x10: "testfr_act",
    0x20: "testfr_con",
}
U_CODES: dict[str, int] = {name: code for code, name in U_FUNCTIONS.items()}


def type_name(type_id: int) -> str:
    return TYPE_NAMES.get(type_id, f"unknown-{type_id}")


def cause_name(cause: int) -> str:
    return CAUSES.get(cause, f"unknown-{cause}")


def u_function_name(code: int) -> str:
    return U_FUNCTIONS.get(code, f"unknown-{code}")

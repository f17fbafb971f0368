"""Flow-table record layout and constants shared by the compiled kernel and Python (no numba here)."""

import numpy as np

EMPTY = 0
USED = 1
TOMB = 2

# Why a flow record was finished.
END_ACTIVE = 0  # still open when the input ended
END_IDLE = 1
END_ACTIVE_TIMEOUT = 2
END_PORT_REUSE = 3
END_EVICTED = 4

# Per-direction TCP flag summary bits.
F_SYN = 1
F_SYNACK = 2
F_FIN = 4
F_RST = 8
F_ACK = 16
F_DATA = 32

# History letters (Zeek's): index into "SHADFRT"; the responder's use lower case.
H_SYN, H_SYNACK, H_ACK, H_DATA, H_FIN, H_RST, H_RETRANS = 0, 1, 2, 3, 4, 5, 6
HISTORY_LETTERS = "SHADFRT"

# Part of the key with proto, VLANs, addresses and ports: IPv4 addresses are stored IPv4-mapped, so
# ``ipver`` (4 or 6) is what keeps an IPv6 flow between ::ffff:a.b.c.d addresses apart from IPv4's.
# Aligned: numpy pads each field to its natural boundary, so the kernels' 64-bit fields are 8-byte aligned.
FLOW_DTYPE = np.dtype(
    [
        ("used", np.uint8),
        ("proto", np.uint8),
        ("orig_is_a", np.uint8),
        ("end_reason", np.uint8),
        ("ipver", np.uint8),
        ("vlan_outer", np.int32),
        ("vlan_inner", np.int32),
        ("a_port", np.int32),
        ("b_port", np.int32),
        ("a_hi", np.uint64),
        ("a_lo", np.uint64),
        ("b_hi", np.uint64),
        ("b_lo", np.uint64),
        ("uid", np.int64),
        ("fid", np.uint64),
        ("ts_first", np.int64),
        ("ts_last", np.int64),
        ("pkts_o", np.int64),
        ("pkts_r", np.int64),
        ("bytes_o", np.int64),
        ("bytes_r", np.int64),
        ("payload_o", np.int64),
        ("payload_r", np.int64),
        ("next_seq_o", np.int64),
        ("next_seq_r", np.int64),
        ("history", np.uint64),
        ("history_seen", np.uint32),
        ("flags_o", np.uint16),
        ("flags_r", np.uint16),
        ("icmp_type", np.int32),
        ("icmp_code", np.int32),
    ],
    align=True,
)

# Table-level parameters, packed in one int64 array so the kernel signature stays short.
P_TCP_IDLE, P_UDP_IDLE, P_OTHER_IDLE, P_TCP_CLOSED, P_ACTIVE, P_NEXT_UID = 0, 1, 2, 3, 4, 5
N_PARAMS = 6

# The longest Flow JSONL line (jsonl_kernel sizes its output by it): 233 bytes of keys and punctuation, the
# flow id (16), two times (26: 16 integer digits, a point, 9 decimals), "ip-255" (8 with quotes), two IPv6
# addresses (39), four int32 ports and VLANs (11), six int64 counters (20), "RSTOS0" (8), 16 history letters
# and "active_timeout" (16). A test writes that line.
JSONL_ROW_MAX = 233 + 16 + 2 * 26 + 8 + 2 * 39 + 4 * 11 + 6 * 20 + 8 + 16 + 16

ST_DONE = 0
ST_NEED_ROOM = 1
ST_OUT_FULL = 2



"""The fast lane's per-flow state layout and constants, shared by its compiled kernels and Python (no numba here).

The state of each flow the fast lane follows is one row of an int64 matrix (columns below), plus one
row of a uint64 matrix for its addresses and flow id. Rows live in an open-addressing hash keyed by
the flow uid (column ``C_UID``: ``EMPTY``, ``TOMB`` or the uid).
"""

# Protocols of the fast lane (codes in the kernels and the port map; 0: not ours, -1: another analyzer's port).
P_MODBUS, P_S7, P_DNP3, P_ENIP = 1, 2, 3, 4
PROTO_CODES = {"modbus": P_MODBUS, "s7comm": P_S7, "dnp3": P_DNP3, "enip": P_ENIP}
PORT_OTHER = -1

# What happened to each packet of a batch (``out_status``).
LANE_NONE = 0  # not the fast lane's: the Python path handles it as always
LANE_CONSUMED = 1  # counted by the kernel; the Python path skips it
LANE_HANDOFF = 2  # consumed, with PDUs handed to the flow's Python analyzer as bytes (see the runs)
LANE_SLOW = 3  # the first packet of a flow the Python path takes over from here (seeded from the row)

# Kernel return status.
ST_DONE, ST_NEED_ROOM, ST_OUT_FULL = 0, 1, 2

# Operation classes the kernel counts (index into OPERATIONS; OP_NONE: a message without one).
OPERATIONS = ("read", "write", "program", "diagnostics", "control", "file_transfer", "session", "other")
OP_NONE = len(OPERATIONS)
OP_HANDOFF = -1  # in the operation tables: a message the Python path must see (its roles are reversed)
N_OPS = OP_NONE + 1
# A message's kind: combo = side * 2 + is_response, side 0 sent by the flow's client (by ports), 1 by its server.
N_COMBOS = 4

EMPTY, TOMB = -1, -2
MODE_FAST, MODE_SLOW = 0, 1

# Row flags.
F_DIRTY = 1  # has counts not yet handed to the inventory (its row index is in out_dirty)
F_FIRST_DONE = 2  # the flow's application protocol and client were handed to the inventory
F_S7 = 4  # an S7comm (0x32) data unit was consumed: the connection speaks S7comm

# int64 columns.
C_UID = 0
C_PROTO = 1
C_SWAP = 2  # 1: the flow's originator is the server (the capture began mid-connection)
C_MODE = 3
C_FLAGS = 4
C_MSGS = 5  # PDUs (link frames for DNP3) consumed or handed off so far
C_FIRST = 6  # combo of the flow's first counted message, until handed to the inventory; -1 none
C_L3 = 7  # 4 or 6
C_CLI_PORT = 8
C_SRV_PORT = 9
C_SKIPPED = 10  # DNP3: bytes skipped looking for the first link frame (the analyzer gives up past 1 KiB)
C_TCP = 11  # per direction (flow direction d): C_TCP + d * TCP_COLS + one of the offsets below
# Stream state as StreamReassembler has it, and what the analyzer knows of the direction: data arrived
# (DATA), a sound PDU or link frame arrived (SYNC).
T_STARTED, T_EXPECTED, T_ENDED, T_PEND_VALID, T_PEND, T_SYNC, T_DATA = 0, 1, 2, 3, 4, 5, 6
TCP_COLS = 7
C_DNP = C_TCP + 2 * TCP_COLS  # per direction: C_DNP + d * DNP_COLS + offset
# The DNP3 transport reassembly in progress in a direction (one at a time): whose (REASM_*), its link
# addresses (src * 65536 + dst), next sequence number, segments so far, and when the kernel holds it,
# its arena slot + 1 and the bytes of link frames kept there.
D_REASM, D_PAIR, D_NEXT, D_SEGMENTS, D_SLOT, D_KEPT = 0, 1, 2, 3, 4, 5
DNP_COLS = 6
REASM_NONE, REASM_PYTHON, REASM_KERNEL = 0, 1, 2
ARENA_BYTES = 4096  # link frames of one fragment the kernel keeps (about 14 full frames); beyond: Python's
ENIP_SLOTS = 4  # requests handed to Python whose replies must follow them, per kind
C_RR_N = C_DNP + 2 * DNP_COLS
C_RR = C_RR_N + 1  # sender contexts of handed SendRRData requests
C_UNIT_N = C_RR + ENIP_SLOTS
C_UNIT = C_UNIT_N + 1  # CIP sequence counts of handed SendUnitData requests
C_CNT = C_UNIT + ENIP_SLOTS  # message counts: C_CNT + combo * N_OPS + op
C_TS_FIRST = C_CNT + N_COMBOS * N_OPS  # + combo
C_TS_LAST = C_TS_FIRST + N_COMBOS
C_UNITS = C_TS_LAST + N_COMBOS  # 256-bit set of Modbus unit ids answered without exception (4 words)
C_EXCEPTIONS = C_UNITS + 4  # 256-bit set of Modbus exception codes answered (4 words)
N_COLS = C_EXCEPTIONS + 4

# uint64 columns.
A_CLI_HI, A_CLI_LO, A_SRV_HI, A_SRV_LO, A_FID = 0, 1, 2, 3, 4
N_ACOLS = 5

# Hand-off runs (int64 rows of out_runs): packet index, offset, length, priming word, flow direction. An
# offset >= 0 is into the batch's frame data, a negative one (-1 - k) at byte k of out_bytes (frames the
# kernel kept from earlier packets).
R_PKT, R_OFF, R_LEN, R_PRIME, R_DIR = 0, 1, 2, 3, 4
N_RCOLS = 5
# The priming word: PDUs (DNP3: link frames) so far in the low 32 bits, then per direction whether a sound
# PDU arrived (SYNC) and whether data arrived (DATA), S7comm seen, and DNP3 bytes skipped before any frame.
PRIME_SYNC_SHIFT = 32
PRIME_S7 = 1 << 34
PRIME_DATA_SHIFT = 35
PRIME_SKIPPED_SHIFT = 40

# Parameters (int64 vector): rows in use, tombstones, free arena slots (the first P_FREE of the free list);
# then the same two counts for the table of opening SYNs.
P_USED, P_TOMBS, P_FREE, P_SYN_USED, P_SYN_TOMBS = 0, 1, 2, 3, 4
N_PARAMS = 5

# A flow whose only packets so far are SYNs from one side (a connection attempt, or one of a SYN flood's
# forged ones) is held in a small table of its own, not in a row: what the row would hold of it is the
# direction's next sequence number. Its next other packet moves it to a row. S_UID is EMPTY/TOMB/uid as C_UID.
S_UID, S_EXPECTED, S_DIR, S_PROTO, S_SWAP = 0, 1, 2, 3, 4
N_SCOLS = 5

# DNP3 function code table bits.
DNP_RESPONSE, DNP_DATA, DNP_FREEZE = 1, 2, 4
# DNP3 object kinds (the object table): > 0 a fixed size in bytes, else one of these.
OBJ_UNKNOWN, OBJ_PACKED1, OBJ_PACKED2, OBJ_OCTETS, OBJ_PYTHON = 0, -1, -2, -3, -4

"""The event lane's per-flow layout and the contract of its encoders (no numba here).

The event lane (eventlane.py) writes the events of the common Modbus/TCP, S7comm, DNP3 and EtherNet/IP
flows as JSON in compiled code, byte for byte what the Python analyzers and msgspec would write. A flow
is the lane's only when its encoder can write *every* event of it: a first pass over the capture runs the
encoders dry and marks the flows they refuse; the second pass writes the lane's flows in compiled code and
gives the refused ones to the Python analyzers from their first packet. A flow never changes hands midway,
so no analyzer state is ever handed over.

Each flow the lane follows is one row of an int64 matrix (columns ``E_*``; the TCP stream state uses
fastlane_layout's T_* offsets) and one row of a uint8 matrix: the event header pieces (``H_*``) and
``SB_BYTES`` of state bytes the encoder may use as it likes (both zero when the flow starts).

**Encoder contract.** Per protocol an ``encode_<proto>(data, off, end, side, ts_ns, frame, hdr, st, sb, out,
pos)`` compiled with json_bytes.UNCOUNTED, returning ``(status, pos)``:

- ``data[off:end]`` is one in-order TCP payload (what StreamReassembler would deliver to the analyzer's
  ``data``) cut to whole PDUs by the driver (eventlane_kernel.frame_end; the start of an unfinished PDU
  before it, when the previous payload ended with one), ``side`` 0 when the flow's client sent it, 1 when
  its server did; every event it makes has packet time ``ts_ns`` and frame number ``frame``;
- ``hdr`` the flow's header row (an event starts with eventlane_json.begin_event), ``st`` the flow's
  ``ST_COLS`` int64 state columns, ``sb`` its state bytes;
- events are written to ``out`` from ``pos``, each a complete line ending in a newline (and no other
  newline: the lines are JSON Lines);
- ``ENC_OK``: every byte of the payload was accounted for (whole PDUs only) and the events are those the
  Python analyzer would emit for it, in its order; ``ENC_REFUSE``: the Python analyzer would do anything
  the encoder does not reproduce (an anomaly, a PDU across payloads, identity, a function it does not
  write, a value it cannot format exactly); ``ENC_FULL``: ``out`` has no room for the next event (checked
  against the largest the encoder can write). The encoders change ``st``/``sb`` in place: the driver never
  calls a flow's encoder again after anything but ENC_OK (the survey drops the flow: ENC_FULL there means a
  payload writing more than DRY_OUT bytes; a real walk, which gives every payload DRY_OUT bytes of room,
  meets neither).
"""

# Parameters of a walk (int64 vector): rows in use, tombstones, flows taken per protocol (+ P_* code), and
# whether anomaly events are unwanted (``events --no-anomalies``: the survey refuses flows that write one).
Q_USED, Q_TOMBS, Q_TAKEN, Q_NO_ANOMALIES = 0, 1, 2, 7
N_QPARAMS = 8

# A walk's result: done with the batch; grow the table and call again; make room in the output and call
# again; the survey and this (real) walk disagree on a flow (a bug).
ST_DONE, ST_NEED_ROOM, ST_OUT_FULL, ST_DIVERGED = 0, 1, 2, 3

# Encoder results.
ENC_OK, ENC_REFUSE, ENC_FULL = 0, 1, 2

# Row modes.
MODE_LANE, MODE_REFUSED = 0, 1

# int64 columns.
E_UID = 0  # the flow uid: the key of fastlane_kernel's open-addressing hash (its C_UID), or EMPTY / TOMB
E_PROTO = 1  # fastlane_layout.P_* code
E_SWAP = 2  # 1: the flow's originator is the server
E_MODE = 3
E_TCP = 4  # per flow direction d: E_TCP + d * fastlane_layout.TCP_COLS + T_* (StreamReassembler's view)
E_CARRY = 18  # + d: bytes of an unfinished PDU kept from direction d's last payload (see CARRY)
E_STATE = 24  # the encoder's state columns: st = row[E_STATE:E_STATE + ST_COLS]
ST_COLS = 104
N_ECOLS = E_STATE + ST_COLS

# uint8 row: header pieces, then the encoder's state bytes.
# H_SIDE + side * H_SIDE_BYTES: length byte, then ',"proto":"<p>","kind":"message","src":"<s>","dst":"<d>",
# "sport":<n>,"dport":<n>,"is_response":' for a message sent by that side (0 client, 1 server).
H_SIDE = 0
H_SIDE_BYTES = 128
# H_FLOW: ',"flow_id":"C<16 hex>","frame":' (FLOW_BYTES bytes).
H_FLOW = 2 * H_SIDE_BYTES
FLOW_BYTES = 39
H_ANOMALY = H_FLOW + FLOW_BYTES  # set (1) by eventlane_json.begin_anomaly: the flow wrote an anomaly event
HDR_BYTES = H_FLOW + 40
SB = HDR_BYTES  # the state bytes: sb = urow[SB:SB + SB_BYTES]
SB_BYTES = 728
# Per direction d, at CARRY + d * CARRY_BYTES: the start of a PDU whose end has not arrived yet. The driver
# frames the payloads (the protocol's length field) and hands the encoder whole PDUs only, an unfinished one
# with the payload that finishes it (the analyzer emits its events there too); a longer one is refused.
CARRY = SB + SB_BYTES
CARRY_BYTES = 1024
N_UBYTES = CARRY + 2 * CARRY_BYTES

# The survey's output buffer: a payload writing more is refused; a real walk starts each payload with this
# much room, so an accepted flow's encoder never runs out of it there.
DRY_OUT = 1 << 20

# Flows the lane follows at once at most; beyond, new flows are refused (the Python path takes them). A row
# is about 4 KiB and the hash keeps at most a quarter of its rows in use: at most 128 MiB for the table.
MAX_ROWS = 1 << 13

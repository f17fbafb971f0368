"""The event IEC 60870-5-104 analyzers emit (one per APDU)."""

from __future__ import annotations

import msgspec

from zonewarden.model.events import Event


class Iec104Event(Event, kw_only=True):
    """One IEC 60870-5-104 APDU: an I format (numbered, carrying an ASDU), S (acknowledgement) or U (control)."""

    proto: str = "iec104"
    apci: str
    """APCI format: ``I`` (information transfer), ``S`` (numbered supervisory) or ``U`` (unnumbered control)."""
    send_seq: int | None = None
    """N(S), the sender's send sequence number (I format)."""
    recv_seq: int | None = None
    """N(R), the next N(S) the sender expects from its peer: it acknowledges everything before (I and S)."""
    u_function: str | None = None
    """U format function: ``startdt_act``, ``startdt_con``, ``stopdt_act``, ``stopdt_con``, ``testfr_act``,
    ``testfr_con`` (``unknown-N``: N is the first control octet shifted right by two)."""
    type_id: int | None = None
    """ASDU type identification (I format), e.g. 1 single-point, 45 single command, 100 interrogation."""
    type_name: str | None = None
    """Type identification mnemonic, e.g. ``M_SP_NA_1``, ``C_SC_NA_1`` (``unknown-N`` for unassigned ids)."""
    sq: bool | None = None
    """Variable structure qualifier SQ bit: the objects have consecutive addresses from the first one."""
    num_objects: int | None = None
    """Number of information objects the variable structure qualifier announces (0..127)."""
    cot: int | None = None
    """Cause of transmission (6 bits): 3 spontaneous, 6 activation, 7 activation confirmation, 20 interrogated..."""
    cot_name: str | None = None
    """Cause of transmission name: ``spont``, ``act``, ``actcon``, ``actterm``, ``inrogen``... (``unknown-N``)."""
    negative: bool | None = None
    """P/N bit of the cause of transmission: a negative confirmation."""
    test: bool | None = None
    """T bit of the cause of transmission: a test ASDU, not to be acted upon."""
    originator: int | None = None
    """Originator address (second cause-of-transmission octet; 0 when unused)."""
    common_address: int | None = None
    """Common address of the ASDU (the station or sector addressed)."""
    ioas: list[int] = msgspec.field(default_factory=list)
    """Information object addresses in wire order (SQ=1: consecutive from the first). Empty for S and U
    formats. For types without a known element layout only the first address is listed."""
    values: list[int | float | None] | None = None
    """Per object, aligned with ``ioas``: single point 0/1, double point 0..3, step position -64..63, bitstring
    and counter as integers, normalized values as -1..1 floats, scaled as integers, short floats (null when
    not finite); commands: the commanded state (single 0/1, double and regulating step 0..3) or set point;
    end of initialisation: its cause; test and file ASDUs: the test counter/pattern or the file name. Null
    where the type carries no value (interrogation, read, clock synchronisation...)."""
    quality: list[int | None] | None = None
    """Per object, aligned with ``ioas``: quality bits OV 0x01, EI 0x08 (protection), BL 0x10, SB 0x20,
    NT 0x40, IV 0x80 (single/double points: the same bits of SIQ/DIQ); counters: CY 0x20, CA 0x40, IV 0x80.
    Null where the type carries no quality."""
    time_tags: list[str | None] | None = None
    """Per object, aligned with ``ioas``: the CP56Time2a time tag as ``YYYY-MM-DDTHH:MM:SS.mmm`` (no zone:
    the standard leaves it to the installation); the clock synchronisation command's new time. Null when
    the object has no seven-octet time tag."""
    select: bool | None = None
    """Commands with a select/execute bit (45..50, 58..63): true for select, false for execute (first object)."""
    qualifier: int | None = None
    """First object's qualifier: commands QU (pulse: 1 short, 2 long, 3 persistent) or set-point QL;
    interrogation QOI (20 station, 21..36 groups), counter interrogation QCC, reset process QRP,
    parameter QPM/QPA, file transfer qualifiers."""

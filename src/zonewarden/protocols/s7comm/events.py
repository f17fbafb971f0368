"""The events the ISO-on-TCP analyzer (port 102) emits: S7comm PDUs, S7comm-plus messages, COTP connections."""

from __future__ import annotations

import msgspec

from zonewarden.model.events import Event


class S7Item(msgspec.Struct, kw_only=True):
    """One variable of a read/write var request (S7ANY addressing; other syntaxes carry only ``syntax_id``)."""

    syntax_id: int
    area: int | None = None
    area_name: str | None = None
    db_number: int | None = None
    address: int | None = None
    byte_address: int | None = None
    bit: int | None = None
    transport_size: int | None = None
    length: int | None = None


class CotpEvent(Event, kw_only=True):
    """A COTP connection TPDU (CR, CC, DR, DC, ER) on an S7 connection. ``proto`` is the connection's
    application protocol (``s7comm`` or ``s7comm_plus``), known once its first data arrives."""

    proto: str = "s7comm"
    pdu_type: int
    """TPDU code: 0x0e CR (connection request), 0x0d CC (confirm), 0x08 DR, 0x0c DC, 0x07 ER."""
    pdu_type_name: str
    """``CR``, ``CC``, ``DR``, ``DC`` or ``ER``."""
    dst_ref: int | None = None
    """Destination reference."""
    src_ref: int | None = None
    """Source reference."""
    tpdu_size: int | None = None
    """Proposed/accepted maximum TPDU size in bytes (CR/CC)."""
    src_tsap: str | None = None
    """Calling TSAP (parameter 0xC1, the client side) as hex."""
    dst_tsap: str | None = None
    """Called TSAP (parameter 0xC2, the PLC side) as hex."""
    src_tsap_text: str | None = None
    """Calling TSAP as text when printable."""
    dst_tsap_text: str | None = None
    """Called TSAP as text when printable (S7-1200/1500: e.g. ``SIMATIC-ROOT-HMI``, ``SIMATIC-ROOT-ES``)."""
    connection_type: str | None = None
    """From a two-byte called TSAP's first byte: ``pg`` (programming device), ``op`` (HMI), ``s7_basic``."""
    rack: int | None = None
    """Rack of the addressed CPU, from a two-byte called TSAP (bits 5-7 of its second byte)."""
    slot: int | None = None
    """Slot of the addressed CPU, from a two-byte called TSAP (bits 0-4 of its second byte)."""
    reason: int | None = None
    """Disconnect reason (DR)."""


class S7commEvent(Event, kw_only=True):
    """One S7comm PDU (protocol id 0x32), reported at the frame completing its COTP reassembly."""

    proto: str = "s7comm"
    rosctr: int
    """PDU type: 1 job, 2 ack, 3 ack_data, 7 userdata."""
    rosctr_name: str
    """``job``, ``ack``, ``ack_data``, ``userdata``."""
    pdu_ref: int
    """PDU reference (matches a job to its ack_data)."""
    param_length: int
    """Parameter part length from the header."""
    data_length: int
    """Data part length from the header."""
    error_class: int | None = None
    """Header error class (ack, ack_data); 0 when no error."""
    error_code: int | None = None
    """Header error code (ack, ack_data)."""
    function: int | None = None
    """Parameter function code of a job/ack_data (0xf0 setup, 0x04 read var, 0x05 write var, 0x1a-0x1f
    block up/download, 0x28 PLC control, 0x29 PLC stop); for responses also taken from the request."""
    function_name: str | None = None
    """Function name, e.g. ``read_var``, ``plc_stop`` (``unknown-N`` for unlisted codes)."""
    userdata_type: int | None = None
    """Userdata type: 0 push, 4 request, 8 response."""
    function_group: int | None = None
    """Userdata function group (1 programmer commands, 2 cyclic data, 3 block functions, 4 CPU functions,
    5 security, 7 time functions...)."""
    function_group_name: str | None = None
    """Userdata function group name."""
    subfunction: int | None = None
    """Userdata subfunction (group 4: 1 read SZL...)."""
    subfunction_name: str | None = None
    """Userdata subfunction name, e.g. ``read_szl``, ``plc_password``, ``set_clock``."""
    sequence_number: int | None = None
    """Userdata sequence number."""
    data_unit_ref: int | None = None
    """Userdata data unit reference (ties the fragments of one answer together)."""
    more_fragments: bool | None = None
    """Userdata answer continued in a later PDU (last data unit = no)."""
    userdata_error: int | None = None
    """Userdata parameter error code (responses)."""
    return_code: int | None = None
    """Return code of the userdata data part (0xff success)."""
    szl_id: int | None = None
    """SZL id of a read SZL request/response (0x0011 module identification, 0x001c component identification...)."""
    szl_index: int | None = None
    """SZL index of a read SZL request/response."""
    szl_record_count: int | None = None
    """Number of SZL records announced in a read SZL answer."""
    item_count: int | None = None
    """Read/write var and cyclic-data subscriptions (userdata group 2): number of items."""
    items: list[S7Item] | None = None
    """Read/write var and cyclic-data subscriptions: the addressed variables (``syntax_id``, ``area``,
    ``area_name``, ``db_number``, ``address`` in bits, ``byte_address``, ``bit``, ``transport_size``,
    ``length``); responses carry their request's; at most 128."""
    return_codes: list[int] | None = None
    """Read/write var responses and cyclic data: one return code per item (0xff success, 0x05 invalid
    address, 0x0a object does not exist...)."""
    max_amq_calling: int | None = None
    """Setup communication: maximum parallel jobs, calling side."""
    max_amq_called: int | None = None
    """Setup communication: maximum parallel jobs, called side."""
    pdu_size: int | None = None
    """Setup communication: requested/negotiated PDU size."""
    function_status: int | None = None
    """Block up/download: function status byte (0x01 more data follows, 0x02 error)."""
    filename: str | None = None
    """Block up/download: the file name, e.g. ``_0A00001P``. Answers carry their request's block, upload and
    end upload jobs the block of their upload session, PLC control ``_INSE``/``_DELE`` its first listed block."""
    block_type: str | None = None
    """Block up/download: ``OB``, ``DB``, ``SDB``, ``FC``, ``SFC``, ``FB``, ``SFB`` (see ``filename``)."""
    block_number: int | None = None
    """Block up/download: block number (see ``filename``)."""
    filesystem: str | None = None
    """Block up/download: destination file system, ``P`` passive, ``A`` active, ``B`` both."""
    upload_id: int | None = None
    """Upload session id."""
    block_length: int | None = None
    """Block length (load memory) announced by request download or start upload ack."""
    pi_service: str | None = None
    """PLC control / PLC stop service name, e.g. ``_INSE`` (activate blocks), ``_DELE`` (delete blocks),
    ``P_PROGRAM`` (start with PLC control, stop with PLC stop), ``_GARB`` (compress memory), ``_MODU``
    (copy RAM to ROM)."""
    pi_blocks: list[str] | None = None
    """PLC control ``_INSE``/``_DELE``: the blocks, e.g. ``DB1``, ``OB1``."""
    pi_argument: str | None = None
    """PLC control: the parameter block as text for other services."""
    order_number: str | None = None
    """Identity (SZL 0x0011): order number (MLFB), e.g. ``6ES7 315-2EH14-0AB0``."""
    hardware_version: str | None = None
    """Identity (SZL 0x0011 index 6): hardware version."""
    firmware_version: str | None = None
    """Identity (SZL 0x0011 index 7): firmware version, e.g. ``V3.2.7``."""
    module_type_name: str | None = None
    """Identity (SZL 0x001c index 7): module type name, e.g. ``CPU 315-2 PN/DP``."""
    plc_name: str | None = None
    """Identity (SZL 0x001c index 1): name of the automation system (station name)."""
    module_name: str | None = None
    """Identity (SZL 0x001c index 2): module name."""
    plant_id: str | None = None
    """Identity (SZL 0x001c index 3): plant designation."""
    copyright: str | None = None
    """Identity (SZL 0x001c index 4): copyright entry (``Original Siemens Equipment``)."""
    serial_number: str | None = None
    """Identity (SZL 0x001c index 5): module serial number."""
    memory_card_serial: str | None = None
    """Identity (SZL 0x001c index 8): memory card serial number."""
    manufacturer_id: int | None = None
    """Identity (SZL 0x001c index 9): PROFIBUS manufacturer id (0x002a Siemens)."""
    profile_id: int | None = None
    """Identity (SZL 0x001c index 9): profile id."""
    profile_spec_type: int | None = None
    """Identity (SZL 0x001c index 9): profile-specific type."""
    oem_copyright: str | None = None
    """Identity (SZL 0x001c index 10): OEM copyright string."""
    oem_id: int | None = None
    """Identity (SZL 0x001c index 10): OEM id."""
    oem_add_id: int | None = None
    """Identity (SZL 0x001c index 10): OEM additional id."""
    location: str | None = None
    """Identity (SZL 0x001c index 11): location designation."""
    cpu_mode: str | None = None
    """SZL 0x0424 (current mode) / 0x0124 (last mode transition): the CPU's operating mode (``run``,
    ``stop``, ``startup_warm``...)."""
    request_frame: int | None = None
    """For responses: the frame of the matched request."""


class S7commPlusEvent(Event, kw_only=True):
    """One S7comm-plus message (protocol id 0x72), reported at the frame completing it (several PDUs
    when the message was fragmented)."""

    proto: str = "s7comm_plus"
    version: int
    """Protocol version: 1, 2, 3 (data), 0xfe (system event), 0xff (keep-alive)."""
    opcode: int | None = None
    """0x31 request, 0x32 response, 0x33 notification, 0x02 response2."""
    opcode_name: str | None = None
    """``request``, ``response``, ``notification``, ``response2``."""
    function: int | None = None
    """Function code of a request/response (0x04ca create_object, 0x04f2 set_variable, 0x054c
    get_multi_variables, 0x0542 set_multi_variables, 0x0586 get_var_sub_streamed, 0x04d4 delete_object...)."""
    function_name: str | None = None
    """Function name (``unknown-N`` for unlisted codes)."""
    sequence_number: int | None = None
    """Request/response sequence number."""
    session: int | None = None
    """Session id carried by requests (the object id the PLC returned to create_object)."""
    transport_flags: int | None = None
    """Transport flags byte after the request/response head."""
    subscription: int | None = None
    """Notifications: the subscription object id."""
    data_length: int
    """Data length of the (first) PDU header."""
    fragments: int = 1
    """Number of PDUs the message was sent in."""
    protected: bool = False
    """An integrity part (32-byte digest) is present: at the start of the data (version 3) or at its end
    (version 2). Version 1 and unprotected version 2 messages carry none."""
    order_number: str | None = None
    """Identity: an order number (MLFB) found in the message, e.g. ``6ES7 214-1HE30-0XB0``."""
    serial_number: str | None = None
    """Identity: serial number from a module identification blob next to the order number."""
    firmware_version: str | None = None
    """Identity: firmware version from a module identification blob, e.g. ``V2.2.0``."""
    request_frame: int | None = None
    """For responses: the frame of the request with the same sequence number."""

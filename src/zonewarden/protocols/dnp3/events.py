"""The events DNP3 analyzers emit: one per application fragment (APDU) and one per link-only frame."""

from __future__ import annotations

import msgspec

from zonewarden.model.events import Event


class Dnp3Point(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One point (data object instance) carried by a message; absent attributes are omitted."""

    object: str
    """Object group and variation, e.g. ``g30v1``."""
    index: int | None = None
    """Point index (from the index prefix or the start of the range); null when the qualifier has none."""
    value: int | float | str | None = None
    """Value: state (0/1, or 0-3 for double-bit), count, analog value, time delay or interval; a CROB
    (g12v1) has none; ``str`` only for g0 attributes. Non-finite floats are null."""
    flags: int | None = None
    """Quality flags octet (online, restart, comm lost, forced...), as sent."""
    time: int | None = None
    """Absolute time carried by the point (ms since the epoch, UTC), e.g. event time or g50 time."""
    status: int | None = None
    """Control status of a command object (CROB g12, analog output block g41, command events g13/g43)."""
    control_code: int | None = None
    """CROB control code octet: operation (low nibble: 1 pulse on, 2 pulse off, 3 latch on, 4 latch off),
    clear bit 0x20, trip/close in the top two bits (0x40 close, 0x80 trip)."""
    count: int | None = None
    """CROB: number of times to repeat the operation."""
    on_time: int | None = None
    """CROB: on time (ms)."""
    off_time: int | None = None
    """CROB: off time (ms)."""


class Dnp3Event(Event, kw_only=True):
    """One DNP3 application fragment (after link CRC checks and transport reassembly), or one link-layer
    frame without user data (link status, reset, ACK...: ``function_code`` null, ``link_function`` set)."""

    proto: str = "dnp3"
    link_src: int
    """Data link source address."""
    link_dst: int
    """Data link destination address (0xFFFD-0xFFFF: broadcast)."""
    link_function: int
    """Data link function code of the frame (completing the fragment): primary 0 reset link, 2 test link,
    3 confirmed user data, 4 unconfirmed user data, 9 request link status; secondary 0 ACK, 1 NACK,
    11 link status, 15 not supported."""
    link_function_name: str
    """Name of ``link_function`` (per the PRM bit), e.g. ``unconfirmed_user_data``, ``link_status``."""
    link_primary: bool
    """PRM bit: the frame comes from the primary (initiating) station of the link transaction."""
    link_dir: bool
    """DIR bit: set on frames sent by a master."""
    function_code: int | None = None
    """Application layer function code (0 confirm, 1 read, 2 write, 3 select, 4 operate, 5 direct operate,
    13 cold restart, 129 response, 130 unsolicited response...); null for link-only frames."""
    function: str | None = None
    """Name of ``function_code``, e.g. ``read``, ``direct_operate``, ``unsolicited_response``
    (``unknown-N`` for unlisted codes)."""
    seq: int | None = None
    """Application sequence number (0-15); a response echoes its request's."""
    fir: bool | None = None
    """Application control FIR: first fragment of a multi-fragment message."""
    fin: bool | None = None
    """Application control FIN: final fragment of the message."""
    con: bool | None = None
    """Application control CON: the sender asks for an application confirm."""
    uns: bool | None = None
    """Application control UNS: unsolicited response, or the confirm of one."""
    unsolicited: bool = False
    """True for unsolicited responses (function 130)."""
    iin: int | None = None
    """Internal indications of a response, as IIN1 * 256 + IIN2 (e.g. 0x8000: device restart)."""
    iin_flags: list[str] | None = None
    """Names of the IIN bits set, e.g. ``device_restart``, ``need_time``, ``class1_events``."""
    objects: list[str] | None = None
    """Object headers in order, as ``g<group>v<variation>`` (``g60v1`` class 0 data, ``g12v1`` CROB...);
    null for link-only frames."""
    qualifiers: list[int] | None = None
    """Qualifier octet of each object header, in the order of ``objects``."""
    ranges: list[list[int]] | None = None
    """Per object header: ``[start, stop]`` for range qualifiers (``[a, a]`` for an absolute address),
    ``[count]`` for count qualifiers, ``[]`` for qualifier 0x06 (all points)."""
    points: list[Dnp3Point] | None = None
    """Point values carried by the message, at most 64 (see ``points_total``). Each has ``object``
    (``g30v1``) and, when carried, ``index``, ``value``, ``flags``, ``time`` (ms since the epoch),
    ``status``, and for CROBs ``control_code``, ``count``, ``on_time``, ``off_time``."""
    points_total: int | None = None
    """Number of points the object headers carry (data objects, or indexes in requests)."""
    device_attributes: dict[str, int | float | str] | None = None
    """Group 0 device attributes by name (``manufacturer_name``, ``product_name_model``,
    ``software_version``, ``max_rx_fragment_size``...): reported by an outstation in a response, or
    written by a master (location, device name...) in a request."""
    vendor_name: str | None = None
    """Identity (from responses only, like the six fields after it): device manufacturer's name (g0v252)."""
    product_name: str | None = None
    """Identity: device product name and model (g0v250)."""
    software_version: str | None = None
    """Identity: manufacturer's software (firmware) version (g0v242)."""
    hardware_version: str | None = None
    """Identity: manufacturer's hardware version (g0v243)."""
    serial_number: str | None = None
    """Identity: device serial number (g0v248)."""
    device_name: str | None = None
    """Identity: user-assigned device name (g0v247)."""
    location: str | None = None
    """Identity: user-assigned location (g0v245)."""
    secure_auth: str | None = None
    """First Secure Authentication object (group 120) in the message, by name: ``challenge``, ``reply``,
    ``aggressive_mode_request``, ``session_key_change``, ``error``, ``mac``..."""
    auth_user: int | None = None
    """Secure Authentication user number (g120 challenge/reply/aggressive mode/key status/error)."""
    auth_error: int | None = None
    """Secure Authentication error code (g120v7): 1 authentication failed, 4 MAC not permitted..."""
    file_name: str | None = None
    """File name of a file command (g70v3: open, delete, get info)."""
    fragment_size: int | None = None
    """Application fragment length in bytes (after transport reassembly)."""
    segments: int | None = None
    """Number of transport segments (link frames) the fragment was reassembled from."""
    request_function: int | None = None
    """For solicited responses: the function code of the matched request (same link addresses and seq)."""
    request_frame: int | None = None
    """For solicited responses: the frame of the matched request."""

"""The event the BACnet/IP analyzer emits (one per BVLC message, i.e. per datagram)."""

from __future__ import annotations

import msgspec

from zonewarden.model.events import Event

# A decoded value: null, boolean, integer, real, or text (character strings; octet strings as hex; bit
# strings as "0101"; dates "2024-03-01" with "*" wildcards and " wN" weekday; times "13:05:00.00";
# object identifiers "analog_input:3"; context-tagged primitives "[N]hex").
Value = None | bool | int | float | str


class PropertyValue(msgspec.Struct, kw_only=True):
    """One property of one object in a ReadPropertyMultiple, WritePropertyMultiple or COV notification."""

    object_type: int | None = None
    """Object type number."""
    object_instance: int | None = None
    """Object instance number."""
    property_id: int | None = None
    """Property identifier number."""
    property_name: str | None = None
    """Property name, e.g. ``present_value``."""
    array_index: int | None = None
    """Array index, when one element is addressed."""
    values: list[Value] | None = None
    """The property's value(s), flattened."""
    priority: int | None = None
    """Write priority (1..16)."""
    error_class: int | None = None
    """Error class of a failed read (ReadPropertyMultiple-ACK)."""
    error_code: int | None = None
    """Error code of a failed read."""


class BacnetEvent(Event, kw_only=True):
    """One BACnet/IP message: BVLC, then the network-layer message or the APDU it carries.

    Segmented messages give one event per segment; the last one carries the parameters of the whole
    reassembled message. Responses are matched to requests by invoke id; a response missing object or
    property (SimpleACK, Error) takes them from its request. ``is_response`` is true for ACKs, Error,
    Reject, server Abort and SegmentACK, I-Am, I-Have, BVLC-Result and the BVLC and network "ack" messages.
    """

    proto: str = "bacnet"
    bvlc_type: int
    """BVLC type: 0x81 (129) BACnet/IP, 0x82 (130) BACnet/IPv6 (not decoded further)."""
    bvlc_function: int
    """BVLC function code (10 original unicast NPDU, 11 original broadcast, 4 forwarded NPDU, 0 result...)."""
    bvlc_function_name: str
    """BVLC function name, e.g. ``original_unicast_npdu``."""
    bvlc_result: int | None = None
    """BVLC-Result code (0 success, 0x30 register-foreign-device NAK...)."""
    forwarded_ip: str | None = None
    """Forwarded-NPDU: IP address of the original sender (the device, not the BBMD that forwarded it)."""
    forwarded_port: int | None = None
    """Forwarded-NPDU: UDP port of the original sender."""
    bvlc_ttl: int | None = None
    """Register-Foreign-Device: time to live (seconds)."""
    bvlc_entries: list[str] | None = None
    """BDT entries ``ip:port/mask`` (Write-BDT, Read-BDT-Ack) or FDT entries ``ip:port ttl=T remaining=R``."""
    npdu_control: int | None = None
    """NPDU control octet (0x80 network message, 0x20 DNET, 0x08 SNET, 0x04 expecting reply, 0x03 priority)."""
    dnet: int | None = None
    """Destination network number (65535: global broadcast)."""
    dadr: str | None = None
    """Destination MAC address on DNET, hex (empty: broadcast on DNET)."""
    snet: int | None = None
    """Source network number (set by the router that brought the message from another network)."""
    sadr: str | None = None
    """Source MAC address on SNET, hex (e.g. an MS/TP station behind a router)."""
    hop_count: int | None = None
    """Remaining hop count of a routed message."""
    network_message_type: int | None = None
    """Network-layer message type (0 Who-Is-Router-To-Network, 1 I-Am-Router-To-Network...)."""
    network_message: str | None = None
    """Network-layer message name, e.g. ``i_am_router_to_network``."""
    networks: list[int] | None = None
    """Network numbers a network-layer message names (the networks a router reaches...)."""
    apdu_type: int | None = None
    """APDU type: 0 confirmed request, 1 unconfirmed, 2 simple ACK, 3 complex ACK, 4 segment ACK, 5 error,
    6 reject, 7 abort; null for BVLC-only and network-layer messages."""
    apdu_type_name: str | None = None
    """APDU type name, e.g. ``confirmed_request``."""
    service: str | None = None
    """Service name, e.g. ``read_property``, ``who_is``, ``reinitialize_device`` (``unknown-N`` if unlisted);
    for Reject and Abort, the service of the matched request."""
    service_choice: int | None = None
    """Service choice number (confirmed and unconfirmed services are numbered separately)."""
    invoke_id: int | None = None
    """Invoke id pairing a confirmed request with its response."""
    segmented: bool | None = None
    """The message is one segment of a segmented request or complex ACK."""
    more_follows: bool | None = None
    """More segments follow this one."""
    sequence_number: int | None = None
    """Segment sequence number (segments and SegmentACKs)."""
    window_size: int | None = None
    """Proposed (segments) or actual (SegmentACK) window size."""
    segments: int | None = None
    """On the last segment: how many segments were reassembled into this message."""
    negative_ack: bool | None = None
    """SegmentACK: negative acknowledgement (a segment was missed)."""
    max_apdu: int | None = None
    """Maximum APDU length accepted, octets (confirmed request header, or I-Am)."""
    max_segments: int | None = None
    """Maximum segments accepted (confirmed request; 65 means more than 64)."""
    object_type: int | None = None
    """Object type the service addresses (the first one for multiple-property services; for I-Have the
    object found, for notifications the monitored object)."""
    object_type_name: str | None = None
    """Object type name, e.g. ``analog_input``, ``device``."""
    object_instance: int | None = None
    """Instance number of that object (4194303 is the device wildcard)."""
    property_id: int | None = None
    """Property identifier (the first one for multiple-property services)."""
    property_name: str | None = None
    """Property name, e.g. ``present_value``."""
    array_index: int | None = None
    """Array index of the property, when one element is addressed."""
    priority: int | None = None
    """Write priority (WriteProperty)."""
    values: list[Value] | None = None
    """Value(s) of the property read, written or notified (the first property of multiple-property services);
    time synchronisation: [date, time]."""
    properties: list[PropertyValue] | None = None
    """Every object/property of ReadPropertyMultiple, WritePropertyMultiple and COV notifications, each
    ``{object_type, object_instance, property_id, property_name, array_index, values, priority, error_class,
    error_code}`` (error class/code: a property a ReadPropertyMultiple-ACK could not read)."""
    values_truncated: bool | None = None
    """True when the message held more values or properties than one event shows (1024 / 256)."""
    low_limit: int | None = None
    """Who-Is / Who-Has: lowest device instance asked for."""
    high_limit: int | None = None
    """Who-Is / Who-Has: highest device instance asked for."""
    object_name: str | None = None
    """Object name searched (Who-Has), found (I-Have), or the object-name property read, written or notified."""
    error_class: int | None = None
    """Error class (0 device, 1 object, 2 property, 3 resources, 4 security, 5 services...) of an Error PDU, or
    of the first property a ReadPropertyMultiple-ACK could not read."""
    error_code: int | None = None
    """Error code (31 unknown object, 32 unknown property, 26 password failure, 40 write access denied...)."""
    reject_reason: int | None = None
    """Reject reason (9 unrecognized service...)."""
    abort_reason: int | None = None
    """Abort reason (4 segmentation not supported...)."""
    reason: str | None = None
    """Name of the error (``property/unknown_property``), reject or abort reason, BVLC-Result or network
    reject reason."""
    process_id: int | None = None
    """Subscriber process identifier (COV subscriptions and notifications, event services)."""
    lifetime: int | None = None
    """SubscribeCOV lifetime, or time remaining in a COV notification (seconds)."""
    duration: int | None = None
    """DeviceCommunicationControl time duration (minutes)."""
    state: str | None = None
    """DeviceCommunicationControl ``enable``/``disable``/``disable_initiation``, or ReinitializeDevice state
    (``coldstart``, ``warmstart``, ``start_backup``...)."""
    password_present: bool | None = None
    """DeviceCommunicationControl / ReinitializeDevice: a password was sent (its value is not reported)."""
    private_vendor_id: int | None = None
    """PrivateTransfer: vendor of the proprietary service."""
    private_service: int | None = None
    """PrivateTransfer: the vendor's service number."""
    file_position: int | None = None
    """AtomicReadFile / AtomicWriteFile: start position (octet or record)."""
    file_octets: int | None = None
    """AtomicReadFile: octets requested or returned; AtomicWriteFile: octets written."""
    end_of_file: bool | None = None
    """AtomicReadFile-ACK: end of file reached."""
    device_instance: int | None = None
    """Identity: the device's instance number (I-Am, I-Have, notifications, reads of its device object)."""
    vendor_id: int | None = None
    """Identity: ASHRAE vendor identifier (I-Am, vendor-identifier property, Who-Am-I)."""
    vendor: str | None = None
    """Identity: vendor name looked up from ``vendor_id`` (``unknown-N`` if not in our table)."""
    segmentation: str | None = None
    """Identity (I-Am): segmentation supported, e.g. ``segmented_both``, ``no_segmentation``."""
    vendor_name: str | None = None
    """Identity: vendor-name property (121) of the device object, as the device reports it."""
    model_name: str | None = None
    """Identity: model-name property (70), or Who-Am-I / You-Are model name."""
    firmware_revision: str | None = None
    """Identity: firmware-revision property (44)."""
    application_software_version: str | None = None
    """Identity: application-software-version property (12)."""
    device_name: str | None = None
    """Identity: object-name property (77) of the device object."""
    location: str | None = None
    """Identity: location property (58) of the device object."""
    description: str | None = None
    """Identity: description property (28) of the device object."""
    serial_number: str | None = None
    """Identity: serial-number property (372), or Who-Am-I / You-Are serial number."""
    request_frame: int | None = None
    """For responses: the frame of the matched request."""

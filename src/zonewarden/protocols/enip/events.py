"""The events EtherNet/IP analyzers emit: one per encapsulation message (TCP and UDP 44818) and one per
connected I/O datagram (UDP 2222)."""

from __future__ import annotations

import msgspec

from zonewarden.model.events import Event


class CipService(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One CIP service inside another: a Multiple Service Packet entry or an Unconnected Send's
    embedded request. Keys: ``service``, ``service_name``, ``cip_class``, ``cip_instance``,
    ``cip_attribute``, ``cip_symbol``, ``cip_status`` and ``cip_extended_status`` (replies); null ones
    are left out."""

    service: int
    service_name: str
    cip_class: int | None = None
    cip_instance: int | None = None
    cip_attribute: int | None = None
    cip_symbol: str | None = None
    cip_status: int | None = None
    cip_extended_status: int | None = None


class EnipEvent(Event, kw_only=True):
    """One EtherNet/IP encapsulation message and the CIP message it carries. Fields a message does not
    carry are null; a reply takes the path fields (class, instance, attribute, symbol, embedded request)
    from its matched request. ListIdentity replies and Identity object replies carry the identity."""

    proto: str = "enip"
    command: int
    """Encapsulation command, e.g. 0x6F SendRRData (unconnected), 0x70 SendUnitData (connected)."""
    command_name: str
    """Command name, e.g. ``send_rr_data``, ``list_identity`` (``unknown-N`` for unlisted codes)."""
    session: int
    """Session handle (from RegisterSession)."""
    encap_status: int
    """Encapsulation status (0 success)."""
    sender_context: str
    """The 8-byte sender context as hex; a SendRRData reply echoes its request's."""
    cpf_types: list[int] | None = None
    """Common Packet Format item type ids, in order (e.g. [0, 178]: null address, unconnected data)."""
    connection_id: int | None = None
    """SendUnitData: the connected address item's connection id."""
    cip_sequence: int | None = None
    """SendUnitData: the CIP sequence count of the connected data item."""
    cip_service: int | None = None
    """CIP service code without the reply bit (0x80)."""
    cip_service_name: str | None = None
    """Service name in the context of the addressed class, e.g. ``get_attribute_single``, ``forward_open``,
    ``read_tag`` (``unknown-N`` when unlisted)."""
    cip_class: int | None = None
    """Class id of the request path (first logical class segment)."""
    cip_instance: int | None = None
    """Instance id of the request path."""
    cip_attribute: int | None = None
    """Attribute id of the request path."""
    cip_symbol: str | None = None
    """Logix tag name from the request path's symbolic segments (joined with ``.``)."""
    cip_status: int | None = None
    """Replies: CIP general status (0 success)."""
    cip_status_name: str | None = None
    """Replies: general status name, e.g. ``path_destination_unknown``."""
    cip_extended_status: int | None = None
    """Replies: the first additional (extended) status word, if any."""
    embedded: CipService | None = None
    """Unconnected Send (0x52 to the Connection Manager): the routed request, a record with ``service``,
    ``service_name``, ``cip_class``, ``cip_instance``, ``cip_attribute``, ``cip_symbol`` (nulls left out)."""
    route_path: str | None = None
    """Where the message is routed beyond the device at the IP address, as hex port segments (e.g. ``0100``:
    backplane, slot 0), so a reply comes from the module there. Unconnected Send: its route path EPATH.
    SendUnitData: the port segments of the connection path of the Forward Open that opened the connection
    (null if that Forward Open was not seen or its path names no port), then an Unconnected Send's route."""
    msp_services: list[CipService] | None = None
    """Multiple Service Packet: the embedded services in order, at most 256; records like ``embedded``, replies'
    with ``cip_status`` and ``cip_extended_status`` and the path of the matching request entry."""
    ot_connection_id: int | None = None
    """Forward Open: O->T network connection id (chosen by the target, in the reply)."""
    to_connection_id: int | None = None
    """Forward Open: T->O network connection id (chosen by the originator)."""
    connection_serial: int | None = None
    """Forward Open/Close: connection serial number."""
    originator_vendor_id: int | None = None
    """Forward Open/Close: the originator's vendor id."""
    originator_serial: int | None = None
    """Forward Open/Close: the originator's serial number."""
    ot_rpi: int | None = None
    """Forward Open: O->T requested packet interval in µs (reply: the actual packet interval)."""
    to_rpi: int | None = None
    """Forward Open: T->O requested packet interval in µs (reply: the actual packet interval)."""
    transport_type: int | None = None
    """Forward Open request: transport type/trigger byte (low nibble: transport class)."""
    connection_path: str | None = None
    """Forward Open/Close request: the connection path EPATH as hex."""
    ot_sockaddr: str | None = None
    """Socket address item O->T (``address:port``), e.g. in a Forward Open reply."""
    to_sockaddr: str | None = None
    """Socket address item T->O (``address:port``), e.g. a multicast group for I/O."""
    vendor_id: int | None = None
    """Identity: vendor id (ListIdentity reply or Identity object reply)."""
    vendor_name: str | None = None
    """Identity: vendor name (compact table; ``unknown-N`` otherwise)."""
    device_type: int | None = None
    """Identity: device type (e.g. 14 programmable logic controller, 12 communications adapter)."""
    device_type_name: str | None = None
    """Identity: device type name."""
    product_code: int | None = None
    """Identity: vendor-specific product code."""
    revision_major: int | None = None
    """Identity: firmware revision, major."""
    revision_minor: int | None = None
    """Identity: firmware revision, minor."""
    device_status: int | None = None
    """Identity: status word (owned, configured, fault bits)."""
    serial_number: int | None = None
    """Identity: serial number."""
    product_name: str | None = None
    """Identity: product name, e.g. ``1756-ENBT/A``."""
    device_state: int | None = None
    """Identity: state (ListIdentity, or attribute 8)."""
    encap_version: int | None = None
    """ListIdentity reply / RegisterSession: encapsulation protocol version."""
    socket_address: str | None = None
    """ListIdentity reply: the device's advertised IP address."""
    socket_port: int | None = None
    """ListIdentity reply: the device's advertised TCP/UDP port."""
    capability_flags: int | None = None
    """ListServices reply: capability flags of the first service (0x20 TCP encapsulation, 0x100 class 0/1 UDP)."""
    request_frame: int | None = None
    """Replies: the frame of the matched request."""


class EnipIoEvent(Event, kw_only=True):
    """One connected (implicit, "class 0/1") I/O datagram on UDP 2222."""

    proto: str = "enip_io"
    connection_id: int
    """Connection id of the address item (the id the consumer chose in the Forward Open)."""
    sequence: int | None = None
    """Encapsulation sequence number of the sequenced address item."""
    data_length: int
    """Length of the connected data item."""
    data: str
    """The connected data as hex (at most 512 bytes; see ``data_length``)."""

"""The event PROFINET DCP analyzers emit (one per DCP frame)."""

from __future__ import annotations

import msgspec

from zonewarden.model.events import Event


class ProfinetDcpEvent(Event, kw_only=True):
    """One PROFINET DCP request or response. ``src``/``dst`` are MAC addresses; in a response ``src`` is the
    device the identity fields describe. In a request the same fields are what is searched for (Identify
    filter) or written (Set)."""

    proto: str = "profinet_dcp"
    frame_id: int
    """PROFINET frame id: 0xFEFC Hello, 0xFEFD Get/Set, 0xFEFE Identify request, 0xFEFF Identify response."""
    service_id: int
    """DCP service: 3 Get, 4 Set, 5 Identify, 6 Hello."""
    service: str
    """Service name: ``get``, ``set``, ``identify``, ``hello`` (``unknown-N``)."""
    service_type: int
    """0 request, 1 response (success), 5 response (request not supported)."""
    xid: int
    """Transaction id pairing responses with their request."""
    response_delay: int | None = None
    """Identify request: the factor spreading the devices' responses over time (units of 10 ms)."""
    options: list[str] = msgspec.field(default_factory=list)
    """The blocks (or Get selectors) in wire order as ``option.suboption``, e.g. ``ip.ip_parameter``,
    ``device.name_of_station``, ``control.reset_to_factory``, ``all.all`` (at most 64)."""
    name_of_station: str | None = None
    """Device/NameOfStation: the device's PROFINET name."""
    vendor_name: str | None = None
    """Device/Manufacturer specific ("type of station"): the vendor's device type string, e.g. ``S7-1200``."""
    vendor_id: int | None = None
    """Device/DeviceID: PROFINET vendor id (assigned by PI)."""
    device_id: int | None = None
    """Device/DeviceID: the vendor's device (product family) id."""
    device_role: int | None = None
    """Device/DeviceRole bits: 0x01 IO device, 0x02 IO controller, 0x04 IO multidevice, 0x08 IO supervisor."""
    device_role_names: list[str] | None = None
    """``device_role`` as names: ``io_device``, ``io_controller``, ``io_multidevice``, ``io_supervisor``."""
    alias_name: str | None = None
    """Device/AliasName (``port-xyz.<neighbour name>``)."""
    device_instance: int | None = None
    """Device/DeviceInstance (high octet << 8 | low octet)."""
    oem_vendor_id: int | None = None
    """Device/OEM DeviceID: vendor id of the OEM."""
    oem_device_id: int | None = None
    """Device/OEM DeviceID: device id of the OEM."""
    mac_address: str | None = None
    """IP/MAC address block."""
    ip_address: str | None = None
    """IP/IP parameter (or full IP suite): the station's IPv4 address."""
    netmask: str | None = None
    """IP parameter: subnet mask."""
    gateway: str | None = None
    """IP parameter: standard gateway."""
    ip_block_info: int | None = None
    """IP BlockInfo in responses and Hello: 0 not set, 1 set, 2 set by DHCP; bit 0x80 address conflict."""
    dns_servers: list[str] | None = None
    """Full IP suite: the four DNS server addresses."""
    dhcp_options: list[int] | None = None
    """DHCP blocks: their DHCP option codes (61 client identifier, 255 control DHCP...)."""
    supported_options: list[str] | None = None
    """Device/DeviceOptions: the options the device supports, as ``option.suboption`` (at most 64)."""
    block_qualifier: int | None = None
    """Set request: the first block's qualifier (0 temporary, 1 permanent; for reset-to-factory the mode)."""
    signal_value: int | None = None
    """Set request Control/Signal: the signal value (0x0100 flash once)."""
    block_error: int | None = None
    """Set response: the first non-zero BlockError of the answered blocks, else 0 (1 option unsupported,
    2 suboption unsupported, 3 not set, 4 resource error, 5 not possible locally, 6 not possible in operation)."""
    request_frame: int | None = None
    """For responses: the frame of the matched request."""

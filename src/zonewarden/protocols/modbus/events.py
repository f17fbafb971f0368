"""The event Modbus/TCP analyzers emit (one per ADU)."""

from __future__ import annotations

from zonewarden.model.events import Event


class ModbusEvent(Event, kw_only=True):
    """One Modbus/TCP request or response."""

    proto: str = "modbus"
    transaction_id: int
    """MBAP transaction identifier."""
    unit_id: int
    """MBAP unit identifier (the addressed slave behind a gateway)."""
    function_code: int
    """Function code without the exception bit (0x80)."""
    function: str
    """Function name, e.g. ``read_holding_registers`` (``unknown-N`` for unlisted codes)."""
    exception_code: int | None = None
    """Exception code of an exception response, else null."""
    address: int | None = None
    """Starting address (reference number); for responses, taken from the matched request."""
    quantity: int | None = None
    """Number of coils/registers; for responses, taken from the matched request."""
    values: list[int] | None = None
    """Register values or coil states carried by the message."""
    sub_function: int | None = None
    """Diagnostics (function 8) sub-function."""
    mei_type: int | None = None
    """MEI type of function 43 (14: read device identification)."""
    device_id: dict[str, str] | None = None
    """Read Device Identification objects by name (vendor_name, product_code, major_minor_revision...)."""
    request_frame: int | None = None
    """For responses: the frame of the matched request."""

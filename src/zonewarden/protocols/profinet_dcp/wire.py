"""PROFINET DCP wire format (EtherType 0x8892, frame ids 0xFEFC..0xFEFF). Pure: bytes in, typed messages out.

The layer-2 payload is ``FrameID, ServiceID, ServiceType, Xid, ResponseDelay|Reserved, DCPDataLength``
(12 octets, big-endian) then blocks ``Option, Suboption, DCPBlockLength, [BlockInfo|BlockQualifier], value``
padded to even length. A Get request lists bare option/suboption pairs instead. Octets after
DCPDataLength are Ethernet padding. Raises Malformed when a DCP frame is too short for its header.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from zonewarden.errors import Malformed
from zonewarden.protocols.profinet_dcp.codes import (
    DCP_FRAME_IDS,
    IP_CONFLICT,
    OPTION_CONTROL,
    OPTION_DEVICE,
    OPTION_DEVICE_INITIATIVE,
    OPTION_DHCP,
    OPTION_IP,
    SERVICE_GET,
    SERVICE_HELLO,
    SERVICE_IDENTIFY,
    SERVICE_SET,
    SERVICE_TYPE_REQUEST,
    SERVICE_TYPES,
    SERVICES,
    option_name,
)

HEADER_LEN = 12
BLOCK_HEADER_LEN = 4
# Blocks per frame and entries per listed field: an Ethernet frame holds at most ~370 empty blocks;
# real devices send a dozen. The excess is reported, not kept.
MAX_BLOCKS = 64
MAX_LISTED = 64


@dataclass(slots=True)
class DcpMessage:
    """One DCP PDU and what its blocks say (fields its blocks do not carry stay None)."""

    frame_id: int
    service_id: int
    service_type: int
    xid: int
    response_delay: int | None
    data_length: int
    options: list[str] = field(default_factory=list)
    name_of_station: str | None = None
    type_of_station: str | None = None
    vendor_id: int | None = None
    device_id: int | None = None
    device_role: int | None = None
    alias_name: str | None = None
    device_instance: int | None = None
    oem_vendor_id: int | None = None
    oem_device_id: int | None = None
    mac_address: str | None = None
    ip_address: str | None = None
    netmask: str | None = None
    gateway: str | None = None
    ip_block_info: int | None = None
    dns_servers: list[str] | None = None
    dhcp_options: list[int] | None = None
    supported_options: list[str] | None = None
    block_qualifier: int | None = None
    signal_value: int | None = None
    device_initiative: int | None = None
    # Set/Get responses: (option name, BlockError) per response block
    results: list[tuple[str, int]] = field(default_factory=list)
    # (reason, detail) for inconsistencies inside an otherwise readable PDU
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_response(self) -> bool:
        return self.service_type != SERVICE_TYPE_REQUEST


def _u16(data: bytes, pos: int) -> int:
    return data[pos] << 8 | data[pos + 1]


def _ipv4(data: bytes) -> str:
    return ".".join(str(b) for b in data[:4])


def _mac(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data[:6])


def _text(data: bytes) -> str:
    # VisibleString/OctetString: ASCII in practice; other octets show as U+FFFD rather than guessed.
    return data.split(b"\0", 1)[0].decode("ascii", errors="replace")


def frame_id_of(payload: bytes) -> int | None:
    return _u16(payload, 0) if len(payload) >= 2 else None


def parse_frame(payload: bytes) -> DcpMessage | None:
    """A PROFINET payload (after the EtherType): its DCP message, or None for other frame ids (RT data, alarms)."""
    frame_id = frame_id_of(payload)
    if frame_id is None:
        raise Malformed(f"PROFINET frame of {len(payload)} octets has no frame id")
    if frame_id not in DCP_FRAME_IDS:
        return None
    if len(payload) < HEADER_LEN:
        raise Malformed(f"DCP frame of {len(payload)} octets is shorter than its {HEADER_LEN}-octet header")
    service_id, service_type = payload[2], payload[3]
    xid = int.from_bytes(payload[4:8], "big")
    multicast = service_id == SERVICE_IDENTIFY and service_type == SERVICE_TYPE_REQUEST
    msg = DcpMessage(frame_id, service_id, service_type, xid, _u16(payload, 8) if multicast else None,
                     _u16(payload, 10))
    if service_id not in SERVICES:
        msg.problems.append(("unknown_service", f"service id {service_id}"))
        return msg
    if service_type not in SERVICE_TYPES:
        msg.problems.append(("unknown_service_type", f"service type {service_type}"))
        return msg
    end = HEADER_LEN + msg.data_length
    if end > len(payload):
        msg.problems.append(("length_mismatch", f"DCPDataLength {msg.data_length} but {len(payload) - HEADER_LEN} "
                                                f"octets follow the header"))
        end = len(payload)
    if service_id == SERVICE_GET and service_type == SERVICE_TYPE_REQUEST:
        _parse_selectors(msg, payload, end)
    else:
        _parse_blocks(msg, payload, end)
    return msg


def _parse_selectors(msg: DcpMessage, payload: bytes, end: int) -> None:
    pos = HEADER_LEN
    while pos + 2 <= end:  # progress: two octets per selector
        if len(msg.options) >= MAX_BLOCKS:
            msg.problems.append(("too_many_blocks", f"more than {MAX_BLOCKS} selectors"))
            return
        msg.options.append(option_name(payload[pos], payload[pos + 1]))
        pos += 2
    if pos != end:
        msg.problems.append(("malformed_block", f"odd octet after {len(msg.options)} selectors"))


def _has_block_info(msg: DcpMessage) -> bool:
    """Responses to Identify and Get, and Hello requests, open each block with a BlockInfo word."""
    return ((msg.service_id in (SERVICE_IDENTIFY, SERVICE_GET) and msg.is_response)
            or (msg.service_id == SERVICE_HELLO and not msg.is_response))


def _parse_blocks(msg: DcpMessage, payload: bytes, end: int) -> None:
    pos, count = HEADER_LEN, 0
    while pos < end:  # progress: every pass consumes the 4-octet block header at least
        if count >= MAX_BLOCKS:
            msg.problems.append(("too_many_blocks", f"more than {MAX_BLOCKS} blocks"))
            return
        if pos + BLOCK_HEADER_LEN > end:
            msg.problems.append(("malformed_block", f"{end - pos} octets left, too few for a block header"))
            return
        option, suboption, length = payload[pos], payload[pos + 1], _u16(payload, pos + 2)
        start = pos + BLOCK_HEADER_LEN
        if start + length > end:
            msg.problems.append(("malformed_block", f"block {option_name(option, suboption)} of {length} octets "
                                                    f"overruns the PDU by {start + length - end}"))
            return
        _decode_block(msg, option, suboption, payload[start : start + length])
        count += 1
        pos = start + length + (length & 1)  # blocks are padded to an even length


def _decode_block(msg: DcpMessage, option: int, suboption: int, data: bytes) -> None:
    name = option_name(option, suboption)
    msg.options.append(name)
    if (msg.service_id == SERVICE_SET and msg.is_response) or (option == OPTION_CONTROL and suboption == 4):
        # Set response blocks are Control/Response: the option answered and its BlockError.
        if option == OPTION_CONTROL and suboption == 4 and len(data) >= 3:
            msg.results.append((option_name(data[0], data[1]), data[2]))
        elif option == OPTION_CONTROL and suboption == 4:
            msg.problems.append(("malformed_block", f"{name}: {len(data)} octets, need 3"))
        return
    prefix = 2 if _has_block_info(msg) or (msg.service_id == SERVICE_SET and not msg.is_response) else 0
    if len(data) < prefix:
        msg.problems.append(("malformed_block", f"{name}: {len(data)} octets, too short for its BlockInfo"))
        return
    word, value = (_u16(data, 0) if prefix else None), data[prefix:]
    if msg.service_id == SERVICE_SET and word is not None and msg.block_qualifier is None:
        msg.block_qualifier = word
    if option == OPTION_IP:
        _decode_ip(msg, suboption, value, word if _has_block_info(msg) else None, name)
    elif option == OPTION_DEVICE:
        _decode_device(msg, suboption, value, name)
    elif option == OPTION_DHCP:
        msg.dhcp_options = [*(msg.dhcp_options or []), suboption]  # at most MAX_BLOCKS entries
    elif option == OPTION_CONTROL and suboption == 3 and len(value) >= 2:
        msg.signal_value = _u16(value, 0)
    elif option == OPTION_DEVICE_INITIATIVE and suboption == 1 and len(value) >= 2:
        msg.device_initiative = _u16(value, 0)


def _short(msg: DcpMessage, name: str, value: bytes, need: int) -> bool:
    if len(value) < need:
        msg.problems.append(("malformed_block", f"{name}: {len(value)} value octets, need {need}"))
        return True
    return False


def _decode_ip(msg: DcpMessage, suboption: int, value: bytes, block_info: int | None, name: str) -> None:
    if suboption == 1:
        if not _short(msg, name, value, 6):
            msg.mac_address = _mac(value)
    elif suboption in (2, 3):
        if block_info is not None:
            msg.ip_block_info = block_info
            if block_info & IP_CONFLICT:
                msg.problems.append(("ip_conflict", f"device reports an IP address conflict (BlockInfo "
                                                    f"0x{block_info:04x})"))
        if _short(msg, name, value, 12 if suboption == 2 else 28):
            return
        msg.ip_address, msg.netmask, msg.gateway = _ipv4(value), _ipv4(value[4:]), _ipv4(value[8:])
        if suboption == 3:
            msg.dns_servers = [_ipv4(value[k:]) for k in range(12, 28, 4)]


def _decode_device(msg: DcpMessage, suboption: int, value: bytes, name: str) -> None:
    if suboption == 1:
        msg.type_of_station = _text(value)
    elif suboption == 2:
        msg.name_of_station = _text(value)
    elif suboption == 6:
        msg.alias_name = _text(value)
    elif suboption == 3:
        if not _short(msg, name, value, 4):
            msg.vendor_id, msg.device_id = _u16(value, 0), _u16(value, 2)
    elif suboption == 4:
        if not _short(msg, name, value, 1):
            msg.device_role = value[0]
    elif suboption == 5:
        pairs = [option_name(value[k], value[k + 1]) for k in range(0, len(value) - 1, 2)]
        if len(pairs) > MAX_LISTED:
            msg.problems.append(("too_many_options", f"{len(pairs)} device options listed, kept {MAX_LISTED}"))
        msg.supported_options = pairs[:MAX_LISTED]
    elif suboption == 7:
        if not _short(msg, name, value, 2):
            msg.device_instance = _u16(value, 0)
    elif suboption == 8 and not _short(msg, name, value, 4):
        msg.oem_vendor_id, msg.oem_device_id = _u16(value, 0), _u16(value, 2)

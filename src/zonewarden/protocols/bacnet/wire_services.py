"""BACnet service parameters (ASHRAE 135 clauses 13-17, 21): objects, properties, values. Pure.

``parse_service`` never raises: a parameter list that breaks its grammar keeps what was parsed before
the break and names the problem, so the message still becomes an event (and the analyzer an anomaly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from zonewarden.errors import Malformed
from zonewarden.protocols.bacnet.codes import (
    COMPLEX_ACK,
    CONFIRMED_REQUEST,
    ERROR,
    I_AM,
    I_HAVE,
    IDENTITY_PROPERTIES,
    OBJECT_DEVICE,
    PROP_OBJECT_IDENTIFIER,
    PROP_OBJECT_NAME,
    UNCONFIRMED_REQUEST,
    WILDCARD_INSTANCE,
)
from zonewarden.protocols.bacnet.wire_tags import (
    APP_BOOLEAN,
    APP_CHARS,
    APP_ENUMERATED,
    APP_OBJECT_ID,
    APP_OCTETS,
    APP_SIGNED,
    APP_UNSIGNED,
    Tag,
    Value,
    ValueBudget,
    app_value,
    char_string,
    constructed,
    object_id,
    read_tag,
    signed,
    unsigned,
)

# Bounds on one message's event: values over all its properties, and property entries.
MAX_VALUES = 1024
MAX_PROPERTIES = 256


@dataclass(slots=True)
class PropertyAccess:
    """One property of one object read, written or notified, with its value or error."""

    object_type: int | None = None
    object_instance: int | None = None
    property_id: int | None = None
    array_index: int | None = None
    values: list[Value] | None = None
    priority: int | None = None
    error_class: int | None = None
    error_code: int | None = None


@dataclass(slots=True)
class Service:
    """What a service's parameters say; parameters a service does not carry stay None."""

    object_type: int | None = None
    object_instance: int | None = None
    device_instance: int | None = None
    property_id: int | None = None
    array_index: int | None = None
    priority: int | None = None
    values: list[Value] | None = None
    properties: list[PropertyAccess] = field(default_factory=list)
    low_limit: int | None = None
    high_limit: int | None = None
    object_name: str | None = None
    max_apdu: int | None = None
    segmentation: int | None = None
    vendor_id: int | None = None
    model_name: str | None = None
    serial_number: str | None = None
    error_class: int | None = None
    error_code: int | None = None
    process_id: int | None = None
    lifetime: int | None = None
    duration: int | None = None
    state: int | None = None
    password_present: bool | None = None
    private_vendor_id: int | None = None
    private_service: int | None = None
    file_position: int | None = None
    file_octets: int | None = None
    end_of_file: bool | None = None
    truncated: bool = False
    problem: str | None = None


# Services whose parameters are context-tagged: tag number -> what it holds.
_RP = {0: "object", 1: "property", 2: "index"}
_COV = {0: "process", 1: "device", 2: "object", 3: "lifetime", 4: "property_values"}
_EVENT = {0: "process", 1: "device", 2: "object"}
_PRIVATE = {0: "private_vendor", 1: "private_service"}
LAYOUTS: dict[tuple[int, int], dict[int, str]] = {
    (CONFIRMED_REQUEST, 0): {0: "process", 1: "object"},  # acknowledge_alarm
    (CONFIRMED_REQUEST, 1): _COV,
    (CONFIRMED_REQUEST, 2): _EVENT,
    (CONFIRMED_REQUEST, 5): {0: "process", 1: "object", 3: "lifetime"},  # subscribe_cov
    (CONFIRMED_REQUEST, 8): {**_RP, 3: "value"},  # add_list_element
    (CONFIRMED_REQUEST, 9): {**_RP, 3: "value"},  # remove_list_element
    (CONFIRMED_REQUEST, 12): _RP,
    (CONFIRMED_REQUEST, 15): {**_RP, 3: "value", 4: "priority"},  # write_property
    (CONFIRMED_REQUEST, 17): {0: "duration", 1: "state", 2: "password"},  # device_communication_control
    (CONFIRMED_REQUEST, 18): _PRIVATE,
    (CONFIRMED_REQUEST, 19): {0: "device"},  # confirmed_text_message
    (CONFIRMED_REQUEST, 20): {0: "state", 1: "password"},  # reinitialize_device
    (CONFIRMED_REQUEST, 26): _RP,  # read_range
    (CONFIRMED_REQUEST, 27): {0: "process", 3: "object"},  # life_safety_operation
    (CONFIRMED_REQUEST, 28): {0: "process", 1: "object", 3: "lifetime", 4: "property_reference"},
    (CONFIRMED_REQUEST, 29): {0: "object"},  # get_event_information (last received)
    (COMPLEX_ACK, 7): {0: "position", 1: "position"},  # atomic_write_file: start position / record
    (COMPLEX_ACK, 12): {**_RP, 3: "value"},  # read_property
    (COMPLEX_ACK, 18): _PRIVATE,
    (COMPLEX_ACK, 26): _RP,  # read_range
    (UNCONFIRMED_REQUEST, 2): _COV,
    (UNCONFIRMED_REQUEST, 3): _EVENT,
    (UNCONFIRMED_REQUEST, 4): _PRIVATE,
    (UNCONFIRMED_REQUEST, 5): {0: "device"},  # unconfirmed_text_message
    (UNCONFIRMED_REQUEST, 7): {0: "low", 1: "high", 2: "object", 3: "name"},  # who_has
    (UNCONFIRMED_REQUEST, 8): {0: "low", 1: "high"},  # who_is
}
_UNSIGNED_ROLES = {"property": "property_id", "index": "array_index", "priority": "priority",
                   "process": "process_id", "lifetime": "lifetime", "low": "low_limit", "high": "high_limit",
                   "duration": "duration", "state": "state", "private_vendor": "private_vendor_id",
                   "private_service": "private_service"}

# Inner grammars of property lists: (property, array index, value, priority, error) context tag numbers.
Grammar = tuple[int, int, int | None, int | None, int | None]
PROPERTY_VALUE: Grammar = (0, 1, 2, 3, None)  # BACnetPropertyValue: WritePropertyMultiple, COV notifications
PROPERTY_REFERENCE: Grammar = (0, 1, None, None, None)  # ReadPropertyMultiple request
READ_RESULT: Grammar = (2, 3, 4, None, 5)  # ReadPropertyMultiple-ACK


def _assign(svc: Service, role: str, data: bytes, tag: Tag) -> None:
    if role == "object":
        svc.object_type, svc.object_instance = object_id(data, tag)
    elif role == "device":
        svc.device_instance = object_id(data, tag)[1]
    elif role == "position":
        svc.file_position = signed(data, tag)
    elif role == "name":
        svc.object_name = char_string(data, tag)
    elif role == "password":
        svc.password_present = True
    elif role in _UNSIGNED_ROLES:
        setattr(svc, _UNSIGNED_ROLES[role], unsigned(data, tag))


def _walk(data: bytes, layout: dict[int, str], svc: Service, budget: ValueBudget) -> None:
    pos = 0
    while pos < len(data):  # progress: every branch moves pos past at least one tag
        tag = read_tag(data, pos)
        role = layout.get(tag.number) if tag.context else None
        if tag.opening:
            if role == "value":
                svc.values, pos = constructed(data, tag.end, tag.number, budget)
            elif role == "property_values":
                pos = _property_list(data, tag.end, tag.number, PROPERTY_VALUE, svc, budget,
                                     (svc.object_type, svc.object_instance))
            elif role == "property_reference":
                inner = Service()
                _walk_until(data, tag.end, {0: "property", 1: "index"}, inner)
                svc.property_id, svc.array_index = inner.property_id, inner.array_index
                _, pos = constructed(data, tag.end, tag.number, None)
            else:
                _, pos = constructed(data, tag.end, tag.number, None)
            continue
        if tag.closing:
            raise Malformed(f"closing tag {tag.number} without its opening tag")
        pos = tag.end
        if role is not None:
            _assign(svc, role, data, tag)


def _walk_until(data: bytes, pos: int, layout: dict[int, str], svc: Service) -> None:
    """Assign the primitive context tags directly inside an opening tag (nested ones are skipped)."""
    while True:  # progress: every branch moves pos past at least one tag
        tag = read_tag(data, pos)
        if tag.closing:
            return
        if tag.opening:
            _, pos = constructed(data, tag.end, tag.number, None)
            continue
        pos = tag.end
        if tag.context and tag.number in layout:
            _assign(svc, layout[tag.number], data, tag)


def _property_list(data: bytes, pos: int, closing: int, grammar: Grammar, svc: Service, budget: ValueBudget,
                   obj: tuple[int | None, int | None]) -> int:
    """Entries of a property list up to its closing tag; returns the offset after the closing tag."""
    prop_tag, index_tag, value_tag, priority_tag, error_tag = grammar
    entry: PropertyAccess | None = None
    while True:  # progress: every branch moves pos past at least one tag
        tag = read_tag(data, pos)
        if tag.closing:
            if tag.number != closing:
                raise Malformed(f"closing tag {tag.number} where {closing} was open")
            return tag.end
        if tag.opening:
            if tag.number == value_tag:
                values, pos = constructed(data, tag.end, tag.number, budget)
                if entry is not None:
                    entry.values = values
            elif tag.number == error_tag:  # error class and code, two enumerated values
                found, pos = constructed(data, tag.end, tag.number, ValueBudget(2))
                codes = [v for v in found if type(v) is int]
                if entry is not None and len(codes) == 2:
                    entry.error_class, entry.error_code = codes
            else:
                _, pos = constructed(data, tag.end, tag.number, None)
            continue
        if not tag.context:
            raise Malformed(f"application tag {tag.number} inside a property list")
        pos = tag.end
        if tag.number == prop_tag:
            entry = PropertyAccess(obj[0], obj[1], unsigned(data, tag))
            if len(svc.properties) < MAX_PROPERTIES:
                svc.properties.append(entry)
            else:
                svc.truncated = True
        elif entry is not None and tag.number == index_tag:
            entry.array_index = unsigned(data, tag)
        elif entry is not None and tag.number == priority_tag:
            entry.priority = unsigned(data, tag)


def _multiple(data: bytes, svc: Service, budget: ValueBudget, grammar: Grammar) -> None:
    """ReadPropertyMultiple / WritePropertyMultiple: ([0] object, [1] property list) repeated."""
    pos = 0
    while pos < len(data):  # progress: each pass consumes an object id and its list
        tag = read_tag(data, pos)
        if not (tag.context and tag.number == 0 and not tag.opening and not tag.closing):
            raise Malformed(f"object identifier [0] expected at offset {pos}")
        obj = object_id(data, tag)
        opening = read_tag(data, tag.end)
        if not (opening.opening and opening.number == 1):
            raise Malformed(f"property list [1] expected at offset {tag.end}")
        pos = _property_list(data, opening.end, 1, grammar, svc, budget, obj)
    _summarise(svc)


def _summarise(svc: Service) -> None:
    """The first entry of a property list is the message's object and property."""
    if not svc.properties:
        return
    first = svc.properties[0]
    svc.object_type, svc.object_instance = first.object_type, first.object_instance
    svc.property_id, svc.array_index, svc.values, svc.priority = (first.property_id, first.array_index,
                                                                  first.values, first.priority)
    failed = next((p for p in svc.properties if p.error_class is not None), None)
    if failed is not None:
        svc.error_class, svc.error_code = failed.error_class, failed.error_code


def _app_tags(data: bytes, count: int) -> list[Tag]:
    """The first ``count`` top-level tags, which must be application tags."""
    tags: list[Tag] = []
    pos = 0
    while len(tags) < count and pos < len(data):
        tag = read_tag(data, pos)
        if tag.context:
            break
        tags.append(tag)
        pos = tag.end
    return tags


def _expect(data: bytes, tag: Tag, number: int, what: str) -> Tag:
    if tag.context or tag.number != number:
        raise Malformed(f"{what}: application tag {number} expected, found {tag.number}")
    return tag


def _i_am(data: bytes, svc: Service, budget: ValueBudget) -> None:
    tags = _app_tags(data, 4)
    if len(tags) < 4:
        raise Malformed(f"I-Am has {len(tags)} of its 4 parameters")
    svc.object_type, svc.object_instance = object_id(data, _expect(data, tags[0], APP_OBJECT_ID, "I-Am device"))
    svc.device_instance = svc.object_instance
    svc.max_apdu = unsigned(data, _expect(data, tags[1], APP_UNSIGNED, "I-Am max APDU"))
    svc.segmentation = unsigned(data, _expect(data, tags[2], APP_ENUMERATED, "I-Am segmentation"))
    svc.vendor_id = unsigned(data, _expect(data, tags[3], APP_UNSIGNED, "I-Am vendor"))


def _i_have(data: bytes, svc: Service, budget: ValueBudget) -> None:
    tags = _app_tags(data, 3)
    if len(tags) < 3:
        raise Malformed(f"I-Have has {len(tags)} of its 3 parameters")
    svc.device_instance = object_id(data, _expect(data, tags[0], APP_OBJECT_ID, "I-Have device"))[1]
    svc.object_type, svc.object_instance = object_id(data, _expect(data, tags[1], APP_OBJECT_ID, "I-Have object"))
    svc.object_name = char_string(data, _expect(data, tags[2], APP_CHARS, "I-Have name"))


def _who_am_i(data: bytes, svc: Service, budget: ValueBudget) -> None:
    """Who-Am-I and You-Are (135-2020): vendor, model name, serial number[, device, MAC]."""
    tags = _app_tags(data, 4)
    if len(tags) < 3:
        raise Malformed(f"{len(tags)} of the 3 identity parameters")
    svc.vendor_id = unsigned(data, _expect(data, tags[0], APP_UNSIGNED, "vendor id"))
    svc.model_name = char_string(data, _expect(data, tags[1], APP_CHARS, "model name"))
    svc.serial_number = char_string(data, _expect(data, tags[2], APP_CHARS, "serial number"))
    if len(tags) == 4 and tags[3].number == APP_OBJECT_ID:
        svc.object_type, svc.object_instance = object_id(data, tags[3])
        svc.device_instance = svc.object_instance


def _time_sync(data: bytes, svc: Service, budget: ValueBudget) -> None:
    svc.values = [app_value(data, t) for t in _app_tags(data, 2)]


def _object_only(data: bytes, svc: Service, budget: ValueBudget) -> None:
    """DeleteObject request, CreateObject-ACK: one application-tagged object identifier."""
    tags = _app_tags(data, 1)
    if not tags:
        raise Malformed("object identifier missing")
    svc.object_type, svc.object_instance = object_id(data, _expect(data, tags[0], APP_OBJECT_ID, "object"))


def _create_object(data: bytes, svc: Service, budget: ValueBudget) -> None:
    """[0] object specifier: [0] object type or [1] object identifier; [1] initial values (skipped)."""
    tag = read_tag(data, 0)
    if not (tag.opening and tag.number == 0):
        raise Malformed("CreateObject without its object specifier")
    inner = read_tag(data, tag.end)
    if inner.context and inner.number == 0 and not inner.opening:
        svc.object_type = unsigned(data, inner)
    elif inner.context and inner.number == 1 and not inner.opening:
        svc.object_type, svc.object_instance = object_id(data, inner)


def _file_access(data: bytes, svc: Service, budget: ValueBudget, *, ack: bool) -> None:
    """AtomicReadFile / AtomicWriteFile requests and the read ACK: file object (or end-of-file flag),
    then [0] stream access (position, octet count or data) or [1] record access."""
    first = read_tag(data, 0)
    if ack:
        svc.end_of_file = bool(_expect(data, first, APP_BOOLEAN, "end of file").lvt)
    else:
        svc.object_type, svc.object_instance = object_id(data, _expect(data, first, APP_OBJECT_ID, "file"))
    access = read_tag(data, first.end)
    if not (access.opening and access.number in (0, 1)):
        raise Malformed("stream [0] or record [1] access expected")
    pos = access.end
    start = _expect(data, read_tag(data, pos), APP_SIGNED, "file start")
    svc.file_position = signed(data, start)
    amount = read_tag(data, start.end)
    if not amount.context and amount.number == APP_OCTETS:
        svc.file_octets = amount.length
    elif not amount.context and amount.number == APP_UNSIGNED:
        svc.file_octets = unsigned(data, amount) if access.number == 0 else None
    constructed(data, access.end, access.number, None)


_Handler = Callable[[bytes, Service, ValueBudget], None]
SPECIAL: dict[tuple[int, int], _Handler] = {
    (UNCONFIRMED_REQUEST, I_AM): _i_am,
    (UNCONFIRMED_REQUEST, I_HAVE): _i_have,
    (UNCONFIRMED_REQUEST, 6): _time_sync,
    (UNCONFIRMED_REQUEST, 9): _time_sync,
    (UNCONFIRMED_REQUEST, 13): _who_am_i,
    (UNCONFIRMED_REQUEST, 14): _who_am_i,
    (CONFIRMED_REQUEST, 6): lambda d, s, b: _file_access(d, s, b, ack=False),
    (CONFIRMED_REQUEST, 7): lambda d, s, b: _file_access(d, s, b, ack=False),
    (COMPLEX_ACK, 6): lambda d, s, b: _file_access(d, s, b, ack=True),
    (CONFIRMED_REQUEST, 10): _create_object,
    (COMPLEX_ACK, 10): _object_only,
    (CONFIRMED_REQUEST, 11): _object_only,
    (CONFIRMED_REQUEST, 14): lambda d, s, b: _multiple(d, s, b, PROPERTY_REFERENCE),
    (COMPLEX_ACK, 14): lambda d, s, b: _multiple(d, s, b, READ_RESULT),
    (CONFIRMED_REQUEST, 16): lambda d, s, b: _multiple(d, s, b, PROPERTY_VALUE),
}


def _error(data: bytes, svc: Service) -> None:
    """Error class and code: the first two enumerated values, directly or inside [0] for the services
    whose error carries more (CreateObject, WritePropertyMultiple, list element services...)."""
    pos, codes = 0, list[int]()
    while pos < len(data) and len(codes) < 2:  # progress: a tag is at least one octet
        tag = read_tag(data, pos)
        pos = tag.end
        if not tag.context and tag.number == APP_ENUMERATED:
            codes.append(unsigned(data, tag))
    if len(codes) < 2:
        raise Malformed("error class and code missing")
    svc.error_class, svc.error_code = codes


def parse_service(apdu_type: int, choice: int, body: bytes) -> Service:
    """The parameters of one (reassembled) service request, ACK or error."""
    svc = Service()
    budget = ValueBudget(MAX_VALUES)
    try:
        if apdu_type == ERROR:
            _error(body, svc)
        elif (handler := SPECIAL.get((apdu_type, choice))) is not None:
            handler(body, svc, budget)
        elif (layout := LAYOUTS.get((apdu_type, choice))) is not None:
            _walk(body, layout, svc, budget)
            if svc.properties:
                first = svc.properties[0]
                svc.property_id, svc.array_index, svc.values = first.property_id, first.array_index, first.values
    except Malformed as exc:
        svc.problem = str(exc)
    svc.truncated = svc.truncated or budget.exhausted
    if svc.object_name is None:  # the object-name property read, written or notified
        entries = svc.properties or [PropertyAccess(property_id=svc.property_id, values=svc.values)]
        svc.object_name = next((e.values[0] for e in entries if e.property_id == PROP_OBJECT_NAME and e.values
                                and isinstance(e.values[0], str)), None)
    return svc


def device_identity(apdu_type: int, choice: int, svc: Service) -> dict[str, int | str]:
    """Identity a device reveals in an ACK of ReadProperty(Multiple) on its device object: event field ->
    value (vendor_name, model_name, firmware_revision, device_name...; device_instance)."""
    if apdu_type != COMPLEX_ACK or choice not in (12, 14):
        return {}
    out: dict[str, int | str] = {}
    entries = svc.properties or [PropertyAccess(svc.object_type, svc.object_instance, svc.property_id,
                                                svc.array_index, svc.values)]
    for e in entries:
        if e.object_type != OBJECT_DEVICE:
            continue
        if e.object_instance is not None and e.object_instance != WILDCARD_INSTANCE:
            out["device_instance"] = e.object_instance
        first = e.values[0] if e.values and e.array_index is None else None
        name = IDENTITY_PROPERTIES.get(e.property_id or -1)
        if name is not None and type(first) is (int if name == "vendor_id" else str):
            out[name] = first
        elif e.property_id == PROP_OBJECT_IDENTIFIER and isinstance(first, str) and first.startswith("device:"):
            out["device_instance"] = int(first.partition(":")[2])
    return out

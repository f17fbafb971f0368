"""BACnet service parameters: objects, properties, values, errors and identity, fixture by fixture."""

from __future__ import annotations

from zonewarden.protocols.bacnet.codes import COMPLEX_ACK, CONFIRMED_REQUEST, ERROR, UNCONFIRMED_REQUEST
from zonewarden.protocols.bacnet.wire_services import (
    MAX_PROPERTIES,
    MAX_VALUES,
    PropertyAccess,
    device_identity,
    parse_service,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# Service parameters only (after the APDU header).
WRITE_PROPERTY_PRIORITY_10 = h(
    "0c 00400065"  # [0] analog-output 101
    "19 55"  # [1] present-value
    "3e 44 42480000 3f"  # [3] { REAL 50.0 }
    "49 0a"  # [4] priority 10
)
WRITE_PROPERTY_ARRAY_ELEMENT = h("0c 00400065 19 57 29 08 3e 00 3f")  # priority-array[8] := NULL (relinquish)
WHO_IS_RANGE = h("09 6c 19 6c")  # [0] low 108, [1] high 108
WHO_HAS_BY_NAME = h("3d 0a 00 72656c617920313038")  # [3] object name "relay 108"
WHO_HAS_BY_OBJECT = h("2c 0200006c")  # [2] device 108
# bacnet_services.pcap frame 392: I-Have from device,4194303 (!) for device 108 named "Unknown"
I_HAVE = h("c4 023fffff" "c4 0200006c" "75 08 00 556e6b6e6f776e")
# bacnet_segmented_data.pcap frame 5
I_AM_SEGMENTED_BOTH = h("c4 02000000" "22 0400" "91 00" "21 9a")  # device 0, 1024, segmented-both, vendor 154
RPM_REQUEST_TWO_OBJECTS = h(
    "0c 00000001 1e 09 55 09 4d 1f"  # analog-input 1: present-value, object-name
    "0c 00800002 1e 09 55 1f"  # analog-value 2: present-value
)
RPM_ACK_VALUE_AND_ERROR = h(
    "0c 00000001 1e"  # analog-input 1
    "29 55 4e 44 41200000 4f"  # present-value = 10.0
    "29 75 5e 91 02 91 20 5f"  # units: error property / unknown-property
    "1f"
)
WPM_REQUEST = h("0c 00400001 1e 09 55 2e 44 00000000 2f 39 08 1f")  # analog-output 1 present-value := 0.0 @8
# bacnet-stack-services.cap frame 54: unconfirmed COV notification (service parameters)
COV_NOTIFICATION = h(
    "09 01"  # [0] subscriber process 1
    "1c 02000002"  # [1] initiating device 2
    "2c 00c00004"  # [2] monitored object binary-input 4
    "39 05"  # [3] time remaining 5 s
    "4e 09 55 2e 44 42c80000 2f 4f"  # [4] { present-value = 100.0 }
)
SUBSCRIBE_COV = h("09 12 1c 00000003 29 01 39 3c")  # process 18, analog-input 3, confirmed, 60 s
# bacnet_services.pcap frames 265, 398: DCC disable 1 min with password; reinitialize warmstart
DEVICE_COMMUNICATION_CONTROL = h("09 01 19 01 2d 09 00 66696c6973746572")  # 1 min, disable, "filister"
REINITIALIZE_WARMSTART = h("09 01 1d 09 00 657468657265616c")  # warmstart, password "ethereal"
ATOMIC_READ_FILE_REQUEST = h("c4 02800000 0e 31 00 22 01b8 0f")  # file 0, stream from 0, 440 octets
ATOMIC_READ_FILE_ACK = h("11 0e 31 00 65 05 68656c6c6f 0f")  # end of file, stream at 0, "hello"
ATOMIC_WRITE_FILE_ACK = h("09 00")  # [0] position 0
PRIVATE_TRANSFER = h("09 08 19 01 2e 21 01 2f")  # vendor 8, service 1, parameters { 1 }
TIME_SYNCHRONIZATION = h("a4 76 03 06 02 b4 10 12 30 1b")  # 2018-03-06 Tue, 16:18:48.27
ERROR_PASSWORD_FAILURE = h("91 05 91 1a")  # services / password-failure
ERROR_INSIDE_CONSTRUCTED = h("0e 91 02 91 25 0f 1c 00000001")  # CreateObject-Error: [0]{property, value-out-of-range}
CREATE_OBJECT_BY_TYPE = h("0e 09 02 0f")  # object specifier: [0] analog-value
DELETE_OBJECT = h("c4 00800007")  # analog-value 7


def test_read_property_and_write_property() -> None:
    ack = parse_service(COMPLEX_ACK, 12, h("0c 00400065 19 55 3e 44 42c80000 3f"))
    assert (ack.object_type, ack.object_instance, ack.property_id, ack.values) == (1, 101, 85, [100.0])
    wp = parse_service(CONFIRMED_REQUEST, 15, WRITE_PROPERTY_PRIORITY_10)
    assert (wp.property_id, wp.values, wp.priority, wp.problem) == (85, [50.0], 10, None)
    relinquish = parse_service(CONFIRMED_REQUEST, 15, WRITE_PROPERTY_ARRAY_ELEMENT)
    assert (relinquish.property_id, relinquish.array_index, relinquish.values) == (87, 8, [None])


def test_discovery_services() -> None:
    who = parse_service(UNCONFIRMED_REQUEST, 8, WHO_IS_RANGE)
    assert (who.low_limit, who.high_limit) == (108, 108)
    assert parse_service(UNCONFIRMED_REQUEST, 8, b"").low_limit is None  # everyone
    assert parse_service(UNCONFIRMED_REQUEST, 7, WHO_HAS_BY_NAME).object_name == "relay 108"
    by_object = parse_service(UNCONFIRMED_REQUEST, 7, WHO_HAS_BY_OBJECT)
    assert (by_object.object_type, by_object.object_instance) == (8, 108)
    i_have = parse_service(UNCONFIRMED_REQUEST, 1, I_HAVE)
    assert (i_have.device_instance, i_have.object_type, i_have.object_instance, i_have.object_name) == (
        4194303, 8, 108, "Unknown")
    i_am = parse_service(UNCONFIRMED_REQUEST, 0, I_AM_SEGMENTED_BOTH)
    assert (i_am.device_instance, i_am.max_apdu, i_am.segmentation, i_am.vendor_id) == (0, 1024, 0, 154)


def test_who_am_i_carries_identity() -> None:
    svc = parse_service(UNCONFIRMED_REQUEST, 13, h("21 08 75 05 00 41424344 75 04 00 313233"))
    assert (svc.vendor_id, svc.model_name, svc.serial_number) == (8, "ABCD", "123")


def test_read_property_multiple() -> None:
    req = parse_service(CONFIRMED_REQUEST, 14, RPM_REQUEST_TWO_OBJECTS)
    assert [(p.object_type, p.object_instance, p.property_id) for p in req.properties] == [
        (0, 1, 85), (0, 1, 77), (2, 2, 85)]
    assert (req.object_type, req.object_instance, req.property_id) == (0, 1, 85)
    ack = parse_service(COMPLEX_ACK, 14, RPM_ACK_VALUE_AND_ERROR)
    assert ack.properties == [PropertyAccess(0, 1, 85, None, [10.0]),
                              PropertyAccess(0, 1, 117, error_class=2, error_code=32)]
    assert (ack.values, ack.error_class, ack.error_code) == ([10.0], 2, 32)  # the first failed property


def test_write_property_multiple_and_cov() -> None:
    wpm = parse_service(CONFIRMED_REQUEST, 16, WPM_REQUEST)
    assert wpm.properties == [PropertyAccess(1, 1, 85, None, [0.0], 8)]
    cov = parse_service(UNCONFIRMED_REQUEST, 2, COV_NOTIFICATION)
    assert (cov.process_id, cov.device_instance, cov.object_type, cov.object_instance, cov.lifetime) == (
        1, 2, 3, 4, 5)
    assert (cov.property_id, cov.values) == (85, [100.0])
    assert cov.properties == [PropertyAccess(3, 4, 85, None, [100.0])]
    sub = parse_service(CONFIRMED_REQUEST, 5, SUBSCRIBE_COV)
    assert (sub.process_id, sub.object_type, sub.object_instance, sub.lifetime) == (18, 0, 3, 60)


def test_device_management_services() -> None:
    dcc = parse_service(CONFIRMED_REQUEST, 17, DEVICE_COMMUNICATION_CONTROL)
    assert (dcc.duration, dcc.state, dcc.password_present) == (1, 1, True)
    reinit = parse_service(CONFIRMED_REQUEST, 20, REINITIALIZE_WARMSTART)
    assert (reinit.state, reinit.password_present) == (1, True)
    assert parse_service(CONFIRMED_REQUEST, 20, h("09 00")).password_present is None  # coldstart, no password
    private = parse_service(CONFIRMED_REQUEST, 18, PRIVATE_TRANSFER)
    assert (private.private_vendor_id, private.private_service) == (8, 1)
    sync = parse_service(UNCONFIRMED_REQUEST, 6, TIME_SYNCHRONIZATION)
    assert sync.values == ["2018-03-06 w2", "16:18:48.27"]


def test_file_services() -> None:
    read = parse_service(CONFIRMED_REQUEST, 6, ATOMIC_READ_FILE_REQUEST)
    assert (read.object_type, read.object_instance, read.file_position, read.file_octets) == (10, 0, 0, 440)
    ack = parse_service(COMPLEX_ACK, 6, ATOMIC_READ_FILE_ACK)
    assert (ack.end_of_file, ack.file_position, ack.file_octets) == (True, 0, 5)
    assert parse_service(COMPLEX_ACK, 7, ATOMIC_WRITE_FILE_ACK).file_position == 0


def test_object_management() -> None:
    assert parse_service(CONFIRMED_REQUEST, 10, CREATE_OBJECT_BY_TYPE).object_type == 2
    deleted = parse_service(CONFIRMED_REQUEST, 11, DELETE_OBJECT)
    assert (deleted.object_type, deleted.object_instance) == (2, 7)


def test_errors() -> None:
    err = parse_service(ERROR, 17, ERROR_PASSWORD_FAILURE)
    assert (err.error_class, err.error_code) == (5, 26)
    nested = parse_service(ERROR, 10, ERROR_INSIDE_CONSTRUCTED)
    assert (nested.error_class, nested.error_code) == (2, 37)
    assert parse_service(ERROR, 12, h("91 05")).problem == "error class and code missing"


def test_broken_parameters_keep_what_was_parsed() -> None:
    svc = parse_service(CONFIRMED_REQUEST, 12, h("0c 00400065 19"))  # property tag cut short
    assert (svc.object_type, svc.property_id) == (1, None)
    assert svc.problem is not None and "runs past the end" in svc.problem
    assert parse_service(UNCONFIRMED_REQUEST, 0, h("c4 02000000")).problem == "I-Am has 1 of its 4 parameters"
    no_object = parse_service(CONFIRMED_REQUEST, 14, h("1e 09 55 1f"))
    assert no_object.problem == "object identifier [0] expected at offset 0"
    assert "closing tag 3 without" in (parse_service(CONFIRMED_REQUEST, 12, h("3f")).problem or "")


def test_values_and_properties_are_bounded() -> None:
    many_values = h("0c 02000001 19 4c 3e") + h("c4 00000000") * (MAX_VALUES + 5) + h("3f")
    svc = parse_service(COMPLEX_ACK, 12, many_values)
    assert svc.values is not None and len(svc.values) == MAX_VALUES and svc.truncated
    many_properties = h("0c 00000001 1e") + h("09 55") * (MAX_PROPERTIES + 1) + h("1f")
    rpm = parse_service(CONFIRMED_REQUEST, 14, many_properties)
    assert len(rpm.properties) == MAX_PROPERTIES and rpm.truncated and rpm.problem is None


def test_device_identity_from_reads_of_the_device_object() -> None:
    rpm_ack = h(
        "0c 020001b7 1e"  # device 439
        "29 79 4e 75 09 00 4163756974792049 4f"  # vendor-name "Acuity I"
        "29 46 4e 75 09 00 53595343204d4c 58 4f"  # model-name "SYSC MLX"
        "29 2c 4e 75 05 00 322e3632 4f"  # firmware-revision "2.62"
        "29 78 4e 21 2a 4f"  # vendor-identifier 42
        "29 4d 4e 75 06 00 3131324531 4f"  # object-name "112E1"
        "1f")
    svc = parse_service(COMPLEX_ACK, 14, rpm_ack)
    assert svc.problem is None
    assert device_identity(COMPLEX_ACK, 14, svc) == {
        "device_instance": 439, "vendor_name": "Acuity I", "model_name": "SYSC MLX", "firmware_revision": "2.62",
        "vendor_id": 42, "device_name": "112E1"}
    assert svc.object_name == "112E1"
    # The wildcard instance 4194303 names "whoever answers": the real instance comes from object-identifier.
    wildcard = parse_service(COMPLEX_ACK, 12, h("0c 023fffff 19 4b 3e c4 020001f4 3f"))
    assert device_identity(COMPLEX_ACK, 12, wildcard) == {"device_instance": 500}
    # A read of another object's name is not the device's identity.
    other = parse_service(COMPLEX_ACK, 12, h("0c 00000001 19 4d 3e 75 03 00 4149 3f"))
    assert device_identity(COMPLEX_ACK, 12, other) == {} and other.object_name == "AI"

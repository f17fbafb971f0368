"""BACnet/IP analyzer: request/response matching, segment reassembly, identity, anomalies and limits."""

from __future__ import annotations

from typing import Any

from zonewarden.model.events import AnomalyEvent, Event
from zonewarden.protocols.bacnet.analyzer import (
    MAX_OUTSTANDING,
    MAX_REASSEMBLIES,
    MAX_REASSEMBLY_OCTETS,
    BacnetAnalyzer,
)
from zonewarden.protocols.bacnet.events import BacnetEvent
from zonewarden.protocols.base import MAX_CONSECUTIVE_MALFORMED, FlowContext


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def datagram(apdu: bytes, control: int = 0x00, function: int = 0x0A) -> bytes:
    """BVLC (length computed) + NPDU version 1 with ``control`` + the APDU."""
    body = bytes([1, control]) + apdu
    return bytes([0x81, function]) + (len(body) + 4).to_bytes(2, "big") + body


READ_PROPERTY_REQUEST = datagram(h("02 05 07 0c 0c00400065 1955"), 0x04)  # invoke 7: AO 101 present-value
READ_PROPERTY_ACK = datagram(h("30 07 0c 0c00400065 1955 3e 4442c80000 3f"))
WRITE_PROPERTY_REQUEST = datagram(h("00 05 08 0f 0c00400065 1955 3e 4442480000 3f 490a"), 0x04)
WRITE_PROPERTY_SIMPLE_ACK = datagram(h("20 08 0f"))
REJECT_UNRECOGNIZED_SERVICE = datagram(h("60 07 09"))
DCC_REQUEST = datagram(h("00 05 09 11 0901 1901 2d0900 66696c6973746572"), 0x04)
DCC_ERROR_PASSWORD = datagram(h("50 09 11 9105 911a"))
CLIENT_ABORT = datagram(h("70 07 04"))
I_AM_UNITEC = datagram(h("10 00 c402000000 220400 9100 219a"), function=0x0B)
I_AM_ROUTER = datagram(h("01 0002 0003"), 0x80, 0x0B)
BVLC_RESULT_NAK = h("81 00 0006 0030")


class Run:
    def __init__(self, orig_port: int = 47808, resp_port: int = 47808) -> None:
        self.events: list[Event] = []
        self.analyzer = BacnetAnalyzer(FlowContext("Ctest", "10.0.0.1", "10.0.0.2", orig_port, resp_port),
                                       self.events.append)
        self.frame = 0

    def send(self, direction: int, payload: bytes) -> None:
        self.frame += 1
        self.analyzer.datagram(direction, payload, self.frame * 1_000_000, self.frame)

    @property
    def messages(self) -> list[BacnetEvent]:
        return [e for e in self.events if isinstance(e, BacnetEvent)]

    @property
    def anomalies(self) -> list[str]:
        return [e.anomaly for e in self.events if isinstance(e, AnomalyEvent)]

    def last(self, **expected: Any) -> BacnetEvent:
        event = self.messages[-1]
        assert {k: getattr(event, k) for k in expected} == expected
        return event


def test_read_property_ack_is_matched_to_its_request() -> None:
    run = Run()
    run.send(0, READ_PROPERTY_REQUEST)
    run.last(is_response=False, apdu_type=0, service="read_property", invoke_id=7, object_type_name="analog_output",
             object_instance=101, property_name="present_value", max_apdu=1476, request_frame=None)
    run.send(1, READ_PROPERTY_ACK)
    run.last(is_response=True, apdu_type_name="complex_ack", values=[100.0], request_frame=1)
    assert run.anomalies == []


def test_simple_ack_and_error_take_object_and_property_from_the_request() -> None:
    run = Run()
    run.send(0, WRITE_PROPERTY_REQUEST)
    run.last(values=[50.0], priority=10)
    run.send(1, WRITE_PROPERTY_SIMPLE_ACK)
    run.last(service="write_property", object_type=1, object_instance=101, property_id=85, request_frame=1)
    run.send(0, DCC_REQUEST)
    run.last(state="disable", duration=1, password_present=True)
    run.send(1, DCC_ERROR_PASSWORD)
    run.last(error_class=5, error_code=26, reason="services/password_failure", request_frame=3)


def test_reject_names_the_rejected_service() -> None:
    run = Run()
    run.send(0, READ_PROPERTY_REQUEST)
    run.send(1, REJECT_UNRECOGNIZED_SERVICE)
    run.last(is_response=True, reject_reason=9, reason="unrecognized_service", service="read_property",
             service_choice=12, request_frame=1)


def test_unmatched_and_mismatched_responses_are_anomalies() -> None:
    run = Run()
    run.send(1, READ_PROPERTY_ACK)
    assert run.anomalies == ["bacnet.unmatched_response"]
    run.send(0, WRITE_PROPERTY_REQUEST)
    run.send(1, datagram(h("20 08 0c")))  # a readProperty simple ACK for the writeProperty request
    assert run.anomalies[-1] == "bacnet.service_mismatch"
    assert len(run.messages) == 3  # the messages are still reported


def test_a_client_abort_cancels_its_request() -> None:
    run = Run()
    run.send(0, READ_PROPERTY_REQUEST)
    run.send(0, CLIENT_ABORT)
    run.last(is_response=False, abort_reason=4, reason="segmentation_not_supported")
    run.send(1, READ_PROPERTY_ACK)
    assert run.anomalies == ["bacnet.unmatched_response"]


def test_outstanding_requests_are_bounded() -> None:
    run = Run()
    for n in range(MAX_OUTSTANDING + 1):  # requests are keyed by (direction, invoke id)
        run.send(n // 256, datagram(bytes([0x00, 0x05, n % 256, 0x0C]) + h("0c00400065 1955"), 0x04))
    assert run.anomalies == ["bacnet.too_many_outstanding"]


# A segmented ReadProperty-ACK of device 254's object-list, cut in three segments (seq 0, 1, 2).
SEGMENTS = [h("0c 020000fe 194c 3e c400c00000 c400c00001"), h("c400c00002 c401000000"), h("c401000001 3f")]


def segment(seq: int, body: bytes, more: bool, invoke: int = 94) -> bytes:
    return datagram(bytes([0x3C if more else 0x38, invoke, seq, 3, 0x0C]) + body, 0x04)


def test_segmented_complex_ack_is_reassembled_on_its_last_segment() -> None:
    run = Run()
    run.send(0, datagram(h("02 74 5e 0c 0c020000fe 194c"), 0x04))  # invoke 94, segmented response accepted
    run.send(1, segment(0, SEGMENTS[0], True))
    run.last(segmented=True, more_follows=True, sequence_number=0, object_type=None, values=None, request_frame=1)
    run.send(0, datagram(h("40 5e 00 03")))  # SegmentACK from the client
    run.last(apdu_type_name="segment_ack", is_response=False, sequence_number=0, negative_ack=False)
    run.send(1, segment(1, SEGMENTS[1], True))
    run.send(1, segment(1, SEGMENTS[1], True))  # a retransmission: ignored
    run.send(1, segment(2, SEGMENTS[2], False))
    run.last(more_follows=False, segments=3, object_type_name="device", object_instance=254, property_id=76,
             values=["binary_input:0", "binary_input:1", "binary_input:2", "binary_output:0", "binary_output:1"],
             device_instance=254, request_frame=1)
    assert run.anomalies == []


def test_missing_segments_are_anomalies() -> None:
    run = Run()
    run.send(1, segment(1, SEGMENTS[1], True))  # the capture began after segment 0
    run.send(1, segment(0, SEGMENTS[0], True))
    run.send(1, segment(2, SEGMENTS[2], False))  # segment 1 lost
    assert run.anomalies == ["bacnet.segment_missing", "bacnet.segment_missing", "bacnet.unmatched_response"]
    assert run.messages[-1].values is None and len(run.messages) == 3


def test_reassembly_is_bounded() -> None:
    run = Run()
    for invoke in range(MAX_REASSEMBLIES + 1):
        run.send(1, segment(0, SEGMENTS[0], True, invoke))
    assert run.anomalies == ["bacnet.too_many_reassemblies"]
    big = b"\xc4\x00\xc0\x00\x00" * 250
    for seq in range(MAX_REASSEMBLY_OCTETS // len(big) + 1):  # the last one passes the limit
        run.send(1, segment(seq, big, True, 200))
    assert run.anomalies[-1] == "bacnet.reassembly_overflow"


def test_identity_from_i_am_and_reads_of_the_device_object() -> None:
    run = Run()
    run.send(0, I_AM_UNITEC)
    run.last(is_response=True, service="i_am", device_instance=0, vendor_id=154, vendor="Unitec Corporation",
             segmentation="segmented_both", max_apdu=1024)
    run.send(0, datagram(h("02 05 11 0c 0c023fffff 1979"), 0x04))  # read vendor-name of the wildcard device
    run.send(1, datagram(h("30 11 0c 0c023fffff 1979 3e 750900 4b4d4320496e632e 3f")))
    run.last(vendor_name="KMC Inc.", device_instance=None, object_instance=4194303)


def test_network_and_bvlc_messages() -> None:
    run = Run()
    run.send(1, I_AM_ROUTER)
    run.last(is_response=True, apdu_type=None, network_message="i_am_router_to_network", networks=[2, 3],
             npdu_control=0x80, bvlc_function_name="original_broadcast_npdu")
    run.send(1, BVLC_RESULT_NAK)
    run.last(is_response=True, bvlc_result=0x30, reason="register_foreign_device_nak", npdu_control=None)


def test_stale_bvlc_length_is_reported_and_the_message_kept() -> None:
    run = Run()
    stale = bytearray(READ_PROPERTY_REQUEST)
    stale[3] += 8
    run.send(0, bytes(stale))
    assert run.anomalies == ["bacnet.bvlc_inconsistent"]
    run.last(service="read_property", object_instance=101)


def test_broken_service_parameters_still_give_a_message() -> None:
    run = Run()
    run.send(0, datagram(h("02 05 07 0c 0c00400065 19"), 0x04))
    assert run.anomalies == ["bacnet.malformed_service"]
    run.last(service="read_property", object_instance=101, property_id=None)


def test_empty_datagrams_are_reported() -> None:
    run = Run()
    run.send(0, b"")
    assert run.anomalies == ["bacnet.empty_datagram"] and not run.analyzer.rejected


def test_other_ports_are_claimed_only_by_content() -> None:
    run = Run(50123, 47809)
    run.send(0, b"\x01\x02 not bacnet")
    assert run.analyzer.rejected and run.events == []


def test_garbage_on_47808_is_reported_then_given_up() -> None:
    run = Run()
    for _ in range(MAX_CONSECUTIVE_MALFORMED):
        run.send(0, b"\x45\x00 garbage")
    assert run.anomalies == ["bacnet.malformed"] * (MAX_CONSECUTIVE_MALFORMED - 1)
    assert run.analyzer.rejected
    after_valid = Run()
    after_valid.send(0, I_AM_UNITEC)
    for _ in range(MAX_CONSECUTIVE_MALFORMED + 2):
        after_valid.send(0, b"\x45\x00 garbage")
    assert not after_valid.analyzer.rejected  # a BACnet flow keeps being reported

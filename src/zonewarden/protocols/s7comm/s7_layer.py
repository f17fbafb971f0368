"""The S7comm layer of the ISO-on-TCP analyzer: job/response matching, SZL answer reassembly, events."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.s7comm.codes import (
    AREAS,
    FN_END_UPLOAD,
    FN_READ_VAR,
    FN_START_UPLOAD,
    FN_UPLOAD,
    FN_WRITE_VAR,
    FUNCTION_GROUPS,
    FUNCTIONS,
    RETURN_SUCCESS,
    ROSCTR,
    ROSCTR_ACK,
    ROSCTR_ACK_DATA,
    ROSCTR_JOB,
    ROSCTR_USERDATA,
    USERDATA_REQUEST,
    USERDATA_RESPONSE,
    name,
    subfunction_name,
)
from zonewarden.protocols.s7comm.events import S7commEvent, S7Item
from zonewarden.protocols.s7comm.wire_items import Item
from zonewarden.protocols.s7comm.wire_s7 import S7Pdu, parse_s7
from zonewarden.protocols.s7comm.wire_userdata import (
    SzlAnswer,
    Userdata,
    parse_szl_answer,
    parse_szl_request,
    szl_identity,
)

if TYPE_CHECKING:
    from zonewarden.protocols.s7comm.analyzer import IsoTcpAnalyzer

# Jobs and userdata requests awaiting an answer per flow: S7 allows a handful in parallel (max AmQ).
MAX_OUTSTANDING = 256
# Responses remembered while their request may still arrive (delivered late after a capture hole).
MAX_EARLY = 64
# Upload sessions remembered per flow (an engineering tool runs one at a time).
MAX_UPLOADS = 16
# Bytes kept of one fragmented SZL answer (the largest lists, e.g. the diagnostic buffer, stay below this).
MAX_SZL_ANSWER = 65536
# Read/write var PDUs carry items; none of the fields below.
_ITEM_FUNCTIONS = frozenset({FN_READ_VAR, FN_WRITE_VAR})
# S7Pdu fields copied to the event as they are.
_PDU_FIELDS = ("max_amq_calling", "max_amq_called", "pdu_size", "function_status", "filename", "block_type",
               "block_number", "filesystem", "upload_id", "block_length", "pi_service", "pi_argument")


@dataclass(slots=True)
class _Block:
    """The block a block-function job names (download, upload), carried to its answers and upload session."""

    filename: str | None
    block_type: str | None
    block_number: int | None
    filesystem: str | None


@dataclass(slots=True)
class _Request:
    function: int | None
    items: list[Item]
    frame: int
    szl: tuple[int, int] | None = None
    block: _Block | None = None


@dataclass(slots=True)
class _SzlChain:
    """The fragments of one SZL answer seen so far (same data unit reference)."""

    data_unit_ref: int | None
    payload: bytearray = field(default_factory=bytearray)


def _item(item: Item) -> S7Item:
    address = item.address
    return S7Item(syntax_id=item.syntax_id, area=item.area, area_name=name(AREAS, item.area), db_number=item.db_number,
                  address=address, byte_address=address >> 3 if address is not None else None,
                  bit=address & 7 if address is not None else None, transport_size=item.transport_size,
                  length=item.length)


class S7Layer:
    def __init__(self, owner: IsoTcpAnalyzer) -> None:
        self.owner = owner
        self._pending: OrderedDict[tuple[int, int], _Request] = OrderedDict()
        self._early: OrderedDict[tuple[int, int], int] = OrderedDict()  # responses seen before their request
        self._uploads: OrderedDict[int, _Block] = OrderedDict()  # open upload sessions by upload id
        self._szl: list[_SzlChain | None] = [None, None]
        # Set while the stream delivers the data that follows a capture hole (the analyzer clears it).
        self.after_gap = [False, False]

    def gap(self, direction: int) -> None:
        self._szl[direction] = None
        self.after_gap[direction] = True

    def pdu(self, direction: int, tsdu: bytes, ts_ns: int, frame: int) -> None:
        owner = self.owner
        try:
            p = parse_s7(tsdu)
        except (Malformed, NeedMoreData) as exc:
            owner.anomaly(direction, ts_ns, frame, "malformed_pdu", str(exc))
            return
        if p.problems:
            owner.anomaly(direction, ts_ns, frame, "length_mismatch", "; ".join(p.problems),
                          self._is_response(p, direction))
        if p.userdata is not None:
            self._userdata(direction, p, p.userdata, ts_ns, frame)
        else:
            self._job_or_ack(direction, p, ts_ns, frame)

    @staticmethod
    def _is_response(p: S7Pdu, direction: int) -> bool:
        if p.rosctr in (ROSCTR_ACK, ROSCTR_ACK_DATA):
            return True
        if p.rosctr == ROSCTR_USERDATA and p.userdata is not None and p.userdata.type in (USERDATA_REQUEST,
                                                                                            USERDATA_RESPONSE):
            return p.userdata.type == USERDATA_RESPONSE
        return direction == 1 and p.rosctr != ROSCTR_JOB

    def _remember(self, direction: int, key: tuple[int, int], request: _Request, ts_ns: int) -> None:
        if self.after_gap[direction] and self._early.pop(key, None) is not None:
            return  # delivered late after a capture hole, its answer came first: nothing to wait for
        self._pending[key] = request
        self._pending.move_to_end(key)
        if len(self._pending) > MAX_OUTSTANDING:
            self._pending.popitem(last=False)
            self.owner.anomaly(direction, ts_ns, request.frame, "too_many_outstanding",
                               f"more than {MAX_OUTSTANDING} requests without response", False)

    def _answer(self, key: tuple[int, int], frame: int) -> _Request | None:
        """The request a response answers. A response without one is no anomaly: captures start mid-dialogue,
        and after a capture hole the stream delivers a request later than its response."""
        request = self._pending.pop(key, None)
        if request is None:
            self._early[key] = frame
            if len(self._early) > MAX_EARLY:
                self._early.popitem(last=False)
        return request

    def _job_or_ack(self, direction: int, p: S7Pdu, ts_ns: int, frame: int) -> None:
        items, request_frame, function = p.items, None, p.function
        block = _Block(p.filename, p.block_type, p.block_number, p.filesystem) if p.filename else None
        if p.rosctr == ROSCTR_JOB:
            if block is None and p.function in (FN_UPLOAD, FN_END_UPLOAD) and p.upload_id is not None:
                # upload and end upload name only the session: the block comes from its start upload
                block = self._uploads.get(p.upload_id)
                if p.function == FN_END_UPLOAD:
                    self._uploads.pop(p.upload_id, None)
            self._remember(direction, (ROSCTR_JOB, p.pdu_ref), _Request(p.function, p.items, frame, block=block),
                           ts_ns)
        elif p.rosctr in (ROSCTR_ACK, ROSCTR_ACK_DATA):
            request = self._answer((ROSCTR_JOB, p.pdu_ref), frame)
            if request is not None:
                request_frame, items, block = request.frame, request.items, block or request.block
                if function is None:
                    function = request.function
                elif request.function is not None and request.function != function:
                    self.owner.anomaly(direction, ts_ns, frame, "function_mismatch",
                                       f"request function 0x{request.function:02x}, response 0x{function:02x}", True)
            if function == FN_START_UPLOAD and p.upload_id is not None and block is not None:
                self._uploads[p.upload_id] = block
                if len(self._uploads) > MAX_UPLOADS:
                    self._uploads.popitem(last=False)
        event = self._event(direction, p, ts_ns, frame, request_frame)
        event.function, event.function_name = function, name(FUNCTIONS, function)
        if items:
            event.items = [_item(i) for i in items]
        if block is not None:
            event.filename, event.block_type, event.block_number, event.filesystem = (
                block.filename, block.block_type, block.block_number, block.filesystem)
        self.owner.emit(event)

    def _userdata(self, direction: int, p: S7Pdu, ud: Userdata, ts_ns: int, frame: int) -> None:
        event = self._event(direction, p, ts_ns, frame, None)
        event.userdata_type, event.function_group = ud.type, ud.group
        event.function_group_name = name(FUNCTION_GROUPS, ud.group)
        event.subfunction, event.subfunction_name = ud.subfunction, subfunction_name(ud.group, ud.subfunction)
        event.sequence_number, event.data_unit_ref, event.userdata_error = ud.sequence_number, ud.data_unit_ref, \
            ud.error_code
        event.more_fragments = not ud.last_data_unit if ud.data_unit_ref is not None else None
        event.return_code = ud.return_code
        event.item_count = ud.item_count
        event.items = [_item(i) for i in ud.items] or None
        event.return_codes = ud.return_codes or None
        key = (ROSCTR_USERDATA, p.pdu_ref)
        if ud.type == USERDATA_REQUEST:
            szl = parse_szl_request(ud.payload) if ud.is_szl else None
            if szl is not None:
                event.szl_id, event.szl_index = szl
            self._remember(direction, key, _Request(None, [], frame, szl), ts_ns)
        elif ud.type == USERDATA_RESPONSE:
            request = self._answer(key, frame)
            if request is not None:
                event.request_frame = request.frame
            if ud.is_szl:
                self._szl_answer(direction, ud, event, ts_ns, frame)
        self.owner.emit(event)

    def _szl_answer(self, direction: int, ud: Userdata, event: S7commEvent, ts_ns: int, frame: int) -> None:
        """Answers longer than a PDU come in fragments (last data unit = no) tied by the data unit reference."""
        chain = self._szl[direction]
        if chain is not None and chain.data_unit_ref != ud.data_unit_ref:
            self.owner.anomaly(direction, ts_ns, frame, "szl_fragments_lost",
                               f"answer {chain.data_unit_ref} never completed before answer {ud.data_unit_ref}", True)
            chain = self._szl[direction] = None
        if ud.return_code != RETURN_SUCCESS:
            self._szl[direction] = None
            return
        if chain is None and not ud.last_data_unit:
            chain = self._szl[direction] = _SzlChain(ud.data_unit_ref)
        if chain is not None:
            room = MAX_SZL_ANSWER - len(chain.payload)
            chain.payload += ud.payload[:room]
            payload = bytes(chain.payload)
        else:
            payload = ud.payload
        answer = parse_szl_answer(payload)
        if answer is None:
            return
        event.szl_id, event.szl_index, event.szl_record_count = answer.szl_id, answer.szl_index, answer.record_count
        if ud.last_data_unit:
            self._szl[direction] = None
            self._identity(event, answer)

    @staticmethod
    def _identity(event: S7commEvent, answer: SzlAnswer) -> None:
        for key, value in szl_identity(answer).items():
            setattr(event, key, value)

    def _event(self, direction: int, p: S7Pdu, ts_ns: int, frame: int, request_frame: int | None) -> S7commEvent:
        ctx = self.owner.ctx
        src, dst, sport, dport = ctx.ends(direction)
        event = S7commEvent(  # at most 15 keywords: see FlowContext.ends
            ts=ts_ns / 1e9, src=src, dst=dst, sport=sport, dport=dport, is_response=self._is_response(p, direction),
            flow_id=ctx.flow_id, frame=frame,
            rosctr=p.rosctr, rosctr_name=ROSCTR[p.rosctr], pdu_ref=p.pdu_ref, param_length=p.param_length,
            data_length=p.data_length, error_class=p.error_class, error_code=p.error_code,
        )
        event.item_count, event.return_codes, event.request_frame = p.item_count, p.return_codes or None, request_frame
        if p.function not in _ITEM_FUNCTIONS:
            # Setup, block and PLC control fields: null in the (far more common) read/write var PDUs, so they are
            # looked at only for the other PDUs and set when present.
            for name in _PDU_FIELDS:
                value = getattr(p, name)
                if value is not None:
                    setattr(event, name, value)
            if p.pi_blocks:
                event.pi_blocks = p.pi_blocks
        return event

"""Operation classes of S7comm-plus requests: bytes from real TIA Portal and WinCC captures through the
ISO-on-TCP analyzer, then ``operation``; and a whole TIA Portal download classed as such."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.protocols.s7comm import fixtures as fx
from zonewarden.inventory.operations import operation
from zonewarden.model.events import Event
from zonewarden.pipeline.analysis import analyze
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.s7comm.analyzer import IsoTcpAnalyzer
from zonewarden.protocols.s7comm.codes import S7PLUS_FUNCTIONS
from zonewarden.store.db import Store

CLIENT, PLC = "10.0.0.1", "10.0.0.2"
TIA_DOWNLOAD = "s7comm/controlthings-ct-samples/S7-1200-Uploading-OB1-TIAV12.pcap"
WINCC = "s7comm/controlthings-ct-samples/S7-1511_db2_var1_HMI.pcap"


def events(*parts: tuple[int, bytes]) -> list[Event]:
    """(direction, bytes) parts of one connection, 0 from the client, as frames 1, 2, ..."""
    out: list[Event] = []
    analyzer = IsoTcpAnalyzer(FlowContext("Ctest", CLIENT, PLC, 50000, 102), out.append)
    for frame, (direction, data) in enumerate(parts, start=1):
        analyzer.data(direction, data, frame * 1000, frame)
    analyzer.end()
    return out


def classes(*parts: tuple[int, bytes]) -> list[tuple[str | None, str | None]]:
    """(function or COTP TPDU name, operation) of each event."""
    return [(getattr(e, "function_name", None) or getattr(e, "pdu_type_name", None), operation(e))
            for e in events(*parts)]


def test_tia_portal_download_is_program_between_a_session() -> None:
    assert classes((0, fx.COTP_CR_TIA_ES), (0, fx.PLUS_V2_BEGIN_SEQUENCE_REQUEST), (0, fx.PLUS_V2_END_SEQUENCE_REQUEST),
                   (0, fx.PLUS_V2_DELETE_OBJECT_REQUEST), (1, fx.PLUS_V2_DELETE_OBJECT_RESPONSE)) == [
        ("CR", "session"), ("begin_sequence", "program"), ("end_sequence", "program"), ("delete_object", "session"),
        ("delete_object", None)]


def test_hmi_session_reads_and_writes_and_answers_perform_nothing() -> None:
    assert classes((0, fx.COTP_CR_TIA_HMI), (0, fx.PLUS_V1_CREATE_OBJECT_REQUEST),
                   (0, fx.PLUS_V2_GET_MULTI_VARIABLES_REQUEST), (1, fx.PLUS_V2_SET_MULTI_VARIABLES_RESPONSE),
                   (0, fx.PLUS_V3_SET_VARIABLE_REQUEST), (1, fx.PLUS_V3_NOTIFICATION), (1, fx.PLUS_SYSTEM_EVENT),
                   (0, fx.PLUS_KEEPALIVE), (1, fx.PLUS_IDENTITY_RESPONSE)) == [
        ("CR", "session"), ("create_object", "session"), ("get_multi_variables", "read"),
        ("set_multi_variables", None), ("set_variable", "write"), (None, None), (None, None), (None, "session"),
        ("get_var_sub_streamed", None)]


def plus_request(function: int) -> dict[str, Any]:
    return {"proto": "s7comm_plus", "kind": "message", "is_response": False, "version": 3, "opcode": 0x31,
            "function": function}


@pytest.mark.parametrize(("name", "expected"), [
    ("get_multi_variables", "read"), ("get_variable", "read"), ("get_link", "read"),
    ("set_multi_variables", "write"), ("set_variable", "write"), ("set_var_sub_streamed", "write"),
    ("explore", "diagnostics"), ("get_var_sub_streamed", "diagnostics"),
    ("begin_sequence", "program"), ("end_sequence", "program"),
    ("create_object", "session"), ("delete_object", "session"), ("init_ssl", "session"),
    ("invoke", "control"),
    ("add_link", "other"), ("remove_link", "other"), ("get_variables_address", "other"), ("abort", "other"),
])
def test_each_request_function(name: str, expected: str) -> None:
    code = next(c for c, n in S7PLUS_FUNCTIONS.items() if n == name)
    assert operation(plus_request(code)) == expected


def test_unknown_functions_and_headless_messages() -> None:
    assert operation(plus_request(0x0999)) == "other"
    assert operation({**plus_request(0x054C), "opcode": 0x33}) is None  # a notification, whoever sends it
    assert operation({**plus_request(0x054C), "opcode": None, "function": None}) == "other"  # data without a head
    assert operation({**plus_request(0x054C), "is_response": True}) is None


def test_a_captured_tia_portal_download(corpus_dir: Path, tmp_path: Path) -> None:
    """TIA Portal V12 loads OB1 into an S7-1200: its station is an engineering workstation for both reasons."""
    result = analyze([str(corpus_dir / TIA_DOWNLOAD)], Store(str(tmp_path / "zw.db")))
    (edge,) = [e for e in result.edges if e["proto"] == "s7comm_plus"]
    assert edge["operations"]["program"] == 4  # BeginSequence and EndSequence, twice nested
    ews = next(a for a in result.assets if a.asset_id == edge["client"])
    reason = next(ev.value for ev in ews.evidence if ev.attribute == "role_reason")
    assert ews.role == "engineering_workstation"
    assert "performs program operations" in reason and "engineering connections (SIMATIC-ROOT-ES)" in reason


def test_a_captured_wincc_session_is_an_hmi(corpus_dir: Path, tmp_path: Path) -> None:
    result = analyze([str(corpus_dir / WINCC)], Store(str(tmp_path / "zw.db")))
    (edge,) = [e for e in result.edges if e["proto"] == "s7comm_plus"]
    assert set(edge["operations"]) == {"session", "write", "read"}  # the session setup is the write
    hmi = next(a for a in result.assets if a.asset_id == edge["client"])
    assert hmi.role == "hmi"

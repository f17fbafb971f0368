"""The packet pass's way into the conversation merger: conversation_rows, from the flow table's columns, says
exactly what conversation_row says of each FlowRecord flow_records makes (the path of dicts and single
records), over every corpus capture and over random records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings

from tests.strategies import flow_record_arrays
from zonewarden.flow.layout import FLOW_DTYPE
from zonewarden.flow.records import RECORD_SLICE, flow_records
from zonewarden.inventory.conversations import NO_VLAN, conversation_row, conversation_rows
from zonewarden.pipeline.packets import PacketPipeline


def assert_rows_agree(records: np.ndarray) -> int:
    fast = list(conversation_rows(records))
    reference = [conversation_row(f) for f in flow_records(records)]
    assert len(fast) == len(reference)
    for got, want in zip(fast, reference, strict=True):
        assert got == want
        assert [type(v) for v in got] == [type(v) for v in want]  # (True is 1, but a bool is not an int)
    return len(fast)


def test_rows_from_columns_equal_rows_from_records(corpus_capture: str, shared_dir: Path) -> None:
    for batch in PacketPipeline([str(shared_dir / "corpus" / corpus_capture)]).flow_batches():
        assert_rows_agree(batch)


@settings(max_examples=300, deadline=None)
@given(flow_record_arrays())
def test_rows_from_random_columns(records: np.ndarray) -> None:
    assert assert_rows_agree(records) == len(records)


def test_rows_cross_slices_and_share_the_vlan_less_pair() -> None:
    records = np.zeros(RECORD_SLICE + 3, FLOW_DTYPE)
    records["proto"] = 17
    records["ipver"] = 4
    records["a_lo"] = 0xFFFF0A000001
    records["b_lo"] = 0xFFFF0A000002 + np.arange(len(records), dtype=np.uint64)
    records["vlan_outer"] = records["vlan_inner"] = -1
    records["vlan_outer"][-1] = 7
    rows = list(conversation_rows(records))
    assert assert_rows_agree(records) == RECORD_SLICE + 3
    assert rows[0][6] is NO_VLAN and rows[-1][6] == (7, None)

"""Tables on stdout: rich for short ones, plain aligned text for long ones (rich takes ~1 ms a row)."""

from __future__ import annotations

import pytest

from zonewarden.cli import output


def test_a_long_table_is_plain_aligned_text_with_long_cells_cut(capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "RICH_MAX_ROWS", 2)
    rows = [{"ip": "10.0.0.1", "vendor": "Siemens", "note": "x" * 60}, {"ip": "10.0.0.22", "vendor": None,
                                                                       "note": "short"},
            {"ip": "fe80::1", "vendor": "WAGO", "note": None}]
    output.print_table(rows, ("ip", "vendor", "note"))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "ip         vendor   note",
        "10.0.0.1   Siemens  " + "x" * (output.PLAIN_MAX_WIDTH - 1) + "…",
        "10.0.0.22           short",
        "fe80::1    WAGO",
    ]


def test_a_short_table_keeps_rich_columns(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_table([{"ip": "10.0.0.1", "vendor": "Siemens"}], ("ip", "vendor"))
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert header.split() == ["ip", "vendor"] and row.split() == ["10.0.0.1", "Siemens"]

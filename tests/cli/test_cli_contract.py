"""The CLI contract (DESIGN.md): every command explains itself, user mistakes end in one clean line with the
documented exit status, and the README documents every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zonewarden import __version__
from zonewarden.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
ALL = cli.all_commands  # type: ignore[attr-defined]
COMMANDS = sorted(ALL)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zonewarden", *args], capture_output=True, text=True, check=False)


def test_the_documented_commands_exist() -> None:
    assert {"analyze", "assets", "events", "flows", "map"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4
    assert (ALL[command].help or "").strip(), f"{command} has no description"


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_documents_every_command(command: str) -> None:
    assert f"zonewarden {command}" in (ROOT / "README.md").read_text()


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0 and __version__ in out.stdout


def test_missing_capture_is_one_clean_line_and_exit_1() -> None:
    out = run("flows", "/nonexistent/capture.pcap")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["error: /nonexistent/capture.pcap: no such file or directory"]


def test_usage_mistakes_exit_2_without_traceback() -> None:
    for args in (["flows"], ["flows", "--format", "xml", "x.pcap"], ["nosuchcommand"],
                 ["events", "x.pcap", "--protocol", "nope"]):
        out = run(*args)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr


def test_not_a_capture_reports_and_exits_1(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, not a pcap\n")
    out = run("flows", str(bogus))
    assert out.returncode == 1
    assert "not a pcap or pcapng capture" in out.stderr and "Traceback" not in out.stderr


def test_bad_store_url_is_a_clean_error(tmp_path: Path) -> None:
    out = run("assets", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    assert out.returncode == 1 and out.stderr.startswith("error: cannot open store")
    assert "Traceback" not in out.stderr


def test_a_command_collects_garbage_every_100k_allocations_not_every_700() -> None:
    # Set before click and the commands are imported: their objects live to the end of the run.
    probe = "import gc, sys; import zonewarden.cli; print(gc.get_threshold()[0], 'click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["100000", "False"]

"""`ching` without the `cli` extra (rich) starts and names the extra; the
fresh-venv install of each extra set is in tests/package/test_distribution.py."""

from __future__ import annotations

import sys

import pytest

from ching_async.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["charges", "list"], ["demo"]])
def test_without_rich_every_command_names_the_cli_extra(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # what find_spec sees when it is absent
    assert main(argv) == 4  # ExitCode.CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "ching: error: the ching command needs the 'cli' extra (rich is not installed): "
        "pip install 'ching-async[cli]'\n"
    )

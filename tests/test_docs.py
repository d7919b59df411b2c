"""Docs that tests keep honest: every CLI command is in the README and has --help."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from adapters.main import main
from bot.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    found: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _commands(sub, f"{prefix}{name} ")
                found += nested or [f"{prefix}{name}"]
    return found


COMMANDS = _commands(build_parser())


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [c for c in COMMANDS if f"signaldesk {c}" not in readme]
    assert missing == []


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command.split(), "--help"])
    assert done.value.code == 0
    assert "usage: signaldesk" in capsys.readouterr().out


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first = readme.index("make demo")
    assert first < 1200 and readme.index("make test") < 1200

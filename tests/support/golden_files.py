"""Golden files for rendered messages: ``assert_golden(name, payload)``.

A payload is compared with ``tests/golden/<name>`` as pretty, key-sorted JSON. To
regenerate after an intended change, run with ``UPDATE_GOLDEN=1`` (or
``--update-golden`` once the option is registered in conftest; see
``pytest_addoption`` below) and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).parents[1] / "golden"
_UPDATE = {"update": os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")}


def pytest_addoption(parser: pytest.Parser) -> None:
    """For a conftest to re-export: ``from tests.support.golden_files import pytest_addoption``."""
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite golden files under tests/golden"
    )


def updating(config: pytest.Config | None = None) -> bool:
    if _UPDATE["update"]:
        return True
    if config is not None:
        try:
            return bool(config.getoption("--update-golden"))
        except ValueError:
            return False
    return False


def dumps(payload: Any) -> str:
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def assert_golden(name: str, payload: Any, config: pytest.Config | None = None) -> None:
    """``payload`` must equal the golden file ``name`` (e.g. ``slack/briefing.json``)."""
    path = GOLDEN / name
    text = dumps(payload)
    if updating(config):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing: run with UPDATE_GOLDEN=1 and review it")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it)"

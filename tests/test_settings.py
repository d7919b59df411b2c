"""Settings: validated at start with one clear line; .env.example lists every field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import Settings, env_name, load_settings

ROOT = Path(__file__).resolve().parents[1]


def _example_names() -> list[str]:
    text = (ROOT / ".env.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    documented = _example_names()
    expected = {env_name(name) for name in Settings.model_fields}
    assert sorted(set(documented)) == sorted(expected)
    assert len(documented) == len(set(documented)), "a variable is listed twice"


def test_env_example_values_are_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    settings = load_settings()
    assert settings.first_poll_limit == 3
    assert settings.slack_bot_token is None  # empty means unset


def test_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALDESK_POLL_INTERVAL", "soon")
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert "SIGNALDESK_POLL_INTERVAL" in message
    assert "\n" not in message


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-very-secret"
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SIGNALDESK_FIRST_POLL_LIMIT=7\n")
    assert load_settings().first_poll_limit == 7


def test_text_kept_for_less_than_the_cluster_window_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A story that can still gain a source is condensed again from its sources' text.
    monkeypatch.setenv("SIGNALDESK_CLUSTER_WINDOW_HOURS", "96")
    monkeypatch.setenv("SIGNALDESK_KEEP_TEXT_DAYS", "3")
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    message = str(err.value)
    assert "SIGNALDESK_KEEP_TEXT_DAYS" in message and "cluster window" in message
    assert "\n" not in message
    monkeypatch.setenv("SIGNALDESK_KEEP_TEXT_DAYS", "0")  # keep forever
    assert load_settings(_env_file=None).keep_text_days == 0

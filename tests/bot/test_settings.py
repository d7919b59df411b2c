"""Settings: validated at start with one clear line; .env.example lists every field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import Settings, env_name, load_settings

ROOT = Path(__file__).resolve().parents[2]


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


def test_secrets_come_from_files_as_docker_and_systemd_hand_them_over(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slack_bot_token").write_text("xoxb-from-a-file\n")
    (tmp_path / "discord").write_text("discord-secret")
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(tmp_path / "slack_bot_token"))
    monkeypatch.setenv("DISCORD_TOKEN_FILE", str(tmp_path / "discord"))
    settings = load_settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-a-file"
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "discord-secret"
    assert "discord-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "SLACK_BOT_TOKEN_FILE: cannot read"),
        ("empty", "is empty"),
        ("both", "both SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are set"),
    ],
)
def test_a_bad_secret_file_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setup: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    secret = tmp_path / "token"
    if setup == "empty":
        secret.write_text("\n")
    if setup == "both":
        secret.write_text("xoxb-1")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-2")
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(secret))
    with pytest.raises(ConfigError, match=message) as err:
        load_settings()
    assert "\n" not in str(err.value)


def test_an_env_file_elsewhere_is_read_and_a_missing_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Started from another folder, the service reads the file it is told to, not ./.env.
    elsewhere = tmp_path / "etc" / "signaldesk.env"
    elsewhere.parent.mkdir()
    elsewhere.write_text("SIGNALDESK_DATABASE=/var/lib/signaldesk/signaldesk.db\n")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    (tmp_path / "work" / ".env").write_text("SIGNALDESK_DATABASE=wrong.db\n")
    assert load_settings(elsewhere).database == "/var/lib/signaldesk/signaldesk.db"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.env")

"""Settings: every wrong setting is named; secrets come from files with safe permissions."""

from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.services.backend.settings import conninfo, load_settings, parse_settings
from ansible_collections.quadstats.stack.services.common.config import ConfigError, read_secret_file


def test_defaults_are_valid():
    settings = parse_settings({})
    assert settings.database.port == 5432
    assert settings.retention.journal_days == 7
    assert settings.listen.port == 8080


def test_every_wrong_setting_is_named_at_once():
    with pytest.raises(ConfigError) as err:
        parse_settings({"database": {"port": 0, "pool_max_size": "many"}, "listen": {"prot": 1}, "log_level": "loud"})
    text = str(err.value)
    for name in ("database.port", "database.pool_max_size", "listen.prot", "log_level"):
        assert f"setting {name}:" in text
    assert "unknown setting" in text
    assert err.value.kind == "invalid_option"


def test_cross_field_rules():
    with pytest.raises(ConfigError, match=r"database\.pool_min_size"):
        parse_settings({"database": {"pool_min_size": 5, "pool_max_size": 2}})
    with pytest.raises(ConfigError, match="give both or neither"):
        parse_settings({"listen": {"tls_cert_file": "/etc/hostname"}})
    with pytest.raises(ConfigError, match=r"listen\.tls_key_file"):
        parse_settings({"listen": {"tls_cert_file": "/etc/hostname", "tls_key_file": "/nonexistent/key"}})


def test_config_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="does not exist: pass --config"):
        load_settings(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("database: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
    listy = tmp_path / "list.yml"
    listy.write_text("- a\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings(listy)
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    assert load_settings(empty).database.dbname == "quadstats"


def test_secret_file_rules(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret-canary\n")
    secret.chmod(0o600)
    assert read_secret_file(secret, "database.password_file") == "s3cret-canary"
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others: chmod o-rwx") as err:
        read_secret_file(secret, "database.password_file")
    assert "s3cret-canary" not in str(err.value)
    with pytest.raises(ConfigError, match=r"setting database\.password_file: secret file .* does not exist"):
        read_secret_file(tmp_path / "nope", "database.password_file")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ConfigError, match="is empty"):
        read_secret_file(empty, "database.password_file")
    with pytest.raises(ConfigError, match="not a regular file"):
        read_secret_file(tmp_path, "database.password_file")


def test_conninfo_reads_the_password_file(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("pw with 'quote'\n")
    secret.chmod(0o600)
    info = conninfo(parse_settings({"database": {"host": "db.example", "password_file": str(secret)}}))
    assert "host=db.example" in info
    assert "password='pw with \\'quote\\''" in info
    assert "password" not in conninfo(parse_settings({}))


def test_alert_and_telegram_settings(tmp_path):
    rules = parse_settings(
        {"alerts": {"sustained_seconds": 60, "overrides": [{"host": "db*", "disk_threshold_percent": 95}]}}
    ).alerts.rules()
    assert rules.sustained_seconds == 60
    assert rules.overrides[0].host == "db*"
    assert rules.overrides[0].disk_threshold_percent == 95
    with pytest.raises(ConfigError, match=r"setting alerts\.overrides\.0\.disk_threshold_percent"):
        parse_settings({"alerts": {"overrides": [{"disk_threshold_percent": 120}]}})
    with pytest.raises(ConfigError, match=r"telegram\.token_file and telegram\.chat_id"):
        parse_settings({"telegram": {"enabled": True, "chat_id": 5}})
    with pytest.raises(ConfigError, match=r"setting telegram\.api_base_url"):
        parse_settings({"telegram": {"api_base_url": "ftp://x"}})
    with pytest.raises(ConfigError, match=r"setting telegram\.ca_file"):
        parse_settings({"telegram": {"ca_file": str(tmp_path / "none.pem")}})
    assert (
        parse_settings({"telegram": {"enabled": True, "chat_id": -100, "token_file": "/run/t"}}).telegram.chat_id
        == -100
    )

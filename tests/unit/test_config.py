"""Settings: defaults < portrait.toml < PORTRAIT_* env < overrides; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.config import SETTINGS, default_toml, load_config
from portrait.errors import ConfigError


def test_defaults_without_a_file() -> None:
    config = load_config(None, environ={})
    assert config["engine.type"] == "duckdb"
    assert config["data.as_of"] == "auto"
    assert all(config.sources[s.name] == "default" for s in SETTINGS)


def test_precedence(tmp_path: Path) -> None:
    (tmp_path / "portrait.toml").write_text('[data]\nas_of = "2026-01-02"\n[engine]\nthreads = 3\n')
    env = {"PORTRAIT_ENGINE_THREADS": "1"}
    config = load_config(tmp_path, environ=env, overrides={"data.timezone": "Asia/Shanghai"})
    assert config["data.as_of"] == "2026-01-02"
    assert config["engine.threads"] == 1
    assert config.sources["engine.threads"] == "$PORTRAIT_ENGINE_THREADS"
    assert config["data.timezone"] == "Asia/Shanghai"
    assert config.sources["data.timezone"] == "command line"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[data]\nas_of = "yesterday"\n', "data.as_of"),
        ('[engine]\nthreads = "many"\n', "engine.threads"),
        ("[engine]\nwheels = 4\n", "unknown setting 'engine.wheels'"),
        ('[data]\ntimezone = "Mars/Olympus"\n', "time zone"),
        ("not toml [", "cannot parse"),
    ],
)
def test_bad_values_name_the_setting_and_file(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "portrait.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert needle in str(info.value)
    assert "portrait.toml" in str(info.value)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"\$PORTRAIT_INGEST_ON_ERROR"):
        load_config(None, environ={"PORTRAIT_INGEST_ON_ERROR": "ignore"})


def test_default_toml_round_trips(tmp_path: Path) -> None:
    (tmp_path / "portrait.toml").write_text(default_toml())
    config = load_config(tmp_path, environ={})
    assert {k: config[k] for k in config} == {s.name: s.default for s in SETTINGS}
    assert all(config.sources[s.name] == "default" for s in SETTINGS)  # all commented out
    text = default_toml()
    assert all(f"# {s.key} = " in text for s in SETTINGS)


def test_database_url_answers_to_portrait_database_url() -> None:
    url = "postgresql+psycopg://portrait@db:5432/portrait"
    config = load_config(None, environ={"PORTRAIT_DATABASE_URL": url})
    assert config["store.metadata_url"] == url
    assert config.sources["store.metadata_url"] == "$PORTRAIT_DATABASE_URL"


def test_the_specific_variable_wins_over_the_alias(tmp_path: Path) -> None:
    (tmp_path / "portrait.toml").write_text('[store]\nmetadata_url = "sqlite:///from-file.db"\n')
    env = {
        "PORTRAIT_DATABASE_URL": "postgresql+psycopg://shared@db/all",
        "PORTRAIT_STORE_METADATA_URL": "postgresql+psycopg://mine@db/portrait",
    }
    config = load_config(tmp_path, environ=env)
    assert config["store.metadata_url"] == "postgresql+psycopg://mine@db/portrait"
    assert config.sources["store.metadata_url"] == "$PORTRAIT_STORE_METADATA_URL"
    only_alias = load_config(
        tmp_path, environ={"PORTRAIT_DATABASE_URL": env["PORTRAIT_DATABASE_URL"]}
    )
    assert only_alias["store.metadata_url"] == env["PORTRAIT_DATABASE_URL"]  # env beats the file
    explicit = load_config(tmp_path, environ=env, overrides={"store.metadata_url": ""})
    assert explicit["store.metadata_url"] == ""


def test_a_bad_alias_value_names_the_alias() -> None:
    with pytest.raises(ConfigError, match=r"\$PORTRAIT_DATABASE_URL") as info:
        load_config(None, environ={"PORTRAIT_DATABASE_URL": "not a url"})
    assert "store.metadata_url" in str(info.value)

"""Settings: sources and their priority, presets, validation errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from daas.config import PRESETS, Network, load_settings, redact_url
from daas.errors import ConfigError


def test_defaults_are_localnet_with_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.network is Network.LOCALNET
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'daas.db'}"
    assert settings.grpc_url == PRESETS[Network.LOCALNET].grpc_url
    assert settings.enclave_key_file == tmp_path / "enclave.key"
    assert settings.walrus.max_request_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize("network", list(Network))
def test_every_preset_has_endpoints_and_explorer_links(network: Network) -> None:
    settings = load_settings(network=network)
    assert settings.grpc_url.startswith(("http://", "https://"))
    assert settings.walrus_aggregator_url.startswith(("http://", "https://"))
    assert "0xabc" in settings.explorer_object_url("0xabc")
    assert "Dig3st" in settings.explorer_tx_url("Dig3st")
    if network in (Network.TESTNET, Network.MAINNET):
        assert settings.expected_chain_id  # public networks pin their chain id
    if network is Network.MAINNET:
        assert settings.walrus_publisher_url is None  # no public mainnet publisher exists


def test_priority_override_over_env_over_file_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "daas.toml"
    config.write_text(
        'network = "testnet"\n[runner]\nmemory_mb = 4096\ncpus = 3.0\nmax_attempts = 7\n'
    )
    monkeypatch.setenv("DAAS_RUNNER__CPUS", "2.5")
    monkeypatch.setenv("DAAS_RUNNER__MAX_ATTEMPTS", "5")
    settings = load_settings(config, runner={"max_attempts": 9})
    assert settings.network is Network.TESTNET  # file
    assert settings.runner.memory_mb == 4096  # file
    assert settings.runner.cpus == 2.5  # env beats file
    # An override of a nested model replaces the whole section on purpose: CLI flags are explicit.
    assert settings.runner.max_attempts == 9


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('network = "devnet"\n')
    monkeypatch.setenv("DAAS_CONFIG_FILE", str(config))
    assert load_settings().network is Network.DEVNET


def test_endpoint_overrides_win_over_the_preset() -> None:
    settings = load_settings(
        network="testnet",
        chain={"grpc_url": "http://127.0.0.1:9100/", "chain_id": "abc"},
        walrus={"aggregator_url": "http://127.0.0.1:9200"},
    )
    assert settings.grpc_url == "http://127.0.0.1:9100"
    assert settings.expected_chain_id == "abc"
    assert settings.walrus_aggregator_url == "http://127.0.0.1:9200"
    assert settings.walrus_publisher_url == PRESETS[Network.TESTNET].walrus_publisher_url


def test_object_ids_are_normalised() -> None:
    settings = load_settings(chain={"package_id": "0xABC"})
    assert settings.chain.package_id == "0x" + "0" * 61 + "abc"


@pytest.mark.parametrize(
    ("kwargs", "env", "setting", "env_name"),
    [
        ({"runner": {"memory_mb": 10}}, {}, "runner.memory_mb", "DAAS_RUNNER__MEMORY_MB"),
        ({}, {"DAAS_RUNNER__CPUS": "lots"}, "runner.cpus", "DAAS_RUNNER__CPUS"),
        ({"network": "moonnet"}, {}, "network", "DAAS_NETWORK"),
        ({"walrus": {"epochs": 54}}, {}, "walrus.epochs", "DAAS_WALRUS__EPOCHS"),
        ({"chain": {"grpc_url": "ftp://x"}}, {}, "chain.grpc_url", "DAAS_CHAIN__GRPC_URL"),
        ({"chain": {"package_id": "0xnothex"}}, {}, "chain.package_id", "DAAS_CHAIN__PACKAGE_ID"),
        ({"database_url": "mysql://x/y"}, {}, "database_url", "DAAS_DATABASE_URL"),
        ({"keys": {"sui_private_key": "hunter2"}}, {}, "keys.sui_private_key", "DAAS_KEYS__"),
        ({"log_level": "LOUD"}, {}, "log_level", "DAAS_LOG_LEVEL"),
    ],
)
def test_invalid_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, object],
    env: dict[str, str],
    setting: str,
    env_name: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    assert info.value.setting == setting
    assert setting in str(info.value)
    assert env_name in str(info.value)
    assert "hunter2" not in str(info.value)


def test_unknown_settings_in_a_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[runner]\nmemroy_mb = 4096\n")
    with pytest.raises(ConfigError, match=r"runner\.memroy_mb: unknown setting"):
        load_settings(config)


def test_missing_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_settings(tmp_path / "nope.toml")
    assert info.value.setting == "config_file"
    bad = tmp_path / "bad.toml"
    bad.write_text("network = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml") as info:
        load_settings(bad)
    assert info.value.setting == "config_file"


def test_private_key_refused_on_mainnet() -> None:
    key = "suiprivkey1" + "q" * 59
    assert load_settings(network="testnet", keys={"sui_private_key": key})
    with pytest.raises(ConfigError, match="sui_keystore"):
        load_settings(network="mainnet", keys={"sui_private_key": key})


def test_redacted_hides_secrets_and_passwords() -> None:
    key = "suiprivkey1" + "x" * 59
    settings = load_settings(
        database_url="postgresql://daas:s3cret@db.example/daas",
        keys={"sui_private_key": key},
        chain={"api_token": "tok-123"},
    )
    text = repr(settings.redacted())
    assert key not in text and "s3cret" not in text and "tok-123" not in text
    assert "daas:***@db.example" in text
    assert settings.redacted()["effective"]["grpc_url"] == settings.grpc_url


def test_redact_url_leaves_passwordless_urls_alone() -> None:
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert redact_url("postgresql://u:p@h:5/d") == "postgresql://u:***@h:5/d"


def test_each_load_is_independent(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('network = "testnet"\n')
    assert load_settings(config).network is Network.TESTNET
    # The file of a previous load never leaks into the next one.
    assert load_settings().network is Network.LOCALNET


def test_extra_package_ids_are_normalised_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAAS_CHAIN__EXTRA_PACKAGE_IDS", '["0xAB", "0x01"]')
    settings = load_settings()
    assert settings.chain.extra_package_ids == ["0x" + "0" * 62 + "ab", "0x" + "0" * 62 + "01"]
    with pytest.raises(ConfigError, match="extra_package_ids"):
        load_settings(chain={"extra_package_ids": ["not-an-id"]})


def test_localnet_explorer_links_follow_the_node_url() -> None:
    settings = load_settings(chain={"grpc_url": "http://127.0.0.1:45123"})
    assert "network=http%3A%2F%2F127.0.0.1%3A45123" in settings.explorer_object_url("0xab")
    assert settings.explorer_tx_url("D1g").startswith("https://custom.suiscan.xyz/custom/tx/D1g")

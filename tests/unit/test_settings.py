"""Settings: config file, JVP_* environment overrides, and errors that name the key."""
from __future__ import annotations

import os

import pytest

from jvp.settings import ConfigError, env_name, load_settings


def test_defaults_without_a_config_file():
    s = load_settings(config_path=os.devnull, env={})
    assert s.listen == "0.0.0.0:7777" and s.data_dir == "/var/lib/jvp" and s.local_uri == "qemu:///system"
    assert s.auth is True and s.download["allow_file_urls"] is False


def test_file_then_env(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("listen: 127.0.0.1:8000\ndata_dir: /srv/jvp\ndownload:\n  max_bytes: 1000\n")
    s = load_settings(env={"JVP_CONFIG": str(cfg), "JVP_DATA_DIR": "/tmp/x", "JVP_DOWNLOAD_TIMEOUT_S": "9"})
    assert s.listen == "127.0.0.1:8000"
    assert s.data_dir == "/tmp/x"
    assert s.download["max_bytes"] == 1000 and s.download["timeout_s"] == 9
    assert s.source["data_dir"] == "JVP_DATA_DIR" and s.source["listen"] == str(cfg)


def test_every_key_has_an_env_name():
    assert env_name(("download", "max_bytes")) == "JVP_DOWNLOAD_MAX_BYTES"
    s = load_settings(config_path=os.devnull, env={"JVP_LISTEN": "127.0.0.1:1", "JVP_LOCAL_URI": "test:///default",
                           "JVP_CONSOLE_TOKEN_TTL_S": "30", "JVP_AUTH": "false"})
    assert s.local_uri == "test:///default" and s.console["token_ttl_s"] == 30 and s.auth is False


@pytest.mark.parametrize("env,key", [
    ({"JVP_WORKERS": "many"}, "workers"),
    ({"JVP_LISTEN": "7777"}, "listen"),
    ({"JVP_DOWNLOAD_MAX_BYTES": "-1"}, "download.max_bytes"),
    ({"JVP_DOMAIN_TYPE": "xen"}, "domain_type"),
    ({"JVP_AUTH": "false"}, "auth"),  # auth off only on loopback
])
def test_invalid_values_name_the_key_and_its_source(env, key):
    with pytest.raises(ConfigError) as exc:
        load_settings(config_path=os.devnull, env=env)
    assert f"key '{key}'" in str(exc.value)
    assert list(env)[0] in str(exc.value)


def test_unknown_key_in_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lisen: 1.2.3.4:5\n")
    with pytest.raises(ConfigError, match="key 'lisen'.*unknown key"):
        load_settings(config_path=str(cfg), env={})


def test_invalid_yaml_and_missing_explicit_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen: [\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_path=str(cfg), env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_path=str(tmp_path / "missing.yaml"), env={})


def test_tls_needs_both_files():
    with pytest.raises(ConfigError, match="tls_cert"):
        load_settings(config_path=os.devnull, env={"JVP_TLS_CERT": "/x.pem"})


def test_test_fixtures_dir_defaults_under_the_data_dir_and_is_absolute():
    from pathlib import Path
    s = load_settings(config_path=os.devnull, env={"JVP_DATA_DIR": "/srv/jvp"})
    assert s.test_fixtures_path == Path("/srv/jvp/test-fixtures")
    s = load_settings(config_path=os.devnull, env={"JVP_TEST_FIXTURES_DIR": "/srv/fixtures"})
    assert s.test_fixtures_path == Path("/srv/fixtures")
    with pytest.raises(ConfigError, match="key 'test_fixtures_dir'"):
        load_settings(config_path=os.devnull, env={"JVP_TEST_FIXTURES_DIR": "relative/dir"})


def test_schema_and_web_dirs_default_to_the_checkout_when_running_from_one():
    from jvp.settings import REPO_ROOT
    s = load_settings(config_path=os.devnull, env={})
    assert s.schema_dir == str(REPO_ROOT / "metadata_schema")
    assert s.web_dir == str(REPO_ROOT / "web" / "out")
    s = load_settings(config_path=os.devnull, env={"JVP_WEB_DIR": "/opt/jvp-ui"})
    assert s.web_dir == "/opt/jvp-ui"

"""Configuring a Prometheus provider: credentials from a Secret, files or the environment;
addresses, TLS and the registry of provider types. Nothing here opens a socket.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kanaria.errors import ConfigError
from kanaria.providers import registry
from kanaria.providers.base import ProviderSettings
from kanaria.providers.prometheus import (
    BasicCredentials,
    BearerToken,
    PrometheusProvider,
    credentials_from_directory,
    credentials_from_env,
    credentials_from_secret,
)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# --- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "authorization"),
    [
        ({"token": "s3cret"}, "Bearer s3cret"),
        ({"token": b"s3cret\n"}, "Bearer s3cret"),
        ({"token": "t", "username": "u", "password": "p"}, "Bearer t"),
        ({"username": "admin", "password": "pa:ss"}, basic("admin", "pa:ss")),
        ({"username": b"admin", "password": b"p\r\n", "other": "x"}, basic("admin", "p")),
        ({"token": "", "username": "u", "password": "p"}, basic("u", "p")),
    ],
    ids=["token", "token-bytes-newline", "token-wins", "basic", "basic-bytes", "empty-token"],
)
def test_secret_data_gives_flagger_credentials(
    data: dict[str, str | bytes], authorization: str
) -> None:
    assert credentials_from_secret(data).authorization() == authorization


@pytest.mark.parametrize(
    ("data", "missing"),
    [({}, "username, password"), ({"username": "u"}, "password"), ({"password": "p"}, "username")],
)
def test_incomplete_secret_names_the_missing_keys(data: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigError, match=f"missing: {missing}"):
        credentials_from_secret(data)


def test_non_utf8_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="`token` is not UTF-8"):
        credentials_from_secret({"token": b"\xff\xfe"})


def test_a_basic_username_cannot_hold_a_colon() -> None:
    with pytest.raises(ConfigError, match="username cannot contain ':'"):
        credentials_from_secret({"username": "a:b", "password": "p"})


def test_credentials_do_not_show_secrets_in_repr() -> None:
    assert "s3cret" not in repr(BearerToken("s3cret"))
    assert "s3cret" not in repr(BasicCredentials("admin", "s3cret"))


def test_mounted_secret_directory(tmp_path: Path) -> None:
    (tmp_path / "username").write_text("admin\n")
    (tmp_path / "password").write_text("pw")
    assert credentials_from_directory(tmp_path) == BasicCredentials("admin", "pw")


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        credentials_from_directory(tmp_path / "nope")


def test_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("abc\n")
    assert BearerToken.from_file(tmp_path / "token") == BearerToken("abc")
    with pytest.raises(ConfigError, match="cannot read credentials file"):
        BearerToken.from_file(tmp_path / "absent")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"KANARIA_PROMETHEUS_TOKEN": "t"}, BearerToken("t")),
        (
            {"KANARIA_PROMETHEUS_USERNAME": "u", "KANARIA_PROMETHEUS_PASSWORD": "p"},
            BasicCredentials("u", "p"),
        ),
        ({"OTHER_TOKEN": "t"}, None),
    ],
    ids=["none", "token", "basic", "other-prefix"],
)
def test_environment_credentials(
    environ: dict[str, str], expected: BearerToken | BasicCredentials | None
) -> None:
    assert credentials_from_env(environ=environ) == expected


def test_half_the_environment_credentials_is_an_error() -> None:
    with pytest.raises(ConfigError, match="missing: password"):
        credentials_from_env(environ={"KANARIA_PROMETHEUS_USERNAME": "u"})


def test_environment_prefix_and_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "from-env")
    assert credentials_from_env("PROM_") == BearerToken("from-env")


# --- provider settings -------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["", "prometheus:9090", "ftp://prom", "http://", "http://[::1"])
def test_an_address_that_is_not_an_http_url_is_refused(address: str) -> None:
    with pytest.raises(ConfigError, match="Prometheus address"):
        PrometheusProvider(address)


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("http://prom:9090", "http://prom:9090/api/v1/query"),
        ("http://prom:9090/", "http://prom:9090/api/v1/query"),
        ("https://example.org/prometheus/", "https://example.org/prometheus/api/v1/query"),
        ("http://prom:9090?x=1", "http://prom:9090/api/v1/query"),
    ],
)
def test_query_url_keeps_a_path_prefix(address: str, url: str) -> None:
    assert str(PrometheusProvider(address)._query_url) == url


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        PrometheusProvider("http://prom", timeout=0)


def test_ca_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load the CA file"):
        PrometheusProvider("https://prom", ca_file=tmp_path / "ca.pem")


def test_ca_file_and_skipping_verification_contradict() -> None:
    with pytest.raises(ConfigError, match="contradict"):
        PrometheusProvider("https://prom", verify_tls=False, ca_file="/etc/ssl/certs/x.pem")


def test_credentials_replace_an_authorization_header() -> None:
    provider = PrometheusProvider(
        "http://prom",
        credentials=BearerToken("t"),
        headers={"authorization": "Basic old", "X-Scope-OrgID": ["a", "b"]},
    )
    assert provider._headers == [
        ("X-Scope-OrgID", "a"),
        ("X-Scope-OrgID", "b"),
        ("Authorization", "Bearer t"),
    ]


# --- registry ----------------------------------------------------------------------------------


def test_registry_builds_a_prometheus_provider_from_template_settings() -> None:
    settings = ProviderSettings(
        address="http://prom:9090",
        headers={"X-A": "1"},
        secret={"token": "t"},
        timeout=2.0,
    )
    provider = registry.provider_for("prometheus", settings)
    assert isinstance(provider, PrometheusProvider)
    assert provider.timeout == 2.0
    assert ("Authorization", "Bearer t") in provider._headers


def test_a_secret_ref_without_credentials_is_an_error() -> None:
    with pytest.raises(ConfigError, match="need a `token`"):
        registry.provider_for("prometheus", ProviderSettings("http://prom", secret={}))


def test_an_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown metrics provider type 'promethus'; known: prometheus"
    ):
        registry.provider_for("promethus", ProviderSettings("http://prom"))

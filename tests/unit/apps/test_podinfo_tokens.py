"""Tokens from POST /token: valid for a minute, and refused when forged or expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kanaria.apps.podinfo.tokens import TokenError, TokenIssuer

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_an_issued_token_checks_out_with_its_name() -> None:
    issuer = TokenIssuer(b"secret")
    token = issuer.issue("alice", NOW)
    assert token.expires_at == NOW + timedelta(minutes=1)
    assert issuer.check(token.text, NOW + timedelta(seconds=30)).name == "alice"


def test_an_expired_token_is_refused() -> None:
    issuer = TokenIssuer(b"secret")
    token = issuer.issue("alice", NOW)
    with pytest.raises(TokenError, match="expired"):
        issuer.check(token.text, NOW + timedelta(minutes=2))


def test_a_token_from_another_secret_is_refused() -> None:
    token = TokenIssuer(b"other").issue("mallory", NOW)
    with pytest.raises(TokenError, match="signature"):
        TokenIssuer(b"secret").check(token.text, NOW)


@pytest.mark.parametrize("text", ["", "abc", "a.b.c", "a.e30.c"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(TokenError):
        TokenIssuer(b"secret").check(text, NOW)

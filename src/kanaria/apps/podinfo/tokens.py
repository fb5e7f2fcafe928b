"""Short-lived signed tokens for `POST /token` and `GET /token/validate`.

The reference scenario's acceptance test posts to `/token` and greps the answer for `token`; a
real signed token (HS256, JWT layout) keeps the endpoint honest without a JWT library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TOKEN_LIFETIME = timedelta(minutes=1)


@dataclass(frozen=True)
class Token:
    text: str
    name: str
    expires_at: datetime


class TokenError(ValueError):
    """A token that is malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and checks tokens signed with a per-process secret."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or os.urandom(32)

    def issue(self, name: str, now: datetime) -> Token:
        expires_at = now + TOKEN_LIFETIME
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"name": name, "exp": int(expires_at.timestamp())}
        body = _b64(json.dumps(claims).encode())
        signature = self._sign(f"{header}.{body}")
        return Token(text=f"{header}.{body}.{signature}", name=name, expires_at=expires_at)

    def check(self, text: str, now: datetime) -> Token:
        try:
            header, body, signature = text.split(".")
            claims = json.loads(_unb64(body))
            name, expiry = str(claims["name"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError("malformed token") from exc
        if not hmac.compare_digest(signature, self._sign(f"{header}.{body}")):
            raise TokenError("invalid signature")
        expires_at = datetime.fromtimestamp(expiry, UTC)
        if expires_at <= now:
            raise TokenError("token expired")
        return Token(text=text, name=name, expires_at=expires_at)

    def _sign(self, signing_input: str) -> str:
        digest = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return _b64(digest)

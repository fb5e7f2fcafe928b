"""Session affinity as Flagger's Istio and Gateway API routers do it (reference §0.5).

A release hands its canary users a cookie with a random value, `<cookieName>=<10 letters>`, and
a rule sends every request that carries that very value (name *and* value) back to the canary.
The value lives in the Canary's status: it is drawn when the canary first gets traffic and
retired when the canary's weight falls back to 0 (promotion, rollback, restart); the retired
value becomes `previousSessionAffinityCookie`, whose holders are sent the same cookie with
`Max-Age=-1` so their browsers drop it. The next release draws a new value, so holders of an
old cookie are weighted like everyone else instead of all landing on the new canary.

Flagger's routers change these status fields on the Canary they are given while setting routes;
so do kanaria's (`advance_cookies`), and the engine saves them with the step.
"""

from __future__ import annotations

import secrets
import string

from kanaria.errors import ConfigError
from kanaria.spec.canary import Canary, CanaryStatus, SessionAffinity

COOKIE_HEADER = "Cookie"
SET_COOKIE_HEADER = "Set-Cookie"
COOKIE_FIELDS = (
    "session_affinity_cookie",
    "previous_session_affinity_cookie",
    "primary_session_affinity_cookie",
)
_VALUE_LETTERS = string.ascii_letters
_VALUE_LENGTH = 10


def new_cookie(name: str) -> str:
    """`<name>=<10 random letters>`: a value nobody holds yet."""
    value = "".join(secrets.choice(_VALUE_LETTERS) for _ in range(_VALUE_LENGTH))
    return f"{name}={value}"


def advance_cookies(canary: Canary, canary_weight: int, primary: bool = True) -> None:
    """Draw this release's cookies when the canary gets traffic; retire the canary's when its
    weight is 0. `primary`: whether the router uses a primary cookie at all."""
    affinity = canary.spec.analysis.session_affinity
    if affinity is None:
        return
    status = canary.status
    if canary_weight != 0:
        if not status.session_affinity_cookie:
            status.session_affinity_cookie = new_cookie(affinity.cookie_name)
        if primary and affinity.primary_cookie_name and not status.primary_session_affinity_cookie:
            status.primary_session_affinity_cookie = new_cookie(affinity.primary_cookie_name)
        return
    if status.session_affinity_cookie:
        status.previous_session_affinity_cookie = status.session_affinity_cookie
    status.session_affinity_cookie = None


def cookie_fields(status: CanaryStatus) -> dict[str, str | None]:
    """The status fields `advance_cookies` may change, to save them."""
    return {name: getattr(status, name) for name in COOKIE_FIELDS}


def set_cookie(affinity: SessionAffinity, cookie: str, max_age: int) -> str:
    """The `Set-Cookie` value, attributes in Flagger's order."""
    parts = [cookie, f"Max-Age={max_age}"]
    if affinity.domain:
        parts.append(f"Domain={affinity.domain}")
    if affinity.http_only:
        parts.append("HttpOnly")
    if affinity.partitioned:
        parts.append("Partitioned")
    if affinity.path:
        parts.append(f"Path={affinity.path}")
    if affinity.same_site:
        parts.append(f"SameSite={affinity.same_site}")
    if affinity.secure:
        parts.append("Secure")
    return "; ".join(parts)


def expired(cookie: str) -> str:
    """The `Set-Cookie` value that makes a browser drop `cookie` at once."""
    return f"{cookie}; Max-Age=-1"


def cookie_regex(cookie: str) -> str:
    """Matches a `Cookie` header that holds this cookie's name and value."""
    name, _, value = cookie.partition("=")
    return f".*{name}.*{value}.*"


def primary_cookie_max_age(canary: Canary) -> int:
    """The primary cookie lives one analysis interval (as written, without Flagger's clamp)."""
    interval = canary.spec.analysis.interval
    if interval is None:
        raise ConfigError(
            f"canary {canary.key}: spec.analysis.interval is required with "
            "sessionAffinity.primaryCookieName (the primary cookie lives one interval)"
        )
    return int(interval)

"""Credentials in URLs, hidden before any text leaves kanaria: logs, events, alerts, describe.

A webhook or alert URL often carries its own secret — `https://user:pass@host/`, a `?token=`
query parameter, a chat service's secret path (`hooks.slack.com/services/T…/B…/…`) — and kanaria
prints URLs in log lines, in the reasons of failed webhooks (which become Events and status),
in alerts and in `describe`. `redact` is the one function all of them go through: it rewrites
every URL it finds in a text with those parts replaced by `xxxxx`, as Go's `url.Redacted` does
for passwords, and leaves the rest of the text alone. `RedactingFilter` applies it to every log
record a handler emits.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import SplitResult, unquote_plus, urlsplit

MASK = "xxxxx"

# A URL as it appears inside prose: a scheme, `://`, then anything up to a space or a quote.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")
# Query parameters whose value is a credential: any name containing one of these words.
_SECRET_PARAMETER = re.compile(
    r"token|secret|passw|pwd|key|sig|auth|credential|session|jwt|bearer", re.IGNORECASE
)
# Chat services whose webhook URL is itself the secret, after the part that names the service.
_SECRET_PATHS = (
    ("hooks.slack.com", "/services/"),
    ("discord.com", "/api/webhooks/"),
    ("discordapp.com", "/api/webhooks/"),
    ("webhook.office.com", "/webhookb2/"),
    ("outlook.office.com", "/webhook/"),
    ("chat.googleapis.com", "/v1/spaces/"),
)


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `xxxxx`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


def redact_url(url: str) -> str:
    """One URL with its password (or bare user token), secret query values and chat-service
    secret path replaced by `xxxxx`; a text that does not parse as a URL is returned as it is."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return url
    netloc, path, query = _netloc(parts), _path(parts), _query(parts.query)
    if (netloc, path, query) == (parts.netloc, parts.path, parts.query):
        return url  # untouched, byte for byte (geturl() would normalise)
    return SplitResult(parts.scheme, netloc, path, query, parts.fragment).geturl()


def _netloc(parts: SplitResult) -> str:
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return parts.netloc
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"


def _path(parts: SplitResult) -> str:
    host = (parts.hostname or "").lower()
    for service_host, prefix in _SECRET_PATHS:
        if (host == service_host or host.endswith(f".{service_host}")) and parts.path.startswith(
            prefix
        ):
            return f"{prefix}{MASK}" if len(parts.path) > len(prefix) else parts.path
    return parts.path


def _query(query: str) -> str:
    # Parameter by parameter on the raw text, so everything not secret stays byte for byte.
    return "&".join(_parameter(item) for item in query.split("&")) if query else query


def _parameter(item: str) -> str:
    name, equals, _value = item.partition("=")
    return f"{name}={MASK}" if equals and _SECRET_PARAMETER.search(unquote_plus(name)) else item


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) through `redact` before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def redact_logs(logger: logging.Logger | None = None) -> None:
    """Put a `RedactingFilter` on every handler of `logger` (default: the root logger)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(item, RedactingFilter) for item in handler.filters):
            handler.addFilter(RedactingFilter())

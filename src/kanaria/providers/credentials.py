"""Reading a backend's credentials from the data of the Secret its MetricTemplate names.

Flagger passes the whole Secret to each provider, which picks its own keys (`datadog_api_key`,
`newrelic_query_key`, `dynatrace_token`, …). Every backend here reads them through these two
functions, so a missing key is always a ConfigError that names the Secret, the key wanted and
the keys present — and never a value.
"""

from __future__ import annotations

from collections.abc import Mapping

from kanaria import errors

SecretData = Mapping[str, str | bytes]


def credential_text(key: str, value: str | bytes) -> str:
    """A Secret value as text, without the trailing newline `echo` or an editor leaves (an HTTP
    header cannot carry it, and the request would fail much later, confusingly)."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError as exc:
            raise errors.ConfigError(f"credential `{key}` is not UTF-8 text") from exc
    return value.rstrip("\r\n")


def required_keys(
    type_name: str, secret: SecretData | None, keys: tuple[str, ...], secret_name: str = ""
) -> dict[str, str]:
    """The values of `keys`, all non-empty, or a ConfigError saying which are missing."""
    if secret is None:
        wanted = " and ".join(f"`{key}`" for key in keys)
        raise errors.ConfigError(
            f"{type_name} needs provider.secretRef naming a Secret with {wanted}"
        )
    values = {key: credential_text(key, value) for key, value in secret.items()}
    missing = [key for key in keys if not values.get(key)]
    if missing:
        where = f"Secret {secret_name}" if secret_name else "the provider's Secret"
        present = ", ".join(sorted(values)) or "none"
        raise errors.ConfigError(
            f"{type_name} credentials in {where} do not contain "
            + ", ".join(f"`{key}`" for key in missing)
            + f" (keys present: {present})"
        )
    return {key: values[key] for key in keys}


def optional_key(secret: SecretData | None, key: str) -> str:
    """The value of `key`, or "" when there is no Secret or no such key."""
    if secret is None or key not in secret:
        return ""
    return credential_text(key, secret[key])


def where(secret_name: str, *keys: str) -> str:
    """Where to look when a backend refuses the credentials, for messages."""
    named = ", ".join(f"`{key}`" for key in keys)
    return f"{named} in Secret {secret_name}" if secret_name else f"{named} in the Secret"

"""One error tree for the whole project, so callers can tell bad input from passing trouble.

`ConfigError` is permanent and the user's to fix; `TemporaryError` means "try again next tick";
`PermanentError` means the operation cannot succeed as asked. Foreign exceptions are converted
into these once, at the boundary where they are raised, with `raise ... from exc`.
"""


class KanariaError(Exception):
    """Root of every error kanaria raises on purpose."""


class ConfigError(KanariaError):
    """Bad input: a wrong field, a missing reference, an unknown name. Permanent."""


class TemporaryError(KanariaError):
    """Something outside kanaria is not ready or not reachable yet; retry on the next tick."""


class PermanentError(KanariaError):
    """The operation cannot succeed without a change to the world (e.g. a progress deadline)."""


class NotFoundError(TemporaryError):
    """An object that should exist does not (yet)."""


class ConflictError(TemporaryError):
    """An object changed under us (a stale resourceVersion); re-read and retry."""

"""Manual gates: a person opens or closes them, webhooks ask whether they are open.

`confirm-rollout`, `confirm-promotion` and friends point at `/gate/check`, and a `rollback` hook
at `/rollback/check`; an operator flips them with `/gate/open` and `/gate/close`. Gates live in
memory and start closed, as in Flagger's load tester, so a restart holds every canary again.
"""

from __future__ import annotations


def gate_key(canary: str) -> str:
    """The key of a canary's promotion gate; `canary` is `<name>.<namespace>`."""
    return canary


def rollback_key(canary: str) -> str:
    """The key of a canary's rollback gate, apart from its promotion gate."""
    return f"rollback.{canary}"


class Gates:
    """A set of open gates; every other gate is closed."""

    def __init__(self) -> None:
        self._open: set[str] = set()

    def open(self, key: str) -> None:
        self._open.add(key)

    def close(self, key: str) -> None:
        self._open.discard(key)

    def is_open(self, key: str) -> bool:
        return key in self._open

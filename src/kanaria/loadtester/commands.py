"""What a webhook's `cmd` may run: argv pipelines of listed programs, a shell only when asked.

Flagger's load tester hands every command to `sh -c` (or `bash -c`), so anyone who can reach it
runs anything as its user: `;`, `$(...)`, backticks and `&&` all work, and `returnCmdOutput`
sends the output back. This load tester runs no shell by default. A command is split into
words as a POSIX shell would split it (`shlex`: quotes and backslashes), and `|` between words
joins programs into a pipeline that the load tester connects itself, which is what Flagger's own
examples need (`curl -sd 'test' http://podinfo-canary:9898/token | grep token`). Every program
must be on the allow-list (`hey`, `curl`, `ghz` unless the operator extends it). Anything only a
shell understands — `;`, `&`, `&&`, `||`, redirections, `$` expansions, backticks, subshells —
is refused with the character that needs a shell, before anything runs.

`--allow-shell` restores Flagger's behaviour: `cmd` tasks run under `sh -c`, `bash` tasks under
`bash -c`, and the allow-list no longer binds, since a shell can start any program.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from kanaria.errors import ConfigError
from kanaria.loadtester.timescale import scale_argv, scale_command

DEFAULT_PROGRAMS = ("hey", "curl", "ghz")
SHELLS = {"cmd": "sh", "bash": "bash"}

# Characters a POSIX shell acts on when they are not quoted; `|` alone is a pipe, which the
# load tester runs itself.
_SHELL_OPERATORS = frozenset(";&|<>()`$\n")
# Inside double quotes a shell still expands these.
_DOUBLE_QUOTED_EXPANSIONS = frozenset("`$")

Argv = tuple[str, ...]


class CommandRefused(ConfigError):
    """A command this load tester will not run as configured; the message says why."""


@dataclass(frozen=True)
class Invocation:
    """A command as it will run: the argv of each stage of a pipeline (one stage for a shell)."""

    stages: tuple[Argv, ...]

    def __str__(self) -> str:
        return " | ".join(shlex.join(stage) for stage in self.stages)


@dataclass(frozen=True)
class CommandPolicy:
    """Which programs commands may start, and whether a shell may run them."""

    programs: frozenset[str] = frozenset(DEFAULT_PROGRAMS)
    allow_shell: bool = False

    @classmethod
    def of(cls, extra_programs: Iterable[str] = (), allow_shell: bool = False) -> CommandPolicy:
        return cls(frozenset((*DEFAULT_PROGRAMS, *extra_programs)), allow_shell)

    def plan(self, command: str, task_type: str, time_scale: float = 1.0) -> Invocation:
        """How `command` runs for a task of `task_type` (`cmd` or `bash`), load tests shortened
        by `time_scale`; raises CommandRefused naming what is not allowed."""
        if self.allow_shell:
            return Invocation(((SHELLS[task_type], "-c", scale_command(command, time_scale)),))
        stages = split_pipeline(command)
        for stage in stages:
            self._check_program(stage[0])
        return Invocation(tuple(tuple(scale_argv(stage, time_scale)) for stage in stages))

    def _check_program(self, program: str) -> None:
        if program not in self.programs:
            allowed = ", ".join(sorted(self.programs))
            raise CommandRefused(
                f"program {program!r} is not allowed (allowed: {allowed}; the load tester's "
                "--allow-program flag adds one)"
            )


def split_pipeline(command: str) -> list[list[str]]:
    """The argv of each stage of `command`, split at unquoted `|`.

    Raises CommandRefused for shell syntax (naming it) and for unbalanced quotes or empty stages.
    """
    pieces = _pipeline_pieces(command)
    stages = []
    for piece in pieces:
        try:
            words = shlex.split(piece, comments=False, posix=True)
        except ValueError as exc:  # shlex's "No closing quotation" and friends
            raise CommandRefused(f"cannot split the command into words: {exc}") from exc
        if not words:
            raise CommandRefused("a pipeline stage is empty (`|` needs a program on each side)")
        stages.append(words)
    return stages


def _pipeline_pieces(command: str) -> list[str]:
    """`command` cut at its unquoted `|`s, refusing any other shell operator."""
    pieces, start, quote, escaped = [], 0, "", False
    for index, char in enumerate(command):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = _after_quoted(char, quote)
        elif char in "'\"":
            quote = char
        elif char == "|" and command[index + 1 : index + 2] != "|":
            pieces.append(command[start:index])
            start = index + 1
        elif char in _SHELL_OPERATORS or _starts_comment(command, index):
            raise _needs_shell(command, index)
    pieces.append(command[start:])
    return pieces


def _after_quoted(char: str, quote: str) -> str:
    if char == quote:
        return ""
    if quote == '"' and char in _DOUBLE_QUOTED_EXPANSIONS:
        raise CommandRefused(
            f"{char!r} inside double quotes is a shell expansion; it needs the load tester's "
            "--allow-shell flag (or single quotes, to mean the character itself)"
        )
    return quote


def _starts_comment(command: str, index: int) -> bool:
    return command[index] == "#" and (index == 0 or command[index - 1].isspace())


def _needs_shell(command: str, index: int) -> CommandRefused:
    pair = command[index : index + 2]
    operator = pair if pair in ("&&", "||", "$(", ">>") else command[index]
    shown = "a newline" if operator == "\n" else repr(operator)
    return CommandRefused(
        f"{shown} at position {index + 1} is shell syntax; this load tester runs commands "
        "without a shell unless started with --allow-shell"
    )

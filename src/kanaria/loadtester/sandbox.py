"""The argv that runs a webhook's command, optionally with a hosts file of its own.

On the local platform every Service has a loopback virtual IP, but commands written for a cluster
name Services by DNS (`http://podinfo-canary.test:9898/`). With `--hosts-file`, each command runs
in a private mount namespace where the platform's hosts file is bound over `/etc/hosts`, so those
names resolve without touching the machine's own `/etc/hosts`. Root gets a plain mount namespace;
anyone else a user namespace mapped to root, which may bind mounts inside it.

The file is bound afresh for every command, so a platform that rewrites it (atomically, by
rename) is seen by the next command.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from kanaria.errors import ConfigError, PermanentError

# A fixed script: the hosts path and the command's argv arrive as positional parameters, never
# as shell text, so nothing in a command is read by this shell.
_BIND_AND_RUN = 'mount --bind "$1" /etc/hosts && shift && exec "$@"'
PROBE_TIMEOUT_SECONDS = 10.0


class CommandLine:
    """Turns a program's argv into the argv that runs it, in the hosts namespace if there is one."""

    def __init__(self, hosts_file: Path | None = None, unshare: str = "unshare") -> None:
        self.hosts_file = hosts_file
        self._unshare = unshare

    def wrap(self, argv: Sequence[str]) -> list[str]:
        if self.hosts_file is None:
            return list(argv)
        return [*self._namespace(), "sh", "-c", _BIND_AND_RUN, "kanaria-hosts",
                str(self.hosts_file), *argv]  # fmt: skip

    def _namespace(self) -> list[str]:
        user = [] if os.geteuid() == 0 else ["--map-root-user"]
        return [self._unshare, "--mount", *user, "--propagation", "private"]


def checked_command_line(hosts_file: Path | None) -> CommandLine:
    """A CommandLine proven to work here, so a broken set-up fails at start-up, not per command.

    Raises ConfigError for a missing hosts file, PermanentError when namespaces do not work.
    """
    if hosts_file is None:
        return CommandLine()
    if not hosts_file.is_file():
        raise ConfigError(f"--hosts-file {hosts_file}: no such file")
    unshare = shutil.which("unshare")
    if unshare is None:
        raise PermanentError("--hosts-file needs the unshare command (util-linux); none on PATH")
    command_line = CommandLine(hosts_file.resolve(), unshare)
    _probe(command_line)
    return command_line


def _probe(command_line: CommandLine) -> None:
    # Inside the namespace /etc/hosts must read exactly like the file it was bound from.
    hosts = shlex.quote(str(command_line.hosts_file))
    argv = command_line.wrap(["sh", "-c", f'[ "$(cat /etc/hosts)" = "$(cat {hosts})" ]'])
    try:
        probe = subprocess.run(
            argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PermanentError(f"cannot bind --hosts-file over /etc/hosts: {exc}") from exc
    if probe.returncode != 0:
        reason = probe.stderr.strip() or "/etc/hosts inside the namespace differs from the file"
        raise PermanentError(f"cannot bind --hosts-file over /etc/hosts: {reason}")

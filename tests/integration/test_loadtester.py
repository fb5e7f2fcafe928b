"""The real load tester program on 127.0.0.1: commands, gates, hosts file, time scale, stop, and
what it refuses in its default configuration."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from kanaria.loadtester.processes import SubprocessSpawner
from tests.support.started import wait_until_answering
from tests.support.tools import required_tool

pytestmark = pytest.mark.integration

START_TIMEOUT = 10.0


@dataclass
class LoadTesterProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> float:
        """SIGTERM, wait, and return how long the program took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - started


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _random_loopback() -> str:
    return f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


Starter = Callable[..., Awaitable[LoadTesterProcess]]


def _spawn(
    argv: list[str], log: Path, environment: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(argv, stderr=stderr, stdin=subprocess.DEVNULL, env=environment)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        yield client


@pytest.fixture
async def start_loadtester(
    tmp_path: Path, session: aiohttp.ClientSession
) -> AsyncIterator[Starter]:
    started: list[LoadTesterProcess] = []

    async def start(*flags: str, environment: dict[str, str] | None = None) -> LoadTesterProcess:
        port = _free_port("127.0.0.1")
        log = tmp_path / f"loadtester-{port}.log"
        argv = [sys.executable, "-m", "kanaria.loadtester", f"--port={port}", *flags]
        process = _spawn(argv, log, environment)
        program = LoadTesterProcess(process, f"http://127.0.0.1:{port}", log)
        started.append(program)
        await wait_until_answering(
            program.process, f"{program.url}/healthz", program.log, session, START_TIMEOUT
        )
        return program

    yield start
    for program in started:
        if program.process.poll() is None:
            program.stop()


async def _post(session: aiohttp.ClientSession, url: str, document: object) -> tuple[int, str]:
    async with session.post(url, json=document) as response:
        return response.status, await response.text()


SHELL = "--allow-shell"


def _hook(cmd: str, task_type: str | None = None, **metadata: str) -> dict[str, object]:
    fields = {"cmd": cmd, **metadata}
    if task_type:
        fields["type"] = task_type
    return {"name": "podinfo", "namespace": "test", "phase": "Progressing", "metadata": fields}


@pytest.fixture
async def http_server() -> AsyncIterator[Callable[[str], Awaitable[tuple[str, list[int]]]]]:
    """Serves `hello from <host>` on a loopback address; returns its URL and a hit counter."""
    runners: list[web.AppRunner] = []

    async def serve(host: str) -> tuple[str, list[int]]:
        hits = [0]

        async def hello(_request: web.Request) -> web.Response:
            hits[0] += 1
            return web.Response(text=f"hello from {host}\n")

        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        port = _free_port(host)
        await web.TCPSite(runner, host, port).start()
        return f"{host}:{port}", hits

    yield serve
    for runner in runners:
        await runner.cleanup()


async def test_bash_command_success_returns_its_output(
    start_loadtester: Starter, session: aiohttp.ClientSession
) -> None:
    tester = await start_loadtester(SHELL)
    hook = _hook("echo token-$((40 + 2))", "bash", returnCmdOutput="true")
    assert await _post(session, f"{tester.url}/", hook) == (200, "token-42\n")


async def test_bash_command_failure_is_500_with_output(
    start_loadtester: Starter, session: aiohttp.ClientSession
) -> None:
    tester = await start_loadtester(SHELL)
    status, body = await _post(
        session, f"{tester.url}/", _hook("echo no token >&2; exit 4", "bash")
    )
    assert status == 500
    assert "exit status 4" in body
    assert "no token" in body


async def test_background_command_runs_once_while_running(
    start_loadtester: Starter, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    tester = await start_loadtester(SHELL)
    runs = tmp_path / "runs"
    hook = _hook(f"echo run >> {runs}; sleep 1")
    assert await _post(session, f"{tester.url}/", hook) == (202, "started\n")
    assert await _post(session, f"{tester.url}/", hook) == (202, "already running\n")

    async def finished() -> bool:
        async with session.get(f"{tester.url}/metrics") as response:
            text = await response.text()
        return 'kanaria_loadtester_running_commands{type="cmd"} 0.0' in text

    await _until(finished, within=5)
    assert runs.read_text() == "run\n"
    assert await _post(session, f"{tester.url}/", hook) == (202, "started\n")


async def _until(condition: Callable[[], bool | Awaitable[bool]], within: float) -> None:
    deadline = time.monotonic() + within
    while not await _holds(condition):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


async def test_gates(start_loadtester: Starter, session: aiohttp.ClientSession) -> None:
    tester = await start_loadtester()
    canary = {"name": "podinfo", "namespace": "test"}

    async def status(path: str) -> int:
        return (await _post(session, f"{tester.url}{path}", canary))[0]

    assert await status("/gate/approve") == 200
    assert await status("/gate/halt") == 403
    assert await status("/gate/check") == 403
    assert await status("/gate/open") == 202
    assert await status("/gate/check") == 200
    assert await status("/rollback/check") == 403
    assert await status("/gate/close") == 202
    assert await status("/gate/check") == 403


async def test_refusals(start_loadtester: Starter, session: aiohttp.ClientSession) -> None:
    tester = await start_loadtester("--namespace-regexp=^test$")
    headers = {"Content-Type": "application/json"}
    async with session.post(f"{tester.url}/", data=b"{oops", headers=headers) as response:
        assert response.status == 400
        assert "not valid JSON" in await response.text()
    missing = {"name": "podinfo", "namespace": "test"}
    assert (await _post(session, f"{tester.url}/", missing))[0] == 400
    unknown = _hook("x", "concord")
    status, body = await _post(session, f"{tester.url}/", unknown)
    assert (status, "'concord' is not supported" in body) == (400, True)
    elsewhere = {**_hook("true"), "namespace": "prod"}
    assert (await _post(session, f"{tester.url}/", elsewhere))[0] == 403


async def test_names_from_the_hosts_file_resolve_in_commands(
    start_loadtester: Starter,
    session: aiohttp.ClientSession,
    http_server: Callable[[str], Awaitable[tuple[str, list[int]]]],
    tmp_path: Path,
) -> None:
    virtual_ip = _random_loopback()
    address, _hits = await http_server(virtual_ip)
    port = address.rsplit(":", 1)[1]
    assert "myservice.test" not in _system_hosts()
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{virtual_ip} myservice.test myservice\n")
    tester = await start_loadtester(f"--hosts-file={hosts}")
    hook = _hook(f"curl -sf http://myservice.test:{port}/", "bash", returnCmdOutput="true")
    assert await _post(session, f"{tester.url}/", hook) == (200, f"hello from {virtual_ip}\n")


async def test_hosts_file_changes_reach_the_next_command(
    start_loadtester: Starter, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.1.0.1 podinfo-canary.test\n")
    tester = await start_loadtester(f"--hosts-file={hosts}", "--allow-program=getent")
    hook = _hook("getent hosts podinfo-canary.test", "bash", returnCmdOutput="true")
    assert (await _post(session, f"{tester.url}/", hook))[1].startswith("127.1.0.1")
    replacement = tmp_path / "hosts.new"
    replacement.write_text("127.0.0.1 localhost\n127.1.0.2 podinfo-canary.test\n")
    replacement.replace(hosts)
    assert (await _post(session, f"{tester.url}/", hook))[1].startswith("127.1.0.2")


async def test_hey_follows_the_time_scale(
    start_loadtester: Starter,
    session: aiohttp.ClientSession,
    http_server: Callable[[str], Awaitable[tuple[str, list[int]]]],
) -> None:
    required_tool("hey", "Debian's hey: scripts/install.sh")
    address, hits = await http_server("127.0.0.1")
    tester = await start_loadtester("--time-scale=3")
    hook = _hook(f"hey -z 3s -c 2 -q 20 http://{address}/", "bash", returnCmdOutput="true")
    started = time.monotonic()
    status, output = await _post(session, f"{tester.url}/", hook)
    elapsed = time.monotonic() - started
    assert status == 200, output
    assert "Summary:" in output
    assert 0.9 < elapsed < 2.5
    assert hits[0] > 0


async def test_timeout_kills_the_whole_process_group(
    start_loadtester: Starter, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    tester = await start_loadtester("--timeout=1s", SHELL)
    pid_file = tmp_path / "child.pid"
    hook = _hook(f"sleep 60 & echo $! > {pid_file}; wait", "bash")
    started = time.monotonic()
    status, body = await _post(session, f"{tester.url}/", hook)
    assert (status, "timed out" in body) == (500, True)
    assert time.monotonic() - started < 3
    await _until(lambda: not _alive(int(pid_file.read_text())), within=2)


def _system_hosts() -> str:
    with open("/etc/hosts") as hosts:
        return hosts.read()


async def _holds(condition: Callable[[], bool | Awaitable[bool]]) -> bool:
    answer = condition()
    return await answer if not isinstance(answer, bool) else answer


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def test_sigterm_kills_background_commands_and_exits_within_2s(
    start_loadtester: Starter, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    tester = await start_loadtester(SHELL)
    pid_file = tmp_path / "child.pid"
    await _post(session, f"{tester.url}/", _hook(f"sleep 60 & echo $! > {pid_file}; wait"))
    await _until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", within=5)
    assert tester.stop() < 2.0
    assert tester.process.returncode == 0
    await _until(lambda: not _alive(int(pid_file.read_text())), within=2)


async def test_metrics_count_commands_by_type_and_outcome(
    start_loadtester: Starter, session: aiohttp.ClientSession
) -> None:
    tester = await start_loadtester("--allow-program=true", "--allow-program=false")
    await _post(session, f"{tester.url}/", _hook("true", "bash"))
    await _post(session, f"{tester.url}/", _hook("false", "bash"))
    async with session.get(f"{tester.url}/metrics") as response:
        text = await response.text()
    assert 'kanaria_loadtester_commands_total{outcome="success",type="bash"} 1.0' in text
    assert 'kanaria_loadtester_commands_total{outcome="failure",type="bash"} 1.0' in text
    assert "process_resident_memory_bytes" in text


def test_without_unshare_a_hosts_file_fails_at_start_up(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    argv = [sys.executable, "-m", "kanaria.loadtester", "--port=0", f"--hosts-file={hosts}"]
    environment = {**os.environ, "PATH": str(tmp_path)}
    finished = subprocess.run(
        argv, env=environment, capture_output=True, text=True, timeout=30, check=False
    )
    assert finished.returncode == 1
    assert "needs the unshare command" in finished.stderr


@pytest.fixture
def spawner() -> SubprocessSpawner:
    return SubprocessSpawner(max_output=1000, linger=0.2)


async def test_spawner_caps_output(spawner: SubprocessSpawner) -> None:
    result = await spawner.run([["head", "-c", "5000", "/dev/zero"]], time_limit=10)
    assert result.succeeded
    assert len(result.output) == 1000


async def test_spawner_does_not_wait_for_leftover_children(spawner: SubprocessSpawner) -> None:
    started = time.monotonic()
    result = await spawner.run([["sh", "-c", "sleep 30 & echo done"]], time_limit=10)
    assert (result.exit_code, result.output) == (0, b"done\n")
    assert time.monotonic() - started < 2


# ---- the default configuration refuses what an attacker sends ------------------------------


async def test_default_config_refuses_injection_cross_origin_posts_and_unlisted_programs(
    start_loadtester: Starter, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    tester = await start_loadtester()
    marker = tmp_path / "pwned"
    injections = [
        f"curl http://127.0.0.1:9/; touch {marker}",
        f"curl http://127.0.0.1:9/$(touch {marker})",
        f"curl `touch {marker}`",
        f"curl http://127.0.0.1:9/ || touch {marker}",
    ]
    for command in injections:
        status, body = await _post(session, f"{tester.url}/", _hook(command, "bash"))
        assert (status, "shell syntax" in body or "shell expansion" in body) == (403, True), body
    status, body = await _post(session, f"{tester.url}/", _hook(f"touch {marker}", "bash"))
    assert status == 403
    assert "program 'touch' is not allowed (allowed: curl, ghz, hey;" in body
    # What a web page can send without asking first: a "simple" text/plain POST.
    page = _hook(f"touch {marker}", "bash", returnCmdOutput="true")
    headers = {"Content-Type": "text/plain", "Origin": "http://attacker.example"}
    async with session.post(f"{tester.url}/", data=json.dumps(page), headers=headers) as response:
        assert response.status == 415
    gate = json.dumps({"name": "podinfo", "namespace": "test"})
    async with session.post(f"{tester.url}/gate/open", data=gate, headers=headers) as response:
        assert response.status == 415
    assert (await _post(session, f"{tester.url}/gate/check", json.loads(gate)))[0] == 403
    assert not marker.exists()


async def test_the_seeds_acceptance_pipe_runs_without_a_shell(
    start_loadtester: Starter, session: aiohttp.ClientSession
) -> None:
    tester = await start_loadtester("--allow-program=grep")
    command = f"curl -s {tester.url}/healthz | grep OK"
    assert await _post(
        session, f"{tester.url}/", _hook(command, "bash", returnCmdOutput="true")
    ) == (
        200,
        "OK\n",
    )
    missing = f"curl -s {tester.url}/healthz | grep token"
    status, body = await _post(session, f"{tester.url}/", _hook(missing, "bash"))
    assert (status, "exit status 1" in body) == (500, True)


async def test_a_token_guards_every_call_and_never_reaches_commands(
    start_loadtester: Starter, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    tester = await start_loadtester(f"--token-file={secret}", SHELL)
    hook = _hook("env", "bash", returnCmdOutput="true")
    assert (await _post(session, f"{tester.url}/", hook))[0] == 401
    # A webhook URL can carry it (Flagger's webhooks have no header field).
    with_token = tester.url.replace("http://", "http://hooks:s3cret-token@")
    status, environment = await _post(session, f"{with_token}/", hook)
    assert status == 200
    assert "PATH=" in environment
    assert "s3cret-token" not in environment


async def test_commands_never_see_the_token_or_state_dir_variables(
    start_loadtester: Starter, session: aiohttp.ClientSession
) -> None:
    environment = {
        **os.environ,
        "KANARIA_LOADTESTER_TOKEN": "from-env-token",
        "KANARIA_STATE_DIR": "/home/someone/.local/state/kanaria",
    }
    tester = await start_loadtester(SHELL, environment=environment)
    authorized = tester.url.replace("http://", "http://x:from-env-token@")
    status, output = await _post(
        session, f"{authorized}/", _hook("env", "bash", returnCmdOutput="true")
    )
    assert status == 200
    assert "PATH=" in output
    assert "from-env-token" not in output
    assert "KANARIA_STATE_DIR" not in output


async def test_a_pipeline_reports_the_last_stage_and_every_stages_errors(
    spawner: SubprocessSpawner,
) -> None:
    result = await spawner.run(
        [["sh", "-c", "echo to-grep; echo first-stage-error >&2"], ["grep", "grep"]], time_limit=10
    )
    assert result.exit_code == 0
    assert b"to-grep\n" in result.output
    assert b"first-stage-error\n" in result.output
    failed = await spawner.run([["echo", "x"], ["grep", "nothing"]], time_limit=10)
    assert (failed.exit_code, failed.output) == (1, b"")


async def test_a_pipeline_that_runs_out_of_time_dies_whole(
    spawner: SubprocessSpawner, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = await spawner.run([["sleep", "30"], ["sleep", "30"]], time_limit=0.5)
    assert result.timed_out
    assert time.monotonic() - started < 3

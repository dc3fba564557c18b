"""FATE's task launcher (roles/party_native/files/fate_task_launcher.py) with real processes: a server that forks
the client's script, the client's descriptors, directory, environment and exit status, signals, a killed client,
and every way back to running the script in its own interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "roles" / "party_native" / "files" / "fate_task_launcher.py"
# What the script reports: its pid, its parent's pid, its arguments, directory, one variable and its stdin.
SCRIPT = """\
import os, sys, time
print(os.getpid(), os.getppid(), sys.argv[1:], os.getcwd(), os.environ.get("TASK_VALUE"), sys.stdin.read().strip())
print("to stderr", file=sys.stderr)
sys.stdout.flush()
if sys.argv[1] == "sleep":
    time.sleep(60)
if sys.argv[1] == "nap":
    time.sleep(1.5)
    sys.exit(5)
sys.exit(int(sys.argv[1]) if sys.argv[1].isdigit() else 0)
"""


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "fate_flow" / "manager" / "worker" / "fate_executor.py"
    path.parent.mkdir(parents=True)
    path.write_text(SCRIPT)
    return path


def start_server(tmp_path: Path, *modules: str) -> tuple[subprocess.Popen, Path]:
    socket_path = tmp_path / "tasks.sock"
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "serve", str(socket_path), *modules], stdout=log, stderr=subprocess.STDOUT
    )
    wait_for(socket_path.exists)
    return server, socket_path


@pytest.fixture
def server(tmp_path: Path):
    process, socket_path = start_server(tmp_path, "json")
    yield process, socket_path
    process.terminate()
    process.wait(10)


def launch(script: Path, socket_path: Path | None, *args: str, cwd: Path, **popen) -> subprocess.Popen:
    env = dict(os.environ, TASK_VALUE="from the client")
    env.pop("FATE_TASK_LAUNCHER_SOCKET", None)
    if socket_path is not None:
        env["FATE_TASK_LAUNCHER_SOCKET"] = str(socket_path)
    return subprocess.Popen(
        [sys.executable, "-IS", str(LAUNCHER), str(script), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def report(out: str) -> tuple[int, int, str]:
    pid, ppid, rest = out.split(" ", 2)
    return int(pid), int(ppid), rest


def test_the_server_forks_the_script_with_the_clients_stdio_directory_environment_and_exit_status(
    server, script: Path, tmp_path: Path
) -> None:
    process, socket_path = server
    work = tmp_path / "work"
    work.mkdir()
    client = launch(script, socket_path, "3", "--flag", cwd=work)
    out, err = client.communicate("the input\n", timeout=30)
    assert client.returncode == 3
    _pid, ppid, rest = report(out)
    # Forked by the server, not run by the client's own interpreter.
    assert ppid == process.pid
    assert rest.strip() == f"['3', '--flag'] {work} from the client the input"
    assert err == "to stderr\n"
    assert "forking tasks from here" in (tmp_path / "server.log").read_text()


def test_signals_reach_the_child_and_the_client_ends_the_same_way(server, script: Path, tmp_path: Path) -> None:
    _process, socket_path = server
    client = launch(script, socket_path, "sleep", cwd=tmp_path)
    client.stdin.close()
    child, _ppid, _rest = report(client.stdout.readline())
    client.send_signal(signal.SIGTERM)
    assert client.wait(10) == -signal.SIGTERM
    wait_for(lambda: not Path(f"/proc/{child}").exists())


def test_a_client_killed_outright_takes_its_child_with_it(server, script: Path, tmp_path: Path) -> None:
    _process, socket_path = server
    client = launch(script, socket_path, "sleep", cwd=tmp_path)
    client.stdin.close()
    child, _ppid, _rest = report(client.stdout.readline())
    assert Path(f"/proc/{child}").exists()
    client.kill()
    client.wait(10)
    wait_for(lambda: not Path(f"/proc/{child}").exists())


def test_a_task_outlives_a_restart_of_the_server_and_its_client_still_hears_its_exit_status(
    server, script: Path, tmp_path: Path
) -> None:
    process, socket_path = server
    client = launch(script, socket_path, "nap", cwd=tmp_path)
    client.stdin.close()
    _child, ppid, _rest = report(client.stdout.readline())
    assert ppid == process.pid
    process.terminate()
    process.wait(10)
    assert client.wait(10) == 5


@pytest.mark.parametrize("case", ["no server", "no socket variable", "another script", "imports fail"])
def test_without_a_usable_server_the_script_runs_in_the_clients_own_interpreter(
    case: str, script: Path, tmp_path: Path
) -> None:
    socket_path: Path | None = tmp_path / "absent.sock"
    server = None
    target = script
    if case == "no socket variable":
        socket_path = None
    elif case == "another script":
        server, socket_path = start_server(tmp_path, "json")
        target = tmp_path / "other.py"
        target.write_text(SCRIPT)
    elif case == "imports fail":
        server, socket_path = start_server(tmp_path, "json", "no_such_module_here")
    try:
        client = launch(target, socket_path, "4", cwd=tmp_path)
        out, err = client.communicate("x\n", timeout=30)
        assert client.returncode == 4, err
        pid, _ppid, rest = report(out)
        # exec: the script runs as the client's own process.
        assert pid == client.pid
        assert rest.strip() == f"['4'] {tmp_path} from the client x"
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    if case == "imports fail":
        assert "importing no_such_module_here failed" in (tmp_path / "server.log").read_text()


def test_the_socket_is_the_owners_alone(server) -> None:
    _process, socket_path = server
    # Neither group nor others may connect.
    assert socket_path.stat().st_mode & 0o077 == 0

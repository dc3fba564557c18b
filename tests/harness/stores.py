"""Private MariaDB, Redis and S3 (moto) servers for the model registry's tests.

Each runs from its Debian package (or moto from the controller venv) on loopback, on a free port, with its data
under a directory of the test's own, and is stopped afterwards. Nothing system-wide is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it listened on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:g} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Server:
    port: int
    options: dict[str, object] = field(default_factory=dict)


@contextlib.contextmanager
def mariadb(directory: Path, password: str) -> Iterator[Server]:
    """A MariaDB with database ``models`` and user ``fate`` (password given) allowed from 127.0.0.1."""
    if not shutil.which("mariadbd", path="/usr/sbin:/usr/bin") or not shutil.which("mariadb-install-db"):
        raise RuntimeError("MariaDB is not installed; run `make system` (Debian package mariadb-server)")
    data = directory / "data"
    socket_path = directory / "mariadb.sock"
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=socket",
         "--skip-test-db", *user],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    log = (directory / "mariadb.log").open("w")
    process = subprocess.Popen(
        [shutil.which("mariadbd", path="/usr/sbin:/usr/bin"), "--no-defaults", f"--datadir={data}",
         f"--socket={socket_path}", f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={directory}/pid",
         "--skip-log-bin", "--innodb-buffer-pool-size=32M", *user],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_port(port, process, "mariadbd")
        sql = (
            "CREATE DATABASE models; "
            f"CREATE USER 'fate'@'127.0.0.1' IDENTIFIED BY '{password}'; "
            "GRANT ALL ON models.* TO 'fate'@'127.0.0.1';"
        )
        subprocess.run(["mariadb", f"--socket={socket_path}", "-uroot", "-e", sql], check=True, capture_output=True)
        yield Server(port, {"host": "127.0.0.1", "port": port, "user": "fate", "database": "models"})
    finally:
        _stop(process)
        log.close()


def mariadb_sql(directory: Path, sql: str) -> str:
    return subprocess.run(
        ["mariadb", f"--socket={directory / 'mariadb.sock'}", "-uroot", "-N", "-e", sql],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@contextlib.contextmanager
def redis(directory: Path, password: str) -> Iterator[Server]:
    if not shutil.which("redis-server"):
        raise RuntimeError("Redis is not installed; run `make system` (Debian package redis-server)")
    port = free_port()
    log = (directory / "redis.log").open("w")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--requirepass", password, "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_port(port, process, "redis-server")
        yield Server(port, {"host": "127.0.0.1", "port": port})
    finally:
        _stop(process)
        log.close()


@contextlib.contextmanager
def s3(directory: Path) -> Iterator[Server]:
    """moto's S3 in server mode; any access key is accepted, so the test's keys are made up."""
    port = free_port()
    log = (directory / "moto.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_port(port, process, "moto server")
        yield Server(port, {"endpoint_url": f"http://127.0.0.1:{port}", "region": "us-east-1"})
    finally:
        _stop(process)
        log.close()

"""The facade against hosts that are machines of their own: bare containers (tests/harness/container_hosts.py)
with their own filesystem, processes and a random root password, reached as an operator reaches a new host:
`-u root -pw <password>` once, with default settings (the workspace aside) and no key authorized beforehand.

What a bare host gets today: the password is used once, the workspace's key is installed and the host key
recorded, and the deploy then stops in its first play, before any host changes, naming what the host lacks
(python3-venv, to build the FATE runtime) and the fix. A host whose key changed, and a host cut off the network,
are refused naming the host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fateops.ssh_keys import ssh_paths
from fateops.workspace import Workspace
from tests.harness.container_hosts import ContainerHarness, ContainerHarnessConfig, ContainerHarnessError, down, up

from .conftest import TEST_CACHE, Facade, docker_engine, files_containing, short_workspace

pytestmark = pytest.mark.integration


class HostFacade(Facade):
    """The facade as an operator runs it: only the workspace is the test's; the base dir is the default
    (/data/projects/fate), on hosts that are not this machine."""

    def env(self) -> dict[str, str]:
        env = super().env()
        del env["FATEOPS_BASE_DIR"]
        return env


@pytest.fixture(scope="module")
def harness() -> Iterator[ContainerHarness]:
    config = ContainerHarnessConfig(count=2, cache_dir=TEST_CACHE / "images", docker_host=docker_engine())
    try:
        hosts = up(config)
    except ContainerHarnessError as exc:
        pytest.fail(f"container test hosts: {exc}", False)
    try:
        yield hosts
    finally:
        down(config)


def _ssh_with_key(workspace: Path, ip: str, command: str) -> subprocess.CompletedProcess[str]:
    paths = ssh_paths(Workspace(workspace))
    argv = ["ssh", "-i", str(paths.private_key), "-o", f"UserKnownHostsFile={paths.known_hosts}"]
    argv += ["-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    argv += ["-o", "ConnectTimeout=10", f"root@{ip}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("fateops deploy: error:")]


def test_a_bare_host_takes_the_root_password_once_then_stops_before_changing_anything(
    harness: ContainerHarness, tmp_path_factory: pytest.TempPathFactory
) -> None:
    facade = HostFacade(short_workspace(tmp_path_factory))
    first, second = harness.hosts
    result = facade(
        "-f", "deploy", "-id", "9999", "10000", "-ip", first.ip, second.ip, "-u", "root",
        "-pw", first.password, second.password, timeout=300,
    )  # fmt: skip
    assert (result.rc, result.out) == (1, "deploy failure.\n"), result.err[-3000:]
    errors = _error_lines(result.err)
    assert len(errors) == 1, result.err[-3000:]
    # The first play's check names a host, what it lacks and how to get it: a bare host's python3 cannot make
    # the FATE runtime's venv.
    assert any(f"error: {host.ip}: " in errors[0] for host in harness.hosts), errors[0]
    assert "the FATE runtime is not built on this host yet and 'python3' cannot build it" in errors[0], errors[0]
    assert errors[0].endswith("install python3-venv there (apt-get install python3-venv) and deploy again")

    for host in harness.hosts:
        # The key works without the password, against the host key the bootstrap recorded.
        done = _ssh_with_key(facade.home, host.ip, "hostname")
        assert (done.returncode, done.stdout.strip()) == (0, host.name), done.stderr
        # Nothing of a party was made on the host.
        assert harness.exec(host, ["test", "-e", "/data/projects/fate"]).returncode == 1
    known = ssh_paths(Workspace(facade.home)).known_hosts.read_text().splitlines()
    assert sorted(line.split()[0] for line in known) == sorted(host.ip for host in harness.hosts)
    # The passwords reached no file of the workspace (settings, state, keys, runner artifacts, logs).
    for host in harness.hosts:
        assert files_containing(facade.home, host.password) == []
    # Nothing was deployed, so nothing is recorded.
    assert facade.state() == {}

    # Again without passwords: the key is enough to reach both hosts, and the same check stops the same way.
    again = facade("-f", "deploy", "-id", "9999", "10000", "-ip", first.ip, second.ip, timeout=300)
    assert (again.rc, again.out) == (1, "deploy failure.\n"), again.err[-3000:]
    # (whichever host's check ends first is the one named)
    (line,) = _error_lines(again.err)
    assert line.split(": ", 3)[3] == errors[0].split(": ", 3)[3], line


def test_a_host_cut_off_the_network_is_named(
    harness: ContainerHarness, tmp_path_factory: pytest.TempPathFactory
) -> None:
    facade = HostFacade(short_workspace(tmp_path_factory))
    host = harness.hosts[1]
    harness.cut_off(host)
    try:
        result = facade("-f", "deploy", "-id", "10000", "-ip", host.ip, "-pw", host.password, timeout=120)
    finally:
        harness.reconnect(host)
    assert (result.rc, result.out) == (1, "deploy failure.\n"), result.err[-3000:]
    # One line naming the host and what to check, before anything was sent.
    (line,) = _error_lines(result.err)
    assert f"host {host.ip} is unreachable" in line and "check the address" in line, line
    assert files_containing(facade.home, host.password) == []


def test_a_reinstalled_host_is_refused_naming_the_fix(
    harness: ContainerHarness, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The host's container is made again at the same address: a new host key, as a reinstalled machine has."""
    facade = HostFacade(short_workspace(tmp_path_factory))
    host = harness.hosts[0]
    first = facade("-f", "deploy", "-id", "9999", "-ip", host.ip, "-pw", host.password, timeout=300)
    # A standalone party on a bare host: refused in the first play as well, with nothing made there.
    assert first.out == "deploy failure.\n"
    assert "install python3-venv there" in first.err, first.err[-2000:]
    assert harness.exec(host, ["test", "-e", "/data/projects/fate"]).returncode == 1
    known_hosts = ssh_paths(Workspace(facade.home)).known_hosts
    recorded = known_hosts.read_bytes()

    harness.reinstall(host)
    result = facade("-f", "deploy", "-id", "9999", "-ip", host.ip, "-pw", host.password, timeout=120)
    assert (result.rc, result.out) == (1, "deploy failure.\n"), result.err[-3000:]
    assert f"host key of {host.ip} has changed" in result.err, result.err[-2000:]
    assert f"ssh-keygen -R '{host.ip}'" in result.err
    assert known_hosts.read_bytes() == recorded

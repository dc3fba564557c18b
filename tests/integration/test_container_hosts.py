"""The facade against hosts that are machines of their own: bare containers (tests/harness/container_hosts.py)
with their own filesystem, processes and a random root password, reached as an operator reaches a new host:
`-u root -pw <password>` once, with default settings (the workspace aside) and no key authorized beforehand.

The deploys, trainings and faults of parties on such hosts are test_multihost.py's; here: a host whose key
changed, and a host cut off the network, are refused naming the host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fateops.ssh_keys import ssh_paths
from fateops.workspace import Workspace
from tests.harness.container_hosts import ContainerHarness, ContainerHarnessConfig

from .conftest import HostFacade, container_hosts, files_containing, short_workspace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def harness() -> Iterator[ContainerHarness]:
    yield from container_hosts(ContainerHarnessConfig(count=2, prefix="foc", subnet="10.77.5.0/24"))


def _ssh_with_key(workspace: Path, ip: str, command: str) -> subprocess.CompletedProcess[str]:
    paths = ssh_paths(Workspace(workspace))
    argv = ["ssh", "-i", str(paths.private_key), "-o", f"UserKnownHostsFile={paths.known_hosts}"]
    argv += ["-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    argv += ["-o", "ConnectTimeout=10", f"root@{ip}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _error_lines(err: str, function: str = "deploy") -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"fateops {function}: error:")]


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
    # A delete of what was never deployed changes nothing, but logs in with the password once and records the key.
    first = facade("-f", "delete", "-id", "9999", "-ip", host.ip, "-pw", host.password, timeout=300)
    assert (first.rc, first.out) == (0, "delete success.\n"), first.err[-3000:]
    known_hosts = ssh_paths(Workspace(facade.home)).known_hosts
    recorded = known_hosts.read_bytes()

    harness.reinstall(host)
    result = facade("-f", "deploy", "-id", "9999", "-ip", host.ip, "-pw", host.password, timeout=120)
    assert (result.rc, result.out) == (1, "deploy failure.\n"), result.err[-3000:]
    assert f"host key of {host.ip} has changed" in result.err, result.err[-2000:]
    assert f"ssh-keygen -R '{host.ip}'" in result.err
    assert known_hosts.read_bytes() == recorded

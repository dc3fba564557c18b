"""The facade against hosts that are machines of their own: bare containers (tests/harness/container_hosts.py)
with their own filesystem, processes and a random root password, reached as an operator reaches a new host:
`-u root -pw <password>` once, with default settings (the workspace aside) and no key authorized beforehand.

Bare hosts have no route beyond their network, so no package index: the deploy gives them what they lack from the
offline bundle the controller builds (Debian packages, the FATE runtime's wheels), and two of them then train,
serve and delete as parties on separate machines do. A host whose key changed, and a host cut off the network,
are refused naming the host."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from fateops.ssh_keys import ssh_paths
from fateops.workspace import Workspace
from tests.harness.container_hosts import (
    ContainerHarness,
    ContainerHarnessConfig,
    ContainerHarnessError,
    ContainerHost,
    down,
    up,
)

from .conftest import (
    TEST_CACHE,
    Facade,
    docker_engine,
    files_containing,
    guest_row,
    predict,
    short_workspace,
    train_and_serve,
)

# What the offline bundle installs on a bare host for a party federated through its broker.
BUNDLED = ["python3-venv", "rabbitmq-server", "nginx", "libnginx-mod-stream"]


def flow_client(host: ContainerHost, port: int = 9380) -> FateFlowClient:
    return FateFlowClient(host=host.ip, port=port, timeout=30)


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


def _error_lines(err: str, function: str = "deploy") -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"fateops {function}: error:")]


def _put(harness: ContainerHarness, host: ContainerHost, local: Path) -> None:
    """A data file onto host, at the same path (the operator's own copy step: upload reads files on the hosts)."""
    assert harness.exec(host, ["mkdir", "-p", str(local.parent)]).returncode == 0
    harness.copy_to(host, local, local)


def test_bare_hosts_by_root_password_deploy_train_serve_and_delete(
    harness: ContainerHarness, tmp_path_factory: pytest.TempPathFactory, datasets: dict
) -> None:
    """Two bare hosts, no package index, root by password once: the offline bundle gives them the broker, nginx,
    python3-venv and the FATE runtime; then upload, train, serve, a host cut off and back, and delete."""
    facade = HostFacade(short_workspace(tmp_path_factory))
    first, second = harness.hosts
    result = facade(
        "-f", "deploy", "-id", "9999", "10000", "-ip", first.ip, second.ip, "-u", "root",
        "-pw", first.password, second.password, timeout=900,
    )  # fmt: skip
    assert (result.rc, result.out) == (0, "deploy success.\n"), result.err[-3000:]
    assert f"installed the workspace ssh key on {first.ip}, {second.ip}" in result.err
    for host in harness.hosts:
        # The key works without the password, against the host key the bootstrap recorded.
        done = _ssh_with_key(facade.home, host.ip, "hostname")
        assert (done.returncode, done.stdout.strip()) == (0, host.name), done.stderr
        # The packages came from the bundle (the hosts reach no index); what was shipped is gone again.
        listed = harness.exec(host, ["dpkg-query", "-W", "-f", "${Status}\n", *BUNDLED]).stdout.splitlines()
        assert listed == ["install ok installed"] * len(BUNDLED), listed
        assert harness.exec(host, ["test", "-e", "/data/projects/fate/.bundle/debian"]).returncode == 1
        assert harness.exec(host, ["test", "-e", "/data/projects/fate/.bundle/wheels"]).returncode == 1
        # No package's own service was started by the install: the party's broker and nginx are its own.
        assert harness.exec(host, ["test", "-e", "/usr/sbin/policy-rc.d"]).returncode == 1
    assert flow_client(first).server_info()
    known = ssh_paths(Workspace(facade.home)).known_hosts.read_text().splitlines()
    assert sorted(line.split()[0] for line in known) == sorted(host.ip for host in harness.hosts)

    again = facade("-f", "deploy", "-id", "9999", "10000", "-ip", first.ip, second.ip, timeout=300)
    assert (again.rc, again.out) == (0, "deploy success.\n"), again.err[-3000:]
    assert "no change" in again.err.splitlines()[-1], again.err[-2000:]

    data = datasets["breast"]
    # A file that is on the controller but not on the party's host is refused naming the host, before any upload.
    missing = facade("-f", "upload", "-gp", "9999", str(data["guest"]), "-hp", "10000", str(data["hosts"][0]),
                     "-proj", "bare")  # fmt: skip
    assert (missing.rc, missing.out) == (1, "upload failure.\n"), missing.err[-2000:]
    (line,) = _error_lines(missing.err, "upload")
    assert first.ip in line and str(data["guest"]) in line, line
    _put(harness, first, data["guest"])
    _put(harness, second, data["hosts"][0])
    job = train_and_serve(facade, flow_client(first), data, 9999, [10000], "bare", short=True)

    # The host cut off: the guest's answer is the remote error, within the serving timeout; back, it serves again
    # with the binding it had.
    row = guest_row(data["guest"], 0)
    harness.cut_off(second)
    try:
        started = time.monotonic()
        rc, answer = predict(facade, "bare", "id=0", *row)
        elapsed = time.monotonic() - started
    finally:
        harness.reconnect(second)
    assert rc != 0 and answer["retcode"] == 105 and answer["prob"] is None, answer
    assert elapsed < 15, elapsed
    deadline = time.monotonic() + 30
    while predict(facade, "bare", "id=0", *row)[0] != 0:
        assert time.monotonic() < deadline, "the host came back but the guest's service does not answer"
        time.sleep(1)

    # The passwords reached no file of the workspace (settings, state, keys, runner artifacts, logs).
    for host in harness.hosts:
        assert files_containing(facade.home, host.password) == []
    gone = facade("-f", "delete", "-id", "9999", "10000", "-ip", first.ip, second.ip, timeout=300)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err[-2000:]
    for host in harness.hosts:
        assert "fate_flow" not in harness.exec(host, ["ps", "-eo", "args"]).stdout
    assert job["jobid"]


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
    first = facade("-f", "deploy", "-id", "9999", "-ip", host.ip, "-pw", host.password, timeout=900)
    assert (first.rc, first.out) == (0, "deploy success.\n"), first.err[-3000:]
    known_hosts = ssh_paths(Workspace(facade.home)).known_hosts
    recorded = known_hosts.read_bytes()

    harness.reinstall(host)
    result = facade("-f", "deploy", "-id", "9999", "-ip", host.ip, "-pw", host.password, timeout=120)
    assert (result.rc, result.out) == (1, "deploy failure.\n"), result.err[-3000:]
    assert f"host key of {host.ip} has changed" in result.err, result.err[-2000:]
    assert f"ssh-keygen -R '{host.ip}'" in result.err
    assert known_hosts.read_bytes() == recorded

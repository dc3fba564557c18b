"""Bootstrap against real sshd on netns test hosts: password once, then the key; Ansible over ssh with the key."""

from __future__ import annotations

import io
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

from fateops import ROOT
from fateops.bootstrap import SshLogin, bootstrap_host, bootstrap_hosts, connection_vars
from fateops.errors import FateopsError
from fateops.runner import Progress, host_key_explainer
from fateops.ssh_keys import ensure_key_pair, ssh_paths
from fateops.workspace import Workspace
from tests.harness.fixtures import netns_harness  # noqa: F401  (a session fixture, shared with other modules)
from tests.harness.netns_hosts import Harness, HarnessConfig, TestHost, down, up

from .conftest import files_containing

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _ssh(workspace: Workspace, host: TestHost, user: str, command: str) -> subprocess.CompletedProcess[str]:
    paths = ssh_paths(workspace)
    argv = ["ssh", "-i", str(paths.private_key), "-p", str(host.ssh_port)]
    argv += ["-o", f"UserKnownHostsFile={paths.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    # BatchMode: never fall back to asking for a password; ConnectTimeout: bounded.
    argv += ["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    return subprocess.run([*argv, f"{user}@{host.ip}", command], capture_output=True, text=True, timeout=30)


def _ping(workspace: Workspace, hosts: list[TestHost], event_handler: Callable[[dict], bool] | None = None) -> Any:
    """Ansible's ping module on the hosts, with nothing but the generated connection variables."""
    inventory = {"all": {"hosts": {h.name: connection_vars(workspace, h.ip, h.ssh_port, h.user) for h in hosts}}}
    run_dir = workspace.new_run_dir("ping")
    # A control socket of our own (short path: sun_path has 108 bytes): no ssh master shared with other tests.
    control_dir = Path(tempfile.mkdtemp(prefix="fo-cp-"))
    (run_dir / "inventory").mkdir()
    (run_dir / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    try:
        return ansible_runner.run(
            private_data_dir=str(run_dir),
            host_pattern="all",
            module="ansible.builtin.ping",
            quiet=True,
            event_handler=event_handler,
            envvars={
                "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
                "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            },
        )
    finally:
        shutil.rmtree(control_dir, ignore_errors=True)


@pytest.fixture
def two_hosts(netns_harness: Harness) -> list[TestHost]:  # noqa: F811
    return netns_harness.hosts[:2]


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything any logger emits at DEBUG, so that a test can look for the password in it."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


def test_password_once_then_key(tmp_path: Path, two_hosts: list[TestHost], all_logs: pytest.LogCaptureFixture):
    workspace = Workspace(tmp_path / "ws")
    password = two_hosts[0].password

    first = bootstrap_hosts(workspace, [SshLogin(h.ip, h.ssh_port, h.user, h.password) for h in two_hosts])
    assert [(r.used_password, r.key_installed, r.host_key_recorded) for r in first] == [(True, True, True)] * 2

    key = ensure_key_pair(workspace).public
    for host in two_hosts:
        done = _ssh(workspace, host, host.user, "hostname")
        assert (done.returncode, done.stdout.strip()) == (0, host.name), done.stderr
        ssh_dir = host.home_dir / ".ssh"
        assert (ssh_dir.stat().st_mode & 0o777, (ssh_dir / "authorized_keys").stat().st_mode & 0o777) == (0o700, 0o600)

    # Again, with a wrong password: the key works, so the password is not even tried.
    for host in two_hosts:
        again = bootstrap_host(workspace, host.ip, host.ssh_port, host.user, "wrong-password")
        assert (again.used_password, again.key_installed, again.host_key_recorded) == (False, False, False)
        assert (host.home_dir / ".ssh" / "authorized_keys").read_text().count(key.blob) == 1
    known = ssh_paths(workspace).known_hosts.read_text().splitlines()
    assert sorted(line.split()[0] for line in known) == sorted(h.ip for h in two_hosts)

    # Ansible, with nothing but the generated connection variables.
    runner = _ping(workspace, two_hosts)
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()
    assert sorted(runner.stats["ok"]) == sorted(h.name for h in two_hosts)

    # The password reached no file of the workspace (keys, known_hosts, runner artifacts) and no log record.
    assert files_containing(workspace.home, password) == []
    assert password not in all_logs.text


def test_changed_host_key_is_refused(tmp_path: Path, netns_harness: Harness):  # noqa: F811
    host = netns_harness.hosts[1]
    workspace = Workspace(tmp_path / "ws")
    bootstrap_host(workspace, host.ip, host.ssh_port, host.user, host.password)
    known_hosts = ssh_paths(workspace).known_hosts
    before = known_hosts.read_bytes()

    netns_harness.restart_sshd(host, new_host_key=True)
    with pytest.raises(FateopsError) as caught:
        bootstrap_host(workspace, host.ip, host.ssh_port, host.user, host.password)
    message = str(caught.value)
    assert "\n" not in message
    assert f"host key of {host.ip} has changed" in message
    assert f"ssh-keygen -R '{host.ip}' -f {known_hosts}" in message
    assert known_hosts.read_bytes() == before
    # OpenSSH, as Ansible runs it, refuses the same way, and the run's failure says the same as the bootstrap.
    assert _ssh(workspace, host, host.user, "true").returncode == 255
    inventory = {"all": {"hosts": {host.name: connection_vars(workspace, host.ip, host.ssh_port, host.user)}}}
    progress = Progress("ping", io.StringIO(), explain=host_key_explainer(inventory, known_hosts))
    assert _ping(workspace, [host], progress).rc != 0
    assert len(progress.failures) == 1 and "\n" not in progress.failures[0], progress.failures
    assert f"host key of {host.ip} has changed" in progress.failures[0]
    assert f"ssh-keygen -R '{host.ip}' -f {known_hosts}" in progress.failures[0]
    # A host whose key is not recorded at all is told apart from it.
    known_hosts.write_text("")
    progress = Progress("ping", io.StringIO(), explain=host_key_explainer(inventory, known_hosts))
    assert _ping(workspace, [host], progress).rc != 0
    assert f"host key of {host.ip} is not recorded in {known_hosts}" in progress.failures[0], progress.failures
    known_hosts.write_bytes(before)

    # After the documented fix, the new key is recorded and the key login goes on working.
    subprocess.run(["ssh-keygen", "-R", host.ip, "-f", str(known_hosts)], capture_output=True, check=True)
    fixed = bootstrap_host(workspace, host.ip, host.ssh_port, host.user, None)
    assert (fixed.used_password, fixed.host_key_recorded) == (False, True)
    assert _ssh(workspace, host, host.user, "true").returncode == 0


def test_wrong_password_on_a_fresh_workspace(tmp_path: Path, two_hosts: list[TestHost]):
    host = two_hosts[0]
    workspace = Workspace(tmp_path / "fresh")
    with pytest.raises(FateopsError) as caught:
        bootstrap_host(workspace, host.ip, host.ssh_port, host.user, "not-" + host.password)
    assert str(caught.value) == f"authentication failed for {host.user}@{host.ip}; check the -pw value"
    assert not ssh_paths(workspace).known_hosts.exists()
    assert files_containing(workspace.home, host.password) == []


def test_root_with_a_key_only(tmp_path: Path, netns_harness: Harness):  # noqa: F811
    host = netns_harness.hosts[0]
    workspace = Workspace(tmp_path / "ws")
    netns_harness.authorize_root_key(host, ensure_key_pair(workspace).public.line)
    result = bootstrap_host(workspace, host.ip, host.ssh_port, "root", None)
    assert (result.used_password, result.host_key_recorded) == (False, True)
    done = _ssh(workspace, host, "root", "id -u; hostname")
    assert (done.returncode, done.stdout.split()) == (0, ["0", host.name]), done.stderr


def test_unreachable_and_silent_hosts_fail_in_bounded_time(tmp_path: Path, netns_harness: Harness):  # noqa: F811
    workspace = Workspace(tmp_path / "ws")
    host = netns_harness.hosts[0]
    with pytest.raises(FateopsError, match=rf"host {host.ip} refused the connection on ssh port 2222"):
        bootstrap_host(workspace, host.ip, 2222, host.user, host.password, timeout=2)

    # A port that accepts but never speaks ssh, on the bridge address the harness made.
    with socket.create_server((netns_harness.bridge_ip, 0)) as silent:
        port = silent.getsockname()[1]
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
        with pytest.raises(FateopsError, match=rf"host {netns_harness.bridge_ip}: no ssh handshake on port {port}"):
            bootstrap_host(workspace, netns_harness.bridge_ip, port, "root", "pw", timeout=1)
        for conn in accepted:
            conn.close()


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    # An exited daemon waits as a zombie until init reaps it.
    return state == "Z"


def test_harness_removes_everything_also_after_a_crash():
    """A run that died without `down` (state lost too): the next `down` finds its pieces by prefix."""
    config = HarnessConfig(count=1, prefix="fox", subnet="10.77.2.0/29", user="fateops-foxtest")
    harness = up(config)
    host = harness.hosts[0]
    sshd_pid = harness.sshd_pid(host)
    assert sshd_pid is not None
    assert harness.exec(host, ["hostname"]).stdout.strip() == "fox-h1"
    shutil.rmtree(config.state)

    down(config)
    down(config)
    assert _gone(sshd_pid)
    assert "fox-h1" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert "fox-" not in links
    assert "fateops-foxtest" not in Path("/etc/passwd").read_text()
    assert not Path("/home/fateops-foxtest").exists()


def test_host_recorded_with_another_key_type_is_refused(tmp_path: Path, netns_harness: Harness):  # noqa: F811
    """known_hosts has only an ECDSA key for the host, which now offers only ed25519: changed, as for OpenSSH."""
    host = netns_harness.hosts[0]
    workspace = Workspace(tmp_path / "ws")
    known_hosts = ssh_paths(workspace).known_hosts
    ensure_key_pair(workspace)
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "ecdsa")], check=True)
    key_type, blob = (tmp_path / "ecdsa.pub").read_text().split()[:2]
    known_hosts.write_text(f"{host.ip} {key_type} {blob}\n")
    with pytest.raises(FateopsError, match=rf"host key of {host.ip} has changed"):
        bootstrap_host(workspace, host.ip, host.ssh_port, host.user, host.password)
